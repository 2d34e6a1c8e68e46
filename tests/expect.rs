//! Waiting for patterns: exact text, regexes and their captures, EOF, byte counts,
//! timeouts, several patterns at once, and what stays buffered between calls.

mod common;

use std::time::{Duration, Instant};

use common::{LONG, assert_waited, py, sh, spawn, wait_until_buffered};
use ptychat::{Command, Pattern, Patterns};

#[test]
fn exact_match_reports_before_and_matched() {
    let mut s = sh("echo hello world");
    let m = s.expect("world").unwrap();
    assert_eq!(m.index(), 0);
    assert_eq!(m.before(), b"hello ");
    assert_eq!(m.matched(), b"world");
    assert_eq!(m.before_str(), "hello ");
    assert_eq!(m.matched_str(), "world");
    assert_eq!(m.group(0), Some(&b"world"[..]));
    assert_eq!(m.group(1), None);
    assert_eq!(m.group_count(), 1);
    assert!(!m.is_eof() && !m.is_timeout());
    assert_eq!(s.expect("\r\n").unwrap().before(), b"");
}

#[test]
fn exact_accepts_str_string_and_bytes() {
    let mut s = sh("echo alpha beta gamma delta");
    assert_eq!(s.expect("alpha").unwrap().matched(), b"alpha");
    assert_eq!(s.expect(String::from("beta")).unwrap().matched(), b"beta");
    assert_eq!(s.expect(&b"gamma"[..]).unwrap().matched(), b"gamma");
    assert_eq!(s.expect(b"delta").unwrap().before(), b" ");
}

#[test]
fn empty_exact_pattern_matches_immediately() {
    let mut s = spawn(&mut Command::new("cat"));
    let started = Instant::now();
    let m = s.expect("").unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(m.matched(), b"");
    assert_eq!(m.before(), b"");
}

#[test]
fn regex_with_numbered_and_named_captures() {
    let mut s = sh("echo 'login: user=alice id=42 (admin)'");
    let re = Pattern::regex(r"user=(?<name>\w+) id=(\d+)(?: \((?<role>\w+)\))?(x)?").unwrap();
    let m = s.expect(&re).unwrap();
    assert_eq!(m.before(), b"login: ");
    assert_eq!(m.matched(), b"user=alice id=42 (admin)");
    assert_eq!(m.group(0), Some(&b"user=alice id=42 (admin)"[..]));
    assert_eq!(m.group(1), Some(&b"alice"[..]));
    assert_eq!(m.group(2), Some(&b"42"[..]));
    assert_eq!(m.group(3), Some(&b"admin"[..]));
    assert_eq!(m.group(4), None, "a group that took no part in the match");
    assert_eq!(m.group(5), None, "a group that does not exist");
    assert_eq!(m.group_count(), 5);
    assert_eq!(m.name("name"), Some(&b"alice"[..]));
    assert_eq!(m.name("role"), Some(&b"admin"[..]));
    assert_eq!(m.name("nope"), None);
    assert_eq!(s.expect("\r\n").unwrap().before(), b"");
}

#[test]
fn regex_pattern_is_reusable_across_calls() {
    let mut s = sh("echo a1 b22 c333");
    let word = Pattern::regex(r"([a-z])(\d+)").unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = s.expect(&word).unwrap();
        got.push((m.group(1).unwrap().to_vec(), m.group(2).unwrap().len()));
    }
    assert_eq!(
        got,
        [(b"a".to_vec(), 1), (b"b".to_vec(), 2), (b"c".to_vec(), 3)]
    );
}

#[test]
fn regex_from_a_compiled_regex() {
    let mut s = sh("echo 'version 1.25.3'");
    let re = regex::bytes::Regex::new(r"(\d+)\.(\d+)\.(\d+)").unwrap();
    let m = s.expect(&re).unwrap();
    assert_eq!(m.group(2), Some(&b"25"[..]));
    let m = s.expect(Pattern::from(regex::bytes::Regex::new(r"\r\n").unwrap()));
    assert_eq!(m.unwrap().before(), b"");
}

