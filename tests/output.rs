//! Output is never lost: large output written just before exit, output of programs that
//! exit at once, output while we send, and the buffer limits.

mod common;

use common::{LONG, onlcr, py, read_to_eof, sh, spawn, wait_until_buffered};
use ptychat::{BufferFull, Command, Error, Pattern};

/// A python program that writes `total` bytes of numbered lines with `os.write` (handling
/// short writes) and exits at once with `os._exit`, without any cleanup. Returns the
/// program and the bytes it writes (before the terminal turns `\n` into `\r\n`).
fn burst_then_exit(total: usize) -> (Command, Vec<u8>) {
    let mut expected = Vec::with_capacity(total + 64);
    let mut i = 0;
    while expected.len() < total {
        expected.extend_from_slice(format!("{i:07} abcdefghijklmnopqrstuvwxyz\n").as_bytes());
        i += 1;
    }
    expected.truncate(total);
    let code = format!(
        "import os\n\
         data = b''.join(b'%07d abcdefghijklmnopqrstuvwxyz\\n' % i for i in range({i}))[:{total}]\n\
         view = memoryview(data)\n\
         while view:\n\
         \x20   view = view[os.write(1, view):]\n\
         os._exit(0)"
    );
    (common::python(&code), expected)
}

#[test]
fn one_mib_written_just_before_exit_arrives_byte_exact() {
    for round in 0..3 {
        let (mut command, written) = burst_then_exit(1 << 20);
        let mut s = spawn(&mut command);
        let m = s.expect(Pattern::eof()).unwrap();
        let expected = onlcr(&written);
        assert_eq!(m.before().len(), expected.len(), "round {round}");
        assert!(m.before() == expected, "round {round}: the output differs");
        assert!(s.wait().unwrap().success());
    }
}

#[test]
fn large_output_read_piecewise_with_expects() {
    let (mut command, written) = burst_then_exit(256 * 1024);
    let mut s = spawn(&mut command);
    let expected = onlcr(&written);
    let line = Pattern::regex(r"(\d{7}) [a-z]{26}\r\n").unwrap();
    let mut got = Vec::new();
    let mut n = 0;
    loop {
        let m = s.expect([line.clone(), Pattern::eof()]).unwrap();
        got.extend_from_slice(m.before());
        got.extend_from_slice(m.matched());
        if m.is_eof() {
            break;
        }
        assert_eq!(m.before(), b"", "line {n}");
        assert_eq!(m.group(1).unwrap(), format!("{n:07}").as_bytes());
        n += 1;
    }
    assert!(got == expected, "the output differs");
}

#[test]
fn output_of_instantly_exiting_programs_is_never_lost() {
    for _ in 0..30 {
        let mut s = spawn(Command::new("echo").arg("hi"));
        assert_eq!(read_to_eof(&mut s), b"hi\r\n");
        assert!(s.wait().unwrap().success());

        let mut s = spawn(Command::new("printf").arg("no newline"));
        assert_eq!(read_to_eof(&mut s), b"no newline");

        let mut s = spawn(&mut Command::new("true"));
        assert_eq!(read_to_eof(&mut s), b"");
    }
}

