//! Typing like a person: slow and human-paced sends, and waiting until the program reads
//! its terminal before typing.

mod common;

use std::time::Duration;

use common::{LONG, contains, python, sh, spawn};
use ptychat::{Command, Error, HumanTyping, Pattern, SlowTyping};

/// Quick human settings for tests (a few ms a key), reproducible.
fn quick_human(seed: u64) -> HumanTyping {
    HumanTyping {
        average: Duration::from_millis(1),
        word_end: Duration::from_millis(3),
        variability: 1.0,
        min: Duration::ZERO,
        max: Duration::from_millis(5),
        seed: Some(seed),
    }
}

#[test]
fn send_slow_arrives_whole_and_in_order() {
    let mut cat = spawn(Command::new("cat").echo(false));
    let text = "the quick brown fox jumps over the lazy dog 0123456789\r";
    let typing = SlowTyping {
        chunk: 3,
        pause: Duration::from_millis(1),
    };
    cat.send_slow(text, typing).unwrap();
    cat.expect("the quick brown fox jumps over the lazy dog 0123456789\r\n")
        .unwrap();
    // One character at a time, with multi-byte characters kept whole.
    cat.send_slow("héllo wörld\r", SlowTyping::default())
        .unwrap();
    let m = cat.expect("\r\n").unwrap();
    assert_eq!(m.before(), "héllo wörld".as_bytes());
    cat.send_eof().unwrap();
    cat.expect(Pattern::eof()).unwrap();
}

#[test]
fn send_human_with_a_seed_sends_everything() {
    let mut cat = spawn(Command::new("cat").echo(false));
    let text = "Hello, world! This is typed like a person, word by word.";
    for seed in [1, 2, 3] {
        cat.send_human(format!("{text}\r"), quick_human(seed))
            .unwrap();
        let m = cat.expect("\r\n").unwrap();
        assert_eq!(m.before(), text.as_bytes(), "seed {seed}");
    }
}