#[test]
fn regex_inline_flags() {
    let mut s = sh("printf 'first\\nSECOND line\\nthird\\n'");
    let m = s
        .expect(Pattern::regex(r"(?i)second (\w+)").unwrap())
        .unwrap();
    assert_eq!(m.group(1), Some(&b"line"[..]));
    let m = s.expect(Pattern::regex(r"(?m)^(\w+)\r$").unwrap()).unwrap();
    assert_eq!(m.group(1), Some(&b"third"[..]));
}

#[test]
fn regex_built_with_builder_flags_matches() {
    let mut s = sh("echo HELLO World");
    let re = regex::bytes::RegexBuilder::new("hello (world)")
        .case_insensitive(true)
        .build()
        .unwrap();
    let m = s
        .expect_timeout(&re, Some(LONG))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.group(1), Some(&b"World"[..]));
}

#[test]
fn eof_pattern_returns_everything_unmatched() {
    let mut s = sh("echo one; echo two");
    s.expect("one").unwrap();
    let m = s.expect(Pattern::eof()).unwrap();
    assert!(m.is_eof());
    assert!(!m.is_timeout());
    assert_eq!(m.index(), 0);
    assert_eq!(m.before(), b"\r\ntwo\r\n");
    assert_eq!(m.matched(), b"");
    assert_eq!(m.group(0), None);
    assert!(s.is_eof());
    assert!(s.buffer().is_empty());
    // The end stays the end.
    let m = s.expect(Pattern::eof()).unwrap();
    assert!(m.is_eof());
    assert_eq!(m.before(), b"");
}

#[test]
fn eof_pattern_among_others() {
    let mut s = sh("echo only this");
    let m = s
        .expect([
            Pattern::exact("never"),
            Pattern::eof(),
            Pattern::exact("nor this"),
        ])
        .unwrap();
    assert_eq!(m.index(), 1);
    assert!(m.is_eof());
    assert_eq!(m.before(), b"only this\r\n");
}

#[test]
fn data_match_wins_over_eof_when_both_are_possible() {
    let mut s = sh("echo last words");
    let m = s.expect([Pattern::eof(), Pattern::exact("words")]).unwrap();
    assert_eq!(m.index(), 1);
    assert_eq!(m.before(), b"last ");
}

#[test]
fn nbytes_takes_exactly_n_bytes() {
    let mut s = sh("printf abcdefgh");
    let m = s.expect(Pattern::nbytes(3)).unwrap();
    assert_eq!(m.matched(), b"abc");
    assert_eq!(m.before(), b"");
    assert_eq!(m.group(0), Some(&b"abc"[..]));
    let m = s.expect(Pattern::nbytes(0)).unwrap();
    assert_eq!(m.matched(), b"");
    let m = s.expect(Pattern::nbytes(5)).unwrap();
    assert_eq!(m.matched(), b"defgh");
    let m = s.expect([Pattern::nbytes(1), Pattern::eof()]).unwrap();
    assert!(m.is_eof(), "no byte is left: {m:?}");
}

#[test]
fn nbytes_waits_for_bytes_arriving_in_pieces() {
    let mut s = py("import sys, time\n\
         for c in '0123456789':\n\
         \x20   sys.stdout.write(c); sys.stdout.flush(); time.sleep(0.002)\n\
         input()");
    assert_eq!(
        s.expect(Pattern::nbytes(10)).unwrap().matched(),
        b"0123456789"
    );
}

#[test]
fn timeout_pattern_returns_a_match_and_consumes_nothing() {
    let mut s = spawn(Command::new("sh").args(["-c", "echo head tail; exec cat"]));
    s.expect("head").unwrap();
    let wait = Duration::from_millis(200);
    let started = Instant::now();
    let m = s
        .expect_timeout([Pattern::exact("never"), Pattern::timeout()], Some(wait))
        .unwrap();
    assert_waited(started.elapsed(), wait);
    assert!(m.is_timeout());
    assert!(!m.is_eof());
    assert_eq!(m.index(), 1);
    assert_eq!(m.matched(), b"");
    assert_eq!(m.group(0), None);
    // `before` is a copy of what is buffered (however much of the line has arrived) ...
    assert!(b" tail\r\n".starts_with(m.before()), "{:?}", m.before_str());
    assert_eq!(m.before(), s.buffer());
    // ... and it stays buffered for the next call.
    let m = s.expect("tail\r\n").unwrap();
    assert_eq!(m.before(), b" ");
}