#[test]
fn output_of_instantly_exiting_programs_in_parallel_threads() {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..15 {
                    let word = format!("thread{t}-run{i}");
                    let mut s = spawn(Command::new("echo").arg(&word));
                    assert_eq!(read_to_eof(&mut s), format!("{word}\r\n").as_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn exit_code_and_output_of_a_failing_program() {
    let mut s = sh("echo to-stdout; echo to-stderr >&2; exit 1");
    assert_eq!(read_to_eof(&mut s), b"to-stdout\r\nto-stderr\r\n");
    assert_eq!(s.wait().unwrap().code(), Some(1));
}

#[test]
fn large_output_in_order_from_seq() {
    let mut s = sh("seq 1 100000");
    let out = read_to_eof(&mut s);
    let expected: String = (1..=100000).map(|i| format!("{i}\r\n")).collect();
    assert!(out == expected.as_bytes(), "seq output differs");
}

/// `lines` lines of 99 `x`, each ended by the Enter key.
fn many_lines(lines: usize) -> Vec<u8> {
    let mut input = Vec::with_capacity(lines * 100);
    for _ in 0..lines {
        input.extend_from_slice(&[b'x'; 99]);
        input.push(b'\r');
    }
    input
}

#[test]
fn sending_a_lot_to_a_program_that_prints_it_back_does_not_deadlock() {
    // cat prints every line back while we send 1 MiB: if `send` did not read meanwhile,
    // cat would block writing, stop reading, and our write would block forever.
    let mut s = spawn(Command::new("cat").echo(false));
    let lines = 10_000;
    s.send(many_lines(lines)).unwrap();
    s.send_eof().unwrap();
    let out = read_to_eof(&mut s);
    let mut expected = Vec::new();
    for _ in 0..lines {
        expected.extend_from_slice(&[b'x'; 99]);
        expected.extend_from_slice(b"\r\n");
    }
    assert_eq!(out.len(), expected.len());
    assert!(out == expected, "the output differs");
    assert!(s.wait().unwrap().success());
}

#[test]
fn sending_a_lot_with_echo_on_does_not_deadlock() {
    // About 2 MiB come back (the echo and cat's copy) while we send 1 MiB. Under that load
    // the kernel drops some echo (its echo buffer overruns), so only bounds are exact:
    // cat's own copy is all there, and the echo adds at most as much again.
    let mut s = spawn(&mut Command::new("cat"));
    let lines = 10_000;
    s.send(many_lines(lines)).unwrap();
    s.send_eof().unwrap();
    let out = read_to_eof(&mut s);
    assert!(out.len() >= lines * 101, "{} bytes", out.len());
    assert!(out.len() <= 2 * lines * 101, "{} bytes", out.len());
    assert!(out.iter().all(|b| b"x\r\n".contains(b)));
    assert!(s.wait().unwrap().success());
}

#[test]
fn discard_oldest_keeps_the_newest_bytes() {
    let (mut command, written) = burst_then_exit(1 << 20);
    let mut s = spawn(&mut command);
    let max = 64 * 1024;
    s.set_max_buffer(max, BufferFull::DiscardOldest);
    assert_eq!(s.max_buffer(), max);
    let expected = onlcr(&written);
    let m = s.expect(Pattern::eof()).unwrap();
    assert_eq!(m.before().len(), max);
    assert!(
        m.before() == &expected[expected.len() - max..],
        "the tail differs"
    );
    assert_eq!(s.discarded(), (expected.len() - max) as u64);
}

#[test]
fn discard_oldest_still_finds_a_match_near_the_end() {
    let mut s = py("import sys\nsys.stdout.write('x' * 500000 + 'MARKER')");
    s.set_max_buffer(64 * 1024, BufferFull::DiscardOldest);
    let m = s.expect("MARKER").unwrap();
    assert!(m.before().len() <= 64 * 1024);
    assert!(m.before().iter().all(|&b| b == b'x'));
    assert_eq!(
        s.discarded() + m.before().len() as u64,
        500000,
        "every byte is either discarded or before the match"
    );
}

#[test]
fn a_maximum_of_usize_max_keeps_every_byte() {
    // What a caller writes for "no bound": 24 MiB, past the default 16 MiB, all kept.
    let (mut command, written) = burst_then_exit(24 << 20);
    let mut s = spawn(&mut command);
    s.set_max_buffer(usize::MAX, BufferFull::Error);
    let m = s.expect(Pattern::eof()).unwrap();
    assert!(m.before() == onlcr(&written), "the output differs");
    assert_eq!(s.discarded(), 0);
}

#[test]
fn raising_the_maximum_of_a_full_buffer_keeps_the_newest_bytes() {
    // Full at 8 MiB (dropping its oldest bytes) and kept there by a `keep` match, then
    // allowed 32 MiB: the bytes kept are the newest ones, in order, and the count of
    // dropped ones adds up.
    let mut s = py(concat!(
        "import sys\n",
        "sys.stdout.write('x' * (12 << 20) + 'HALF\\n')\n",
        "sys.stdout.flush()\n",
        "input()\n",
        "sys.stdout.write(''.join('%07d\\n' % i for i in range(2 << 20)))\n",
    ));
    s.set_echo(false).unwrap();
    s.set_max_buffer(8 << 20, BufferFull::DiscardOldest);
    s.expect(Pattern::exact("HALF\r\n").keep()).unwrap();
    assert_eq!(s.buffer().len(), 8 << 20);
    assert_eq!(s.discarded(), (12 << 20) + 6 - (8 << 20));
    s.set_max_buffer(32 << 20, BufferFull::DiscardOldest);
    s.send_line("").unwrap();
    let m = s.expect(Pattern::eof()).unwrap();
    let mut expected = vec![b'x'; (8 << 20) - 6];
    expected.extend_from_slice(b"HALF\r\n");
    expected.extend((0..2 << 20).flat_map(|i| format!("{i:07}\r\n").into_bytes()));
    assert_eq!(m.before().len(), expected.len());
    assert!(m.before() == &expected[..], "the output differs");
    assert_eq!(s.discarded(), (12 << 20) + 6 - (8 << 20));
}

#[test]
fn max_buffer_has_a_floor_of_64_kib() {
    let mut s = spawn(&mut Command::new("cat"));
    s.set_max_buffer(10, BufferFull::DiscardOldest);
    assert_eq!(s.max_buffer(), 64 * 1024);
}

#[test]
fn buffer_full_error_loses_nothing() {
    let (mut command, written) = burst_then_exit(1 << 20);
    let mut s = spawn(&mut command);
    let max = 256 * 1024;
    s.set_max_buffer(max, BufferFull::Error);
    let err = s.expect("never").unwrap_err();
    match &err {
        Error::BufferFull {
            max: m, patterns, ..
        } => {
            assert_eq!(*m, max);
            assert_eq!(patterns, r#""never""#);
        }
        other => panic!("expected BufferFull, got {other}"),
    }
    assert!(
        err.to_string()
            .starts_with("output buffer full (262144 bytes) while waiting for \"never\""),
        "{err}"
    );
    assert!(s.buffer().len() <= max);
    assert_eq!(s.discarded(), 0);
    // Everything is still there: take what is buffered, then read on to the end.
    let mut got = s.take_buffer();
    loop {
        let m = s.expect([Pattern::eof(), Pattern::nbytes(1000)]);
        let m = m.unwrap();
        got.extend_from_slice(m.before());
        got.extend_from_slice(m.matched());
        if m.is_eof() {
            break;
        }
    }
    assert!(got == onlcr(&written), "output was lost or reordered");
}

#[test]
fn buffer_full_error_allows_up_to_max_bytes() {
    let mut s =
        spawn(common::python("print('first', flush=True)\ninput()\nprint('second')").echo(false));
    wait_until_buffered(&mut s, |b| b == b"first\r\n");
    s.set_max_buffer(64 * 1024, BufferFull::Error);
    s.send_line("go").unwrap();
    // 7 bytes are buffered, far below the 64 KiB maximum.
    let m = s
        .expect_timeout("second", Some(LONG))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.before(), b"first\r\n");
}