#[test]
fn bad_typing_settings_are_refused_before_sending() {
    let mut cat = spawn(Command::new("cat").echo(false));
    let err = cat
        .send_slow(
            "x",
            SlowTyping {
                chunk: 0,
                pause: Duration::ZERO,
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let err = cat
        .send_human(
            "x",
            HumanTyping {
                variability: -1.0,
                ..HumanTyping::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    // Nothing was sent.
    cat.send("ok\r").unwrap();
    let m = cat.expect("\r\n").unwrap();
    assert_eq!(m.before(), b"ok");
}

/// A program that writes a megabyte while we type slowly: the pauses keep reading, so it
/// never blocks on a full terminal, and it reads everything we type.
#[test]
fn output_is_read_while_typing_slowly() {
    let code = "import sys\n\
                sys.stdout.write('x' * 1_000_000 + '\\nready\\n'); sys.stdout.flush()\n\
                print('got', input())";
    let mut s = spawn(python(code).echo(false));
    let typing = SlowTyping {
        chunk: 1,
        pause: Duration::from_millis(2),
    };
    // Typed while the program is still writing its megabyte.
    s.send_slow("typed slowly\r", typing).unwrap();
    s.expect("ready").unwrap();
    s.expect("got typed slowly").unwrap();
    s.expect(Pattern::eof()).unwrap();
}

/// The proof: the program throws away what was typed before it reads (tcflush), so only
/// typing after `wait_until_reading` reaches it. No timing is assumed: it flushes, then
/// reads, and the wait returns only once it is in the read.
#[test]
fn wait_until_reading_keeps_type_ahead_from_a_flushing_program() {
    let code = "import termios, time\n\
                time.sleep(0.2)\n\
                termios.tcflush(0, termios.TCIFLUSH)\n\
                print('got', input())";
    let mut s = spawn(python(code).echo(false));
    s.wait_until_reading(Some(LONG)).unwrap();
    s.send_line("kept").unwrap();
    s.expect("got kept").unwrap();
    s.expect(Pattern::eof()).unwrap();
}

/// Right after a send, the line the program has not taken yet means it is not waiting:
/// the second wait returns at the second read, after the flush, so "two" is kept.
#[test]
fn a_line_not_yet_taken_is_not_waiting() {
    let code = "import termios, time\n\
                first = input()\n\
                time.sleep(0.2)\n\
                termios.tcflush(0, termios.TCIFLUSH)\n\
                print(first, input())";
    let mut s = spawn(python(code).echo(false));
    s.wait_until_reading(Some(LONG)).unwrap();
    s.send_line("one").unwrap();
    s.wait_until_reading(Some(LONG)).unwrap();
    s.send_line("two").unwrap();
    s.expect("one two").unwrap();
}

#[test]
fn wait_until_reading_sees_readline_and_children() {
    // bash and the Python REPL wait in pselect6 on the terminal (readline).
    let mut bash = spawn(
        Command::new("bash")
            .args(["--norc", "--noprofile", "-i"])
            .env("PS1", "$ ")
            .env("TERM", "dumb"),
    );
    bash.wait_until_reading(Some(LONG)).unwrap();
    bash.send_line("echo $((6*7))").unwrap();
    bash.expect("42").unwrap();
    // The reader is a child of the shell, in the foreground group the shell makes for
    // it. Waiting right after sending: the line the shell has not read yet does not count
    // as the shell waiting.
    bash.send_line("sleep 0.2; python3 -c 'print(\"<\" + input() + \">\")'")
        .unwrap();
    bash.wait_until_reading(Some(LONG)).unwrap();
    bash.send_line("child").unwrap();
    bash.expect("<child>").unwrap();
    bash.send_line("exit").unwrap();
    bash.expect(Pattern::eof()).unwrap();

    // select, poll and epoll on the terminal count as reading too.
    for wait in [
        "select.select([0], [], [])",
        "p = select.poll(); p.register(0, select.POLLIN); p.poll()",
        "p = select.epoll(); p.register(0, select.EPOLLIN); p.poll()",
        // /dev/tty is the terminal too, for the processes whose terminal it is.
        "sys.stdin = open('/dev/tty')",
    ] {
        let code =
            format!("import select, sys\n{wait}\nprint('ready', sys.stdin.readline().strip())");
        let mut s = spawn(python(&code).echo(false));
        s.wait_until_reading(Some(LONG))
            .unwrap_or_else(|e| panic!("{wait}: {e}"));
        s.send_line("yes").unwrap();
        s.expect("ready yes").unwrap();
    }
}

/// Without job control the shell's children join its process group: the reader is a
/// process that did not exist when the wait began.
#[test]
fn a_reader_that_joins_the_group_later_is_found() {
    let mut s = sh("sleep 0.2; python3 -c 'import termios; \
                    termios.tcflush(0, termios.TCIFLUSH); print(\"<\" + input() + \">\")'");
    s.set_echo(false).unwrap();
    s.wait_until_reading(Some(LONG)).unwrap();
    s.send_line("late").unwrap();
    s.expect("<late>").unwrap();
}

#[test]
fn send_when_reading_waits_then_sends() {
    let mut s = spawn(
        python("import termios, time\ntime.sleep(0.1)\ntermios.tcflush(0, termios.TCIFLUSH)\nprint(input().upper())")
            .echo(false),
    );
    s.send_when_reading("quiet\r").unwrap();
    s.expect("QUIET").unwrap();
}

#[test]
fn wait_until_reading_times_out_when_the_program_never_reads() {
    let mut s = spawn(Command::new("sleep").arg("1000"));
    let err = s
        .wait_until_reading(Some(Duration::from_millis(300)))
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let text = err.to_string();
    assert!(text.contains("the program to read its terminal"), "{text}");
    assert!(
        text.contains("sleep"),
        "the message names what runs: {text}"
    );
}

#[test]
fn wait_until_reading_fails_at_the_end_of_output() {
    let mut s = sh("echo bye");
    let err = s.wait_until_reading(Some(LONG)).unwrap_err();
    assert!(err.is_eof(), "{err}");
    assert!(contains(err.to_string().as_bytes(), b"bye"), "{err}");
}

/// Runs a script; returns its exit code (or error text) and what it printed.
fn run_script(source: &str) -> (Result<i32, String>, String) {
    use ptychat::script::{RunOptions, Script};
    let script = Script::parse("typing.ptychat", source).unwrap_or_else(|e| panic!("{e}"));
    let out = ptychat::Shared::new(Vec::new());
    let result = script
        .run_with(&[], &RunOptions::default(), out.clone(), std::io::sink())
        .map_err(|e| e.to_string());
    let printed = String::from_utf8_lossy(&out.lock()).into_owned();
    (result, printed)
}

#[test]
fn script_send_slow_human_and_wait_reading() {
    let (result, printed) = run_script(
        r#"
set echo off
set send_slow 2 0.001
set send_human "0.001 0.003 1 0 0.005 9"
spawn python3 -c "import termios, time; time.sleep(0.2); termios.tcflush(0, termios.TCIFLUSH); print('a', input()); print('b', input()); print('c', input())"
wait_reading -t 30
sendline -s "slow text"
expect "a slow text"
wait_reading
send -h "human, text\r"
expect "b human, text"
wait_reading
sendline -h
expect /c \r\n/
print "done"
wait
"#,
    );
    assert_eq!(result, Ok(0), "{printed}");
    assert_eq!(printed, "done\n");
}

#[test]
fn script_typing_mistakes_are_found_before_running() {
    use ptychat::script::Script;
    for (source, expected) in [
        (
            "set send_slow 0 1\n",
            "set send_slow: expected a positive number",
        ),
        (
            "set send_human 1 2 3\n",
            "set send_human: expected five values",
        ),
        (
            "set send_human .1 .3 0 .05 2\n",
            "variability must be a positive",
        ),
        ("spawn cat\nsend -s\n", "usage: send [-i NAME] [-s|-h]"),
        ("spawn cat\nwait_reading 5\n", "usage: wait_reading"),
        (
            "spawn cat\nwait_reading -t soon\n",
            "wait_reading: expected seconds",
        ),
    ] {
        let err = Script::parse("t", source).unwrap_err().to_string();
        assert!(err.contains(expected), "{source:?}: {err}");
    }
    // A quoted "-s" is text.
    let (result, printed) = run_script(
        "set echo off\nspawn cat\nsend \"-s\\r\"\nexpect \"-s\\r\\n\"\nprint ok\nclose\n",
    );
    assert_eq!(result, Ok(0), "{printed}");
}

#[test]
fn script_wait_reading_times_out_with_what_runs() {
    let (result, _) = run_script("spawn sleep 1000\nwait_reading -t 0.3\n");
    let err = result.unwrap_err();
    assert!(err.contains("the program to read its terminal"), "{err}");
    assert!(err.contains("sleep"), "{err}");
}