#[test]
fn timeout_pattern_alone_with_zero_timeout() {
    let mut s = spawn(&mut Command::new("cat"));
    let started = Instant::now();
    let m = s
        .expect_timeout(Pattern::timeout(), Some(Duration::ZERO))
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(m.is_timeout());
}

#[test]
fn one_of_several_reports_the_index_of_the_match() {
    let mut s = sh("echo apple banana cherry");
    let patterns = [
        Pattern::exact("cherry"),
        Pattern::regex(r"ban(ana)").unwrap(),
        Pattern::exact("zebra"),
    ];
    let m = s.expect(&patterns).unwrap();
    assert_eq!(m.index(), 1);
    assert_eq!(m.before(), b"apple ");
    assert_eq!(m.matched(), b"banana");
    assert_eq!(m.group(1), Some(&b"ana"[..]));
    let m = s.expect(&patterns).unwrap();
    assert_eq!(m.index(), 0);
    assert_eq!(m.before(), b" ");
}

#[test]
fn patterns_accept_slices_vectors_and_arrays() {
    let mut s = sh("echo one two three four five");
    let v = vec![Pattern::exact("one")];
    assert_eq!(s.expect(&v).unwrap().index(), 0);
    let v = vec![Pattern::exact("zzz"), Pattern::exact("two")];
    assert_eq!(s.expect(v).unwrap().index(), 1);
    let a = [Pattern::exact("three")];
    assert_eq!(s.expect(&a[..]).unwrap().index(), 0);
    let p = Pattern::exact("four");
    assert_eq!(s.expect(&p).unwrap().index(), 0);
    let patterns: Patterns<'_> = "five".into();
    assert_eq!(s.expect(patterns).unwrap().matched(), b"five");
}

#[test]
fn earliest_starting_match_wins() {
    // Both matches end at the same byte, so they always become visible in the same read;
    // the one that starts earlier in the output wins although it is listed second.
    let mut s = sh("echo xx-marker-yy");
    let m = s
        .expect([Pattern::exact("ker"), Pattern::regex("m.rker").unwrap()])
        .unwrap();
    assert_eq!(m.index(), 1);
    assert_eq!(m.before(), b"xx-");
    assert_eq!(m.matched(), b"marker");
}

#[test]
fn later_listed_pattern_matching_earlier_output_wins() {
    let mut s = sh("echo first second");
    let m = s
        .expect([Pattern::exact("second"), Pattern::exact("first")])
        .unwrap();
    assert_eq!(m.index(), 1);
    assert_eq!(m.before(), b"");
}

#[test]
fn tie_goes_to_the_first_listed() {
    for (patterns, matched) in [
        (
            [Pattern::exact("mark"), Pattern::regex("ma.k").unwrap()],
            &b"mark"[..],
        ),
        (
            [Pattern::regex("ma.k").unwrap(), Pattern::exact("mark")],
            &b"mark"[..],
        ),
        (
            [Pattern::exact("mark"), Pattern::exact("mark")],
            &b"mark"[..],
        ),
    ] {
        let mut s = sh("echo xmarkx");
        let m = s.expect(&patterns).unwrap();
        assert_eq!(m.index(), 0, "{patterns:?}");
        assert_eq!(m.matched(), matched);
        assert_eq!(m.before(), b"x");
    }
}

#[test]
fn unmatched_output_stays_buffered_for_the_next_call() {
    let mut s = sh("echo one two three");
    assert_eq!(s.expect("one").unwrap().before(), b"");
    let m = s.expect("three").unwrap();
    assert_eq!(m.before(), b" two ");
    let m = s.expect(Pattern::eof()).unwrap();
    assert_eq!(m.before(), b"\r\n");
}

#[test]
fn failed_expect_keeps_the_output_buffered() {
    let mut s = sh("echo keep me");
    let err = s.expect("never").unwrap_err();
    assert!(err.is_eof(), "{err}");
    assert_eq!(s.buffer(), b"keep me\r\n");
    assert_eq!(s.expect("me").unwrap().before(), b"keep ");
}

