//! What failures look like: timeout and end-of-output errors name the patterns, the
//! deadline and the escaped tail of the unmatched output; bad arguments are errors, not
//! panics.

mod common;

use std::error::Error as _;
use std::time::{Duration, Instant};

use common::{assert_waited, py, sh, spawn, wait_until_buffered};
use ptychat::{Command, Error, Pattern};

/// A program that prints `text` (python string literal syntax) and then waits for input,
/// with `text` fully buffered on our side when this returns.
fn printed_and_waiting(text: &str, expected: &[u8]) -> ptychat::PtySession {
    let mut s = py(&format!(
        "import sys\nsys.stdout.write({text}); sys.stdout.flush()\ninput()"
    ));
    wait_until_buffered(&mut s, |b| b.ends_with(expected));
    assert_eq!(s.buffer(), expected);
    s
}

#[test]
fn timeout_error_names_patterns_deadline_and_escaped_tail() {
    let output = b"abc \"quoted\" \t tab \x1b[1m bold \\ end\r\n";
    let mut s = printed_and_waiting(r#"'abc "quoted" \t tab \x1b[1m bold \\ end\n'"#, output);
    let wait = Duration::from_millis(300);
    let started = Instant::now();
    let err = s
        .expect_timeout(
            [Pattern::exact("never"), Pattern::regex(r"nope\d").unwrap()],
            Some(wait),
        )
        .unwrap_err();
    assert_waited(started.elapsed(), wait);
    assert!(err.is_timeout());
    assert!(!err.is_eof());
    let text = err.to_string();
    assert!(text.starts_with("timed out after "), "{text}");
    assert!(text.contains("(deadline 300ms)"), "{text}");
    assert!(
        text.contains(r#"waiting for one of ["never", /nope\d/]"#),
        "{text}"
    );
    assert!(
        text.contains(&format!("; {} unmatched bytes buffered", output.len())),
        "{text}"
    );
    assert!(
        text.ends_with(r#"ending with: "abc \"quoted\" \t tab \e[1m bold \\ end\r\n""#),
        "{text}"
    );
    // Debug shows the same readable text (what `unwrap` prints).
    assert_eq!(format!("{err:?}"), text);
    match err {
        Error::Timeout {
            patterns,
            timeout,
            waited,
            buffered,
            discarded,
            tail,
            hint,
        } => {
            assert_eq!(discarded, 0);
            assert_eq!(patterns, r#"one of ["never", /nope\d/]"#);
            assert_eq!(hint, "");
            assert_eq!(timeout, wait);
            assert!(waited >= wait);
            assert_eq!(buffered, output.len());
            assert_eq!(tail, ptychat::escape(output));
        }
        other => panic!("expected a timeout, got {other}"),
    }
    // Nothing was consumed.
    assert_eq!(s.buffer(), output);
}

#[test]
fn timeout_error_for_a_single_pattern() {
    let mut s = spawn(&mut Command::new("cat"));
    let err = s
        .expect_timeout("never", Some(Duration::from_millis(50)))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(r#"waiting for "never"; 0 unmatched bytes"#),
        "{text}"
    );
    assert!(text.ends_with(r#"ending with: """#), "{text}");
}

#[test]
fn eof_error_names_patterns_and_escaped_tail() {
    let mut s = sh(r"printf 'bye\033[0m\n'");
    let err = s.expect("never").unwrap_err();
    assert!(err.is_eof());
    assert!(!err.is_timeout());
    let text = err.to_string();
    assert!(text.starts_with("end of output after "), "{text}");
    assert!(
        text.ends_with(
            r#"while waiting for "never"; 9 unmatched bytes buffered, ending with: "bye\e[0m\r\n""#
        ),
        "{text}"
    );
    match err {
        Error::Eof {
            patterns,
            buffered,
            tail,
            ..
        } => {
            assert_eq!(patterns, r#""never""#);
            assert_eq!(buffered, 9);
            assert_eq!(tail, r"bye\e[0m\r\n");
        }
        other => panic!("expected EOF, got {other}"),
    }
    // The output is still there, and the end is reported again.
    assert_eq!(s.buffer(), b"bye\x1b[0m\r\n");
    assert!(s.expect(Pattern::nbytes(100)).unwrap_err().is_eof());
    assert_eq!(
        s.expect(Pattern::eof()).unwrap().before(),
        b"bye\x1b[0m\r\n"
    );
    let err = s.expect(Pattern::regex("x").unwrap()).unwrap_err();
    assert!(err.to_string().contains("0 unmatched bytes"), "{err}");
}

#[test]
fn pattern_descriptions() {
    assert_eq!(Pattern::exact("a\"b\n\x1b").to_string(), r#""a\"b\n\e""#);
    assert_eq!(Pattern::exact(b"\xff").to_string(), r#""\xff""#);
    assert_eq!(Pattern::regex(r"\d+\s").unwrap().to_string(), r"/\d+\s/");
    assert_eq!(Pattern::eof().to_string(), "EOF");
    assert_eq!(Pattern::timeout().to_string(), "TIMEOUT");
    assert_eq!(Pattern::nbytes(5).to_string(), "5 bytes");
}

#[test]
fn tail_is_the_last_kib() {
    let mut s = py("import sys\nsys.stdout.write('x' * 4000 + 'END')");
    let err = s.expect("never").unwrap_err();
    let Error::Eof { buffered, tail, .. } = &err else {
        panic!("expected EOF, got {err}");
    };
    assert_eq!(*buffered, 4003);
    assert_eq!(*tail, format!("...{}END", "x".repeat(1021)));
    assert!(err.to_string().contains("4003 unmatched bytes"), "{err}");
}

#[test]
fn tail_of_control_bytes_is_the_last_kib_escaped() {
    let mut s = py("import sys\nsys.stdout.write('\\x01' * 3000)");
    let err = s.expect("never").unwrap_err();
    let Error::Eof { buffered, tail, .. } = &err else {
        panic!("expected EOF, got {err}");
    };
    assert_eq!(*buffered, 3000);
    assert_eq!(*tail, format!("...{}", r"\x01".repeat(1024)));
    assert!(err.to_string().len() < 4 * 1024 + 200, "{err}");
}

#[test]
fn tail_does_not_cut_a_character() {
    // 4001 bytes: the last KiB starts in the middle of an 'é'.
    let mut s = py("import sys\nsys.stdout.write('é' * 2000 + '!')");
    let err = s.expect("never").unwrap_err();
    let Error::Eof { buffered, tail, .. } = &err else {
        panic!("expected EOF, got {err}");
    };
    assert_eq!(*buffered, 4001);
    assert_eq!(*tail, format!("...{}!", "é".repeat(511)));
}

#[test]
fn timeout_error_tail_is_the_last_kib() {
    let mut body = vec![b'y'; 2000];
    body.extend_from_slice(b"\r\n");
    let mut s = printed_and_waiting("'y' * 2000 + '\\n'", &body);
    let err = s
        .expect_timeout("never", Some(Duration::from_millis(10)))
        .unwrap_err();
    let Error::Timeout { buffered, tail, .. } = &err else {
        panic!("expected a timeout, got {err}");
    };
    assert_eq!(*buffered, 2002);
    assert_eq!(*tail, format!("...{}\\r\\n", "y".repeat(1022)));
}

#[test]
fn invalid_regex_is_an_error_not_a_panic() {
    for bad in ["(unclosed", "[z-a]", "a{2,1}", r"\p{NoSuchClass}", "*"] {
        let err = Pattern::regex(bad).unwrap_err();
        assert!(matches!(err, Error::Regex(_)), "{bad}: {err}");
        assert!(err.to_string().starts_with("invalid regex: "), "{err}");
    }
    // Too big to compile is an error as well.
    let err = Pattern::regex(r"\w{1000}{1000}").unwrap_err();
    assert!(matches!(err, Error::Regex(_)), "{err}");
}

#[test]
fn empty_pattern_list_is_an_invalid_argument() {
    let mut s = spawn(&mut Command::new("cat"));
    let err = s.expect(Vec::<Pattern>::new()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(err.to_string().starts_with("invalid argument: "), "{err}");
    let none: [Pattern; 0] = [];
    assert!(matches!(
        s.expect_timeout(&none, None).unwrap_err(),
        Error::InvalidArgument(_)
    ));
}

#[test]
fn unknown_control_character_is_an_invalid_argument() {
    let mut s = spawn(&mut Command::new("cat"));
    for c in ['1', 'é', '\n', '~'] {
        let err = s.send_control(c).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{c:?}: {err}");
        assert!(err.to_string().contains(&format!("{c:?}")), "{err}");
    }
}

#[test]
fn zero_window_size_is_an_invalid_argument() {
    for (rows, cols) in [(0, 80), (24, 0), (0, 0)] {
        let err = Command::new("true")
            .window_size(rows, cols)
            .spawn()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    }
    let mut s = spawn(&mut Command::new("cat"));
    let err = s.set_window_size(0, 10).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert_eq!(s.window_size().unwrap(), (24, 80), "the size is unchanged");
}

#[test]
fn spawn_error_has_the_os_error_as_source() {
    let err = Command::new("/no/such/program").spawn().unwrap_err();
    let source = err.source().expect("a source");
    let io = source
        .downcast_ref::<std::io::Error>()
        .expect("an io::Error");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(format!("{err:?}"), err.to_string());
}

#[test]
fn send_to_a_program_that_never_reads_times_out() {
    // In raw mode the terminal queues input until its buffers are full; then writes block.
    let mut s = Command::new("sh")
        .args(["-c", "stty raw -echo; echo ready; exec sleep 30"])
        .timeout(Some(Duration::from_millis(500)))
        .spawn()
        .unwrap();
    s.expect_timeout("ready", Some(common::LONG)).unwrap();
    let data = vec![b'a'; 1 << 20];
    let started = Instant::now();
    let err = s.send(&data).unwrap_err();
    assert_waited(started.elapsed(), Duration::from_millis(500));
    let text = err.to_string();
    assert!(text.starts_with("sending: timed out after "), "{text}");
    assert!(text.ends_with(" of 1048576 bytes"), "{text}");
    match &err {
        Error::Io { context, source } => {
            assert_eq!(*context, "sending");
            assert_eq!(source.kind(), std::io::ErrorKind::TimedOut);
        }
        other => panic!("expected an I/O error, got {other}"),
    }
}

/// Rust's regex `.` does not match a newline, pexpect's and Tcl's does: a ported
/// `BEGIN(.*)END` waits until its deadline, and the error says why and what to write.
#[test]
fn a_regex_whose_dot_would_match_across_a_newline_gets_a_hint() {
    let mut s = sh("printf 'BEGIN\\nbody\\nEND\\n'; exec sleep 30");
    wait_until_buffered(&mut s, |buffered| buffered.ends_with(b"END\r\n"));
    let pattern = Pattern::regex("BEGIN(.*)END").unwrap();
    let err = s
        .expect_timeout(&pattern, Some(Duration::from_millis(300)))
        .unwrap_err();
    assert!(err.is_timeout());
    let text = err.to_string();
    assert!(
        text.ends_with(
            "; hint: /BEGIN(.*)END/ would match with (?s): in Rust's regex `.` does not match a \
             newline (in pexpect's and Tcl's it does); write /(?s)BEGIN(.*)END/"
        ),
        "{text}"
    );
    let m = s
        .expect(Pattern::regex("(?s)BEGIN(.*)END").unwrap())
        .unwrap();
    assert_eq!(m.group(1), Some(&b"\r\nbody\r\n"[..]));
}

/// When the buffer filled up while the call waited and its oldest bytes were dropped, the
/// error says how many: the match had to fit in what was kept.
#[test]
fn eof_error_says_how_many_bytes_the_full_buffer_dropped() {
    let mut s = Command::shell("head -c 200000 /dev/zero | tr '\\0' x")
        .spawn_piped(ptychat::StderrMode::Null)
        .unwrap();
    s.set_max_buffer(64 * 1024, ptychat::BufferFull::DiscardOldest);
    let err = s.expect("never").unwrap_err();
    let Error::Eof {
        buffered,
        discarded,
        ..
    } = &err
    else {
        panic!("expected EOF, got {err}");
    };
    assert_eq!(*buffered, 64 * 1024);
    assert_eq!(*discarded, 200_000 - 64 * 1024);
    assert_eq!(s.discarded(), 200_000 - 64 * 1024);
    assert!(
        err.to_string().contains(&format!(
            "65536 unmatched bytes buffered (and {} older bytes discarded: the buffer was full)",
            200_000 - 64 * 1024
        )),
        "{err}"
    );
    // A later call that drops nothing reports none.
    let err = s.expect("never").unwrap_err();
    assert!(matches!(err, Error::Eof { discarded: 0, .. }), "{err}");
    assert!(!err.to_string().contains("discarded"), "{err}");
}
