//! `ptychat expect`'s `interact` with patterns: the `ptychat` binary runs a Tcl Expect
//! script on a real terminal (a pty driven by the library, playing the user who types),
//! or with its standard input on a pipe. Every wait is an `expect` on what is printed.
#![cfg(feature = "cli")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

use common::{LONG, spawn};
use ptychat::{Command, ExitStatus, PtySession};

const BIN: &str = env!("CARGO_BIN_EXE_ptychat");

fn temp(name: &str) -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("tcl-interact-{}-{n}-{name}", std::process::id()))
}

/// `ptychat expect SCRIPT` on a terminal of its own: the returned session is its user.
fn user_of(script: &str) -> PtySession {
    let path = temp("script.exp");
    std::fs::write(&path, script).unwrap();
    // No echo by the user's terminal: what the test sees is what the script shows.
    spawn(
        Command::new(BIN)
            .args(["expect", path.to_str().unwrap()])
            .echo(false),
    )
}

/// Waits for `text` in what the script printed; returns what came before it.
fn see(user: &mut PtySession, text: &str) -> String {
    let m = user
        .expect(text)
        .unwrap_or_else(|e| panic!("waiting for {text:?}: {e}"));
    m.before_str().into_owned()
}

fn exits_with(user: &mut PtySession, code: i32) -> String {
    let rest = common::read_to_eof(user);
    let status = user.wait_timeout(Some(LONG)).unwrap();
    assert_eq!(status, Some(ExitStatus::Exited(code)));
    String::from_utf8_lossy(&rest).into_owned()
}

#[test]
fn a_typed_string_runs_its_action_and_is_not_sent() {
    let mut user = user_of(concat!(
        "log_user 0\n",
        "spawn cat\n",
        "interact \"~~\" {send_user {[ACTION]}} ~q return\n",
        "send_user {[AFTER]}\n",
        "send \"\\x04\"\n",
        "expect eof\n",
        "send_user {[DONE]}\n",
    ));
    user.send("ab~~").unwrap();
    let before = see(&mut user, "[ACTION]");
    user.send("cd\r").unwrap();
    // cat's own line: "~~" never reached it.
    let line = see(&mut user, "abcd\r\n");
    user.send("~q").unwrap();
    let after = see(&mut user, "[AFTER]");
    see(&mut user, "[DONE]");
    exits_with(&mut user, 0);
    for text in [before, line, after] {
        assert!(!text.contains('~'), "{text:?}");
    }
}

#[test]
fn echo_shows_a_pattern_as_it_is_typed() {
    let mut user = user_of(concat!(
        "log_user 0\n",
        "spawn cat\n",
        "interact -echo \"~~\" {send_user {[ACTION]}} -ex -q return\n",
        "send_user {[AFTER]}\n",
    ));
    user.send("~").unwrap();
    see(&mut user, "~");
    user.send("~").unwrap();
    see(&mut user, "~[ACTION]");
    user.send("-q").unwrap();
    see(&mut user, "[AFTER]");
    exits_with(&mut user, 0);
}

#[test]
fn output_patterns_interact_out_and_the_eof_action() {
    let mut user = user_of(concat!(
        "log_user 0\n",
        "spawn sh -c {echo a secret b; read x; echo \"<$x>\"}\n",
        "interact -o -re {<(.*)>} {send_user \"\\[OUT $interact_out(1,string)\\]\"} ",
        "secret {send_user {[HIDDEN]}} eof {send_user {[EOF]}}\n",
        "send_user {[AFTER]}\n",
    ));
    // What an output pattern matches is not shown (as in Expect).
    see(&mut user, "a  b\r\n[HIDDEN]");
    user.send("hi\r").unwrap();
    let before = see(&mut user, "[OUT hi]");
    assert!(!before.contains("<hi>"), "{before:?}");
    let rest = exits_with(&mut user, 0);
    assert_eq!(rest, "[EOF][AFTER]");
}

#[test]
fn inter_return_makes_the_caller_return() {
    let mut user = user_of(concat!(
        "log_user 0\n",
        "proc f {} {\n",
        "    interact \"~~\" inter_return\n",
        "    send_user {[NOT HERE]}\n",
        "}\n",
        "spawn cat\n",
        "f\n",
        "send_user {[RETURNED]}\n",
    ));
    user.send("x~~").unwrap();
    let before = see(&mut user, "[RETURNED]");
    exits_with(&mut user, 0);
    assert!(!before.contains("NOT HERE"), "{before:?}");
}