#[test]
fn buffer_and_take_buffer() {
    let mut s = spawn(Command::new("sh").args(["-c", "echo abc; exec cat"]));
    wait_until_buffered(&mut s, |b| b == b"abc\r\n");
    assert_eq!(s.take_buffer(), b"abc\r\n");
    assert!(s.buffer().is_empty());
    s.send_line("next").unwrap();
    s.expect("next\r\nnext\r\n").unwrap();
}

#[test]
fn read_available_adds_what_has_arrived() {
    let mut s = sh("echo data; exec cat");
    let mut total = 0;
    let deadline = Instant::now() + LONG;
    while !s.buffer().ends_with(b"data\r\n") {
        assert!(Instant::now() < deadline, "nothing arrived");
        total += s.read_available().unwrap();
        // Wait for more without consuming anything.
        s.expect_timeout(Pattern::timeout(), Some(Duration::from_millis(10)))
            .unwrap();
    }
    assert!(total <= s.buffer().len());
    assert_eq!(s.buffer(), b"data\r\n");
}

#[test]
fn session_default_timeout_applies_to_expect() {
    let wait = Duration::from_millis(300);
    let mut s = Command::new("cat").timeout(Some(wait)).spawn().unwrap();
    assert_eq!(s.timeout(), Some(wait));
    let started = Instant::now();
    let err = s.expect("never").unwrap_err();
    assert_waited(started.elapsed(), wait);
    match err {
        ptychat::Error::Timeout { timeout, .. } => assert_eq!(timeout, wait),
        other => panic!("expected a timeout, got {other}"),
    }
}

#[test]
fn per_call_timeout_overrides_the_session_default() {
    let mut s = spawn(&mut Command::new("cat")); // default: LONG
    let wait = Duration::from_millis(200);
    let started = Instant::now();
    let err = s.expect_timeout("never", Some(wait)).unwrap_err();
    assert_waited(started.elapsed(), wait);
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains("(deadline 200ms)"), "{err}");
    assert_eq!(s.timeout(), Some(LONG), "the session default is unchanged");
}

#[test]
fn set_timeout_changes_the_session_default() {
    let mut s = spawn(&mut Command::new("cat"));
    let wait = Duration::from_millis(150);
    s.set_timeout(Some(wait));
    assert_eq!(s.timeout(), Some(wait));
    let started = Instant::now();
    assert!(s.expect("never").unwrap_err().is_timeout());
    assert_waited(started.elapsed(), wait);
}

#[test]
fn no_timeout_waits_until_the_output_comes() {
    // The program takes a while on purpose; with no deadline, expect just waits.
    let mut s = sh("sleep 0.3; echo late");
    let m = s.expect_timeout("late", None).unwrap();
    assert_eq!(m.before(), b"");
    s.set_timeout(None);
    assert_eq!(s.timeout(), None);
    assert!(s.expect(Pattern::eof()).unwrap().is_eof());
    let mut s = Command::new("sh")
        .args(["-c", "sleep 0.2; echo later"])
        .timeout(None)
        .spawn()
        .unwrap();
    assert_eq!(s.timeout(), None);
    s.expect("later").unwrap();
}

#[test]
fn no_timeout_still_ends_at_eof() {
    let mut s = sh("echo bye");
    s.set_timeout(None);
    let err = s.expect("never").unwrap_err();
    assert!(err.is_eof(), "{err}");
}

