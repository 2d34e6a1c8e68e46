//! Assertions for tests on a session: `expect_absent` (output that must not appear
//! within a time) and its error. Deadlines are far above what the programs need; the
//! successful absences watch programs that provably print nothing more (they wait for
//! input, or have ended).

mod common;

use std::time::{Duration, Instant};

use common::{LONG, sh, spawn};
use ptychat::{Command, Error, Pattern};

type Result = std::result::Result<(), Error>;

#[test]
fn absent_output_passes_and_leaves_the_buffer_alone() -> Result {
    // cat echoes what it is sent, then waits for more: "error" can never come.
    let mut cat = spawn(&mut Command::new("cat"));
    cat.send_line("all good")?;
    cat.expect("all good\r\n")?; // the terminal's echo
    cat.expect_absent(["error", "warning"], Some(Duration::from_millis(200)))?;
    cat.expect_absent_deadline("error", Instant::now() + Duration::from_millis(50))?;
    cat.expect("all good\r\n")?; // cat's copy, still buffered
    cat.send_eof()?;
    cat.expect_exit(0)?;

    // The output ends without the text: no need to wait for the deadline.
    let mut echo = sh("echo fine");
    echo.expect_absent("error", None)?;
    echo.expect("fine")?;
    Ok(())
}

#[test]
fn present_output_fails_with_the_match_and_the_tail() -> Result {
    let mut s = sh("echo ready; echo 'error: disk full'; exec sleep 30");
    let patterns = [
        Pattern::exact("warning"),
        Pattern::regex("error: (disk|net)")?,
    ];
    let err = s.expect_absent(&patterns, Some(LONG));
    let err = err.unwrap_err();
    assert!(matches!(err, Error::Unexpected { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("/error: (disk|net)/ showed up in the output "),
        "{text}"
    );
    assert!(
        text.ends_with(
            "(it must not within 30s): \"error: disk\"; the output before it ended with: \
             \"ready\\r\\n\""
        ),
        "{text}"
    );
    let mut s = sh("echo 'error: net down'");
    let err = s.expect_absent("error: net", None).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("\"error: net\" showed up in the output ")
            && text.ends_with(
                "(it must not before the output ends): \"error: net\"; the output \
                 before it ended with: \"\""
            ),
        "{text}"
    );
    let err = s.expect_absent(&[] as &[Pattern], None).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    Ok(())
}

#[cfg(feature = "screen")]
#[test]
fn with_a_screen_the_failure_shows_it() -> Result {
    let size = ptychat::PtyConfig {
        rows: 4,
        cols: 20,
        ..Default::default()
    };
    let mut s = spawn(
        Command::shell("printf 'top\\n\\033[3;4Hoops: it broke'; exec sleep 30").pty_config(size),
    );
    s.enable_screen()?;
    let text = s.expect_absent("oops", Some(LONG)).unwrap_err().to_string();
    // The screen shows what was read by the time of the match: "oops" at least.
    let (message, screen) = text.split_once('\n').unwrap();
    assert!(
        message.ends_with("the output before it ended with: \"top\\r\\n\\e[3;4H\""),
        "{text}"
    );
    assert!(
        screen.starts_with("screen 4x20, cursor at row 2, column ")
            && screen.contains("\n     0|top\n     1|\n  >  2|   oops"),
        "{text}"
    );
    Ok(())
}

/// The example of docs/TESTING.md: a test of the crate's own binary, by hand.
#[cfg(feature = "cli")]
#[test]
fn chat_answers_and_exits_with_the_programs_code() -> Result {
    let mut s = Command::new(env!("CARGO_BIN_EXE_ptychat"))
        .args(["chat", "-v", "--", "name? ", "world", "--"])
        .args([
            "sh",
            "-c",
            "printf 'name? '; read n; echo \"hello $n\"; exit 3",
        ])
        .timeout(Some(Duration::from_secs(30)))
        .spawn()?;
    s.expect("hello world")?; // the output contains this, within the timeout
    s.expect_absent("error", None)?; // ... and not this, up to its end
    s.expect_exit(3)?; // ptychat chat exits with the program's code
    Ok(())
}

#[cfg(feature = "screen")]
#[test]
fn with_a_screen_a_wrong_exit_shows_it() -> Result {
    let mut s = spawn(Command::shell("printf 'saving...\\nfailed'; exit 3").window_size(3, 12));
    s.enable_screen()?;
    let text = s.expect_exit(0).unwrap_err().to_string();
    assert!(
        text.ends_with(
            "ending with: \"saving...\\r\\nfailed\"\n\
             screen 3x12, cursor at row 1, column 6 (marked ^):\n     \
             0|saving...\n  >  1|failed\n      |      ^\n     2|\n"
        ),
        "{text}"
    );
    Ok(())
}