#[test]
fn an_action_sends_to_the_program_and_break_leaves_a_loop() {
    let mut user = user_of(concat!(
        "log_user 0\n",
        "spawn cat\n",
        "while 1 {\n",
        "    interact \"~s\" {send \"sent by the action\\r\"} \"~b\" break\n",
        "    send_user {[NOT HERE]}\n",
        "}\n",
        "send_user {[OUT OF THE LOOP]}\n",
    ));
    user.send("~s").unwrap();
    see(&mut user, "sent by the action\r\n");
    user.send("~b").unwrap();
    let before = see(&mut user, "[OUT OF THE LOOP]");
    exits_with(&mut user, 0);
    assert!(!before.contains("NOT HERE"), "{before:?}");
}

#[test]
fn piped_input_matches_and_its_end_returns() {
    let out = temp("cat.out");
    let path = temp("script.exp");
    std::fs::write(
        &path,
        format!(
            concat!(
                "log_user 0\n",
                "spawn sh -c {{cat > {}}}\n",
                "interact \"~~\" {{send_user {{[ACTION]}}}}\n",
                "expect eof\n",
                "send_user {{[DONE]}}\n",
            ),
            out.display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(BIN)
        .args(["expect", path.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"abc~~def\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // interact shows the program's terminal echo, whatever log_user says (as Expect).
    assert!(stdout.contains("[ACTION]"), "{stdout:?}");
    assert!(stdout.ends_with("[DONE]"), "{stdout:?}");
    assert!(!stdout.contains('~'), "{stdout:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "abcdef\n");
}

#[test]
fn what_is_not_provided_is_refused_by_name() {
    for (script, message) in [
        (
            "interact -input x -echo a b",
            "interact -echo together with -input",
        ),
        ("interact -u exp4", "cannot interact with self"),
        ("interact -re", "needs a pattern"),
    ] {
        let mut user = user_of(&format!("log_user 0\nspawn cat\n{script}\n"));
        let rest = exits_with(&mut user, 1);
        assert!(rest.contains(message), "{script}: {rest}");
    }
}

#[test]
fn nobuffer_passes_the_pattern_on() {
    let mut user = user_of(concat!(
        "log_user 0\n",
        "spawn cat\n",
        "interact -nobuffer ab {send_user {[AB]}} ~q return\n",
        "send_user {[AFTER]}\n",
    ));
    user.send("xab").unwrap();
    see(&mut user, "[AB]");
    user.send("y\r").unwrap();
    // cat's line (and the terminal's echo) has what was typed, "ab" included.
    see(&mut user, "xaby\r\n");
    user.send("~q").unwrap();
    see(&mut user, "[AFTER]");
    exits_with(&mut user, 0);
}

/// With `log_user` on, interact shows the output once, and what an `-o` pattern holds back
/// is not shown by the log either.
#[test]
fn interact_shows_the_output_once_whatever_log_user_says() {
    let mut user = user_of(concat!(
        "spawn -noecho sh -c {echo hello there; read x; echo bye}\n",
        "interact -o hello {send_user {[HELLO]}}\n",
        "send_user {[AFTER]}\n",
    ));
    let before = see(&mut user, "[HELLO]");
    user.send("\r").unwrap();
    let rest = exits_with(&mut user, 0);
    assert!(
        !before.contains("hello") && !rest.contains("hello"),
        "{before:?} {rest:?}"
    );
    assert!(rest.ends_with("bye\r\n[AFTER]"), "{rest:?}");
    assert_eq!(rest.matches("bye").count(), 1, "{rest:?}");
}

/// `/usr/bin/expect SCRIPT` on a terminal of its own, to compare.
fn expect_user_of(script: &str) -> PtySession {
    let path = temp("script.exp");
    std::fs::write(&path, script).unwrap();
    spawn(
        Command::new("expect")
            .arg(path.to_str().unwrap())
            .echo(false),
    )
}

/// Several matches completed by one read: every action runs, in order, as in Expect.
#[test]
fn every_match_of_one_read_runs_its_action_in_order() {
    let script = concat!(
        "log_user 0\n",
        "spawn -noecho cat\n",
        "interact aa {send_user {[A]}} bb {send_user {[B]}} ~q return\n",
        "send_user {[AFTER]}\n",
    );
    for mut user in [user_of(script), expect_user_of(script)] {
        // One write: usually one read by interact; the actions are the same either way.
        user.send("xaabbaay~q").unwrap();
        let shown = see(&mut user, "[AFTER]");
        let actions: String = shown
            .split('[')
            .skip(1)
            .filter_map(|s| s.split(']').next())
            .collect();
        assert_eq!(actions, "ABA", "{shown:?}");
        exits_with(&mut user, 0);
    }
}

/// `timeout N ACTION` before `-o`: the user typed nothing for N seconds; after `-o`: the
/// program wrote nothing. The action runs again after each silence.
#[test]
fn timeout_actions_run_when_a_side_is_silent() {
    let script = concat!(
        "log_user 0\n",
        "spawn -noecho cat\n",
        "set n 0\n",
        "interact timeout 1 {send_user \"\\[IDLE [incr n]\\]\"; if {$n == 2} return}\n",
        "send_user {[AFTER]}\n",
    );
    for mut user in [user_of(script), expect_user_of(script)] {
        see(&mut user, "[IDLE 1]");
        see(&mut user, "[IDLE 2][AFTER]");
        exits_with(&mut user, 0);
    }
    let script = concat!(
        "log_user 0\n",
        "spawn -noecho sh -c {read x; echo \"<$x>\"; read y}\n",
        "interact -o timeout 1 {send \"quiet\\r\"} \"<quiet>\" {send_user {[SEEN]}; return}\n",
        "send_user {[AFTER]}\n",
    );
    for mut user in [user_of(script), expect_user_of(script)] {
        see(&mut user, "[SEEN][AFTER]");
        exits_with(&mut user, 0);
    }
}

/// `null` matches an ASCII NUL typed by the user.
#[test]
fn null_matches_a_typed_nul() {
    let script = concat!(
        "log_user 0\n",
        "spawn -noecho cat\n",
        "interact null {send_user {[NUL]}} ~q return\n",
        "send_user {[AFTER]}\n",
    );
    for mut user in [user_of(script), expect_user_of(script)] {
        user.send("a\0b").unwrap();
        see(&mut user, "[NUL]");
        user.send("~q").unwrap();
        see(&mut user, "[AFTER]");
        exits_with(&mut user, 0);
    }
}

/// A session in `dir` with a plain `sh` (prompt `$ `, no rc file): the environment both
/// recording and replaying get.
fn in_dir<'c>(command: &'c mut Command, dir: &Path) -> &'c mut Command {
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("PS1", "$ ")
        .env("TERM", "dumb")
        .env("HOME", dir)
}

/// Libes' autoexpect (`/usr/bin/expect_autoexpect`, unchanged) under `ptychat expect`:
/// the test is the user who runs a shell through it, creates a file and exits. The script
/// it records is the one Expect's autoexpect records for the same session, and replaying
/// it (with `ptychat expect`, and with Expect) does the same again.
#[test]
fn autoexpect_records_a_session_that_replays() {
    let mut recorded = Vec::new();
    for recorder in [&[BIN, "expect"][..], &["expect"][..]] {
        let dir = temp("autoexpect");
        std::fs::create_dir_all(&dir).unwrap();
        let mut user = spawn(
            in_dir(&mut Command::new(recorder[0]), &dir)
                .args(&recorder[1..])
                .args(["/usr/bin/expect_autoexpect", "-f", "rec.exp", "sh"])
                .echo(false),
        );
        see(&mut user, "autoexpect started, file is rec.exp");
        see(&mut user, "$ ");
        user.send("echo made > made.txt\r").unwrap();
        see(&mut user, "$ ");
        user.send("exit\r").unwrap();
        see(&mut user, "autoexpect done, file is rec.exp");
        exits_with(&mut user, 0);
        let made = dir.join("made.txt");
        assert_eq!(std::fs::read_to_string(&made).unwrap(), "made\n");
        std::fs::remove_file(&made).unwrap();

        let script = std::fs::read_to_string(dir.join("rec.exp")).unwrap();
        for line in [
            "spawn sh",
            "send -- \"echo made > made.txt\\r\"",
            "send -- \"exit\\r\"",
            "expect eof",
        ] {
            assert!(script.lines().any(|l| l == line), "{line:?} in {script}");
        }
        // The commands, without the comments (one has the time).
        let commands: Vec<String> = script
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        recorded.push((dir, commands));
    }
    assert_eq!(recorded[0].1, recorded[1].1, "ptychat expect vs expect");

    // Each recording replays: under `ptychat expect`, and ptychat's under Expect too.
    let (ours, expects) = (&recorded[0].0, &recorded[1].0);
    for (dir, player) in [
        (ours, &[BIN, "expect"][..]),
        (expects, &[BIN, "expect"]),
        (ours, &["expect"]),
    ] {
        let mut replay = spawn(
            in_dir(&mut Command::new(player[0]), dir)
                .args(&player[1..])
                .arg("rec.exp"),
        );
        exits_with(&mut replay, 0);
        let made = dir.join("made.txt");
        assert_eq!(
            std::fs::read_to_string(&made).unwrap(),
            "made\n",
            "{player:?}"
        );
        std::fs::remove_file(&made).unwrap();
    }
}

/// Actions run with the terminal raw, as in Expect: `send_user` writes a newline as
/// `\r\n` (`-raw` as it is); a `-reset` action runs in the terminal's own mode.
#[test]
fn actions_run_with_the_terminal_raw_unless_reset() {
    let script = concat!(
        "log_user 0\n",
        "spawn -noecho cat\n",
        "interact ~r {send_user \"raw\\n\"; send_user -raw \"x\\n\"} ",
        "-reset ~c {send_user \"cooked\\n\"} ~q return\n",
        "send_user {[AFTER]}\n",
    );
    for mut user in [user_of(script), expect_user_of(script)] {
        user.send("~r").unwrap();
        see(&mut user, "raw\r\nx\n");
        user.send("~c").unwrap();
        // The terminal's own output processing makes the \r\n.
        see(&mut user, "cooked\r\n");
        user.send("~q").unwrap();
        see(&mut user, "[AFTER]");
        exits_with(&mut user, 0);
    }
}

/// `interact -u ID`: two programs joined, each one's output the other's input, until the
/// first one's end runs its `eof` action; the same under Expect.
#[test]
fn u_joins_two_programs() {
    for expect in [false, true] {
        let file = temp("u-seen");
        let script = format!(
            concat!(
                "log_user 0\n",
                "set stty_init -echo\n",
                "spawn python3 -c {{l = input(); print(\"got \" + l)}}\n",
                "set b $spawn_id\n",
                "spawn python3 -c {{\n",
                "print(\"ping\")\n",
                "l = input()\n",
                "open(\"{}.tmp\", \"w\").write(l)\n",
                "import os; os.rename(\"{}.tmp\", \"{}\")\n",
                "import sys; sys.stdin.read()\n",
                "}}\n",
                "interact -u $b eof {{send_user {{[EOF OF B]}}; return}}\n",
                "send_user {{[AFTER]}}\n",
                // A writes what it got once B's answer reaches it: wait for the file.
                "for {{set i 0}} {{$i < 3000 && ![file exists {}]}} {{incr i}} {{after 10}}\n",
            ),
            file.display(),
            file.display(),
            file.display(),
            file.display()
        );
        let mut user = match expect {
            false => user_of(&script),
            true => expect_user_of(&script),
        };
        let rest = exits_with(&mut user, 0);
        assert_eq!(rest, "[EOF OF B][AFTER]", "expect: {expect}");
        // B's answer reached A.
        assert_eq!(
            std::fs::read_to_string(&file).unwrap_or_default().trim(),
            "got ping",
            "expect: {expect}"
        );
    }
}

/// `-input` / `-output`: what the user types goes to two programs, each one's output to
/// the user, the third input's `eof` action ends interact; the same under Expect.
#[test]
fn input_and_output_lists_fan_out_with_an_eof_action_per_input() {
    const LINES: &str = concat!(
        "import sys\n",
        "for l in sys.stdin:\n",
        "    if l.strip() == \"bye\":\n",
        "        print(sys.argv[1] + \" leaves\", flush=True)\n",
        "        if sys.argv[1] == \"two\": break\n",
        "    else: print(sys.argv[1] + \":\" + l.strip(), flush=True)\n",
    );
    for expect in [false, true] {
        let script = format!(
            concat!(
                "log_user 0\n",
                "set stty_init -echo\n",
                "set code {{{}}}\n",
                "spawn python3 -c $code one\n",
                "set one $spawn_id\n",
                "spawn python3 -c $code two\n",
                "set two $spawn_id\n",
                "send_user {{[READY]}}\n",
                "interact -output \"$one $two\" ~q {{send_user {{[Q]}}; return}} ",
                "-input $one -output $user_spawn_id ",
                "-input $two eof {{send_user {{[EOF TWO]}}; return}} -output $user_spawn_id\n",
                "send_user {{[AFTER]}}\n",
            ),
            LINES
        );
        let mut user = match expect {
            false => user_of(&script),
            true => expect_user_of(&script),
        };
        see(&mut user, "[READY]");
        user.send("hello\r").unwrap();
        let mut seen = String::new();
        for line in ["one:hello", "two:hello"] {
            if !seen.contains(line) {
                seen.push_str(&see(&mut user, line));
                seen.push_str(line);
            }
        }
        user.send("bye\r").unwrap();
        see(&mut user, "two leaves");
        let rest = exits_with(&mut user, 0);
        assert!(
            rest.ends_with("[EOF TWO][AFTER]"),
            "expect: {expect}: {rest:?}"
        );
        assert!(!rest.contains("[Q]"), "expect: {expect}: {rest:?}");
    }
}

/// In the general form, `-iwrite` gives an action `interact_out(spawn_id)`, a regex on the
/// second input drops what it matches, and that input's `timeout` runs after its silence;
/// the same under Expect.
#[test]
fn iwrite_and_a_timeout_per_input() {
    for expect in [false, true] {
        let script = concat!(
            "log_user 0\n",
            "set stty_init -echo\n",
            "spawn python3 -c {\n",
            "import sys\n",
            "for l in sys.stdin: print(\"P:\" + l.strip() + \".\", flush=True)\n",
            "}\n",
            "set p $spawn_id\n",
            "send_user {[READY]}\n",
            "interact -output $p -input $p -iwrite -re {P:(\\w+)} ",
            "{send_user \"\\[[expr {$interact_out(spawn_id) eq $p}] saw $interact_out(1,string)\\]\"} ",
            "timeout 1 {send_user {[QUIET]}; return} -output $user_spawn_id\n",
            "send_user {[AFTER]}\n",
        );
        let mut user = match expect {
            false => user_of(script),
            true => expect_user_of(script),
        };
        see(&mut user, "[READY]");
        user.send("abc\r").unwrap();
        let before = see(&mut user, "[1 saw abc]");
        assert!(!before.contains("P:"), "expect: {expect}: {before:?}");
        let rest = exits_with(&mut user, 0);
        assert_eq!(rest, ".\r\n[QUIET][AFTER]", "expect: {expect}");
    }
}

/// In the general form the match that starts first wins, whatever the patterns' order, as
/// in Expect's interact.
#[test]
fn general_form_runs_the_earliest_match_first() {
    for expect in [false, true] {
        let script = concat!(
            "log_user 0\n",
            "spawn cat\n",
            "send_user {[READY]}\n",
            "interact -output $spawn_id zz {send_user {[Z]}} ab {send_user {[B]}} ~q return\n",
            "send_user {[AFTER]}\n",
        );
        let mut user = match expect {
            false => user_of(script),
            true => expect_user_of(script),
        };
        see(&mut user, "[READY]");
        user.send("abzz").unwrap();
        let before = see(&mut user, "[Z]");
        assert!(before.ends_with("[B]"), "expect: {expect}: {before:?}");
        user.send("~q").unwrap();
        see(&mut user, "[AFTER]");
        exits_with(&mut user, 0);
    }
}

/// A final pattern without an action runs `interpreter`, as in Expect: Tcl commands typed
/// there run, `return` goes back to interact.
#[test]
fn a_final_pattern_without_an_action_runs_the_interpreter() {
    let script = concat!(
        "log_user 0\n",
        "spawn -noecho sh -c {read x; echo got-$x}\n",
        "interact ~i\n",
        "send_user {[AFTER]}\n",
    );
    for mut user in [user_of(script), expect_user_of(script)] {
        user.send("~i").unwrap();
        see(&mut user, "> ");
        user.send("puts \"six [expr 6*7]\"\r").unwrap();
        see(&mut user, "six 42");
        // The next prompt first: Expect's prompt drops what was typed before it.
        see(&mut user, "> ");
        // Nothing is typed after `return` (what is typed while the prompt hands back
        // could be read by either): the program ends and so does interact.
        user.send("send \"zz\\r\"; return\r").unwrap();
        see(&mut user, "[AFTER]");
        exits_with(&mut user, 0);
    }
}

/// As in Expect, `-i ID` implies `-o`: the patterns after it watch the program's output.
#[test]
fn patterns_after_i_watch_the_program() {
    let script = concat!(
        "log_user 0\n",
        "spawn -noecho sh -c {read x; echo hello-$x; read y}\n",
        "interact -i $spawn_id hello {send_user {[HELLO]}; return}\n",
        "send_user {[AFTER]}\n",
    );
    for mut user in [user_of(script), expect_user_of(script)] {
        user.send("a\r").unwrap();
        see(&mut user, "[HELLO][AFTER]");
        exits_with(&mut user, 0);
    }
}