/// A python program that writes `data` one byte per flushed write, pausing briefly
/// between writes so the bytes tend to arrive in separate reads, then waits for input.
fn byte_by_byte(data: &[u8]) -> ptychat::PtySession {
    let code = format!(
        "import os, time\n\
         for b in bytes.fromhex('{}'):\n\
         \x20   os.write(1, bytes([b])); time.sleep(0.002)\n\
         input()",
        data.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    py(&code)
}

#[test]
fn regex_split_across_many_reads() {
    let mut s = byte_by_byte(b"noise <<MAR <<MARK-12345>> tail\n");
    let m = s
        .expect(Pattern::regex(r"<<MARK-(?<n>\d+)>>").unwrap())
        .unwrap();
    assert_eq!(m.before(), b"noise <<MAR ");
    assert_eq!(m.name("n"), Some(&b"12345"[..]));
    let m = s.expect("\r\n").unwrap();
    assert_eq!(m.before(), b" tail");
}

#[test]
fn exact_split_across_many_reads() {
    let mut s = byte_by_byte(b"aaaabaaabaaabaaaab!");
    let m = s.expect("aaaab!").unwrap();
    assert_eq!(m.before(), b"aaaabaaabaaab");
}

#[test]
fn word_boundary_regex_split_across_reads() {
    // (A `\b` at the very end of the data received so far matches, so the pattern ends
    // with a character that must have arrived.)
    let mut s = byte_by_byte(b"concat cat dog\n");
    let m = s.expect(Pattern::regex(r"\bcat\b\s").unwrap()).unwrap();
    assert_eq!(m.before(), b"concat ");
}

#[test]
fn utf8_character_split_across_reads_matches_exactly() {
    let mut s = byte_by_byte("prix: 5€ café\n".as_bytes());
    let m = s.expect("€").unwrap();
    assert_eq!(m.before(), b"prix: 5");
    let m = s.expect("é").unwrap();
    assert_eq!(m.before(), b" caf");
}

#[test]
fn utf8_character_split_across_reads_matches_regex_dot() {
    // `.` must not match the first byte of a character alone: it waits for the whole
    // character.
    let mut s = byte_by_byte("x€y xéy\n".as_bytes());
    let m = s.expect(Pattern::regex("x(.)").unwrap()).unwrap();
    assert_eq!(m.group(1), Some("€".as_bytes()));
    assert_eq!(m.matched_str(), "x€");
    let m = s.expect(Pattern::regex(r"x(.)y").unwrap()).unwrap();
    assert_eq!(m.before(), b"y ");
    assert_eq!(m.group(1), Some("é".as_bytes()));
    assert_eq!(s.expect("\r\n").unwrap().before(), b"");
}

#[test]
fn regex_matches_raw_non_utf8_bytes() {
    let mut s = byte_by_byte(b"bin:\xff\xfe:end\n");
    let m = s
        .expect(Pattern::regex(r"bin:((?-u:\xFF\xFE)):end").unwrap())
        .unwrap();
    assert_eq!(m.group(1), Some(&b"\xff\xfe"[..]));
    assert_eq!(m.matched_str(), "bin:\u{FFFD}\u{FFFD}:end");
}

#[test]
fn many_expects_in_sequence_see_every_line_in_order() {
    let mut s = sh("seq 1 2000");
    let line = Pattern::regex(r"(\d+)\r\n").unwrap();
    for i in 1..=2000 {
        let m = s.expect(&line).unwrap();
        assert_eq!(m.before(), b"", "line {i}");
        assert_eq!(m.group(1), Some(i.to_string().as_bytes()), "line {i}");
    }
    assert_eq!(s.expect(Pattern::eof()).unwrap().before(), b"");
}

/// Plain lists of strings are pattern lists: arrays, slices, vectors, by value or by
/// reference, without wrapping each string in `Pattern::exact`.
#[test]
fn patterns_from_plain_lists_of_strings() {
    let mut s = sh("echo one two three four five six seven");
    assert_eq!(s.expect(["two", "one"]).unwrap().index(), 1);
    let list = vec!["three", "zzz"];
    assert_eq!(s.expect(&list).unwrap().matched(), b"three");
    assert_eq!(list.len(), 2, "the list is only borrowed");
    assert_eq!(s.expect(&["zzz", "four"][..]).unwrap().index(), 1);
    assert_eq!(s.expect(vec!["five"]).unwrap().matched(), b"five");
    let owned = vec!["six".to_owned(), "zzz".to_owned()];
    assert_eq!(s.expect(&owned).unwrap().matched(), b"six");
    let bytes: Vec<&[u8]> = vec![b"seven"];
    assert_eq!(s.expect(bytes).unwrap().matched(), b"seven");
}

/// Captures as text, by number and by name.
#[test]
fn captures_as_text() {
    let mut s = sh("echo 'name=Zoë age=7'");
    let m = s
        .expect(Pattern::regex(r"name=(?<name>\S+) age=(\d+)").unwrap())
        .unwrap();
    assert_eq!(m.name_str("name").as_deref(), Some("Zoë"));
    assert_eq!(m.group_str(2).as_deref(), Some("7"));
    assert_eq!(m.group_str(0).as_deref(), Some("name=Zoë age=7"));
    assert_eq!(m.group_str(3), None);
}
