//! Text mode: byte patterns matched against the output with escape sequences removed,
//! while transcripts still see what the program wrote.

mod common;

use common::{python, spawn};
use ptychat::{Direction, LogWriter, Pattern, Shared};

/// A program that colours each letter of "No thanks" and flushes between the letter and
/// its sequences, so sequences arrive in reads of their own or split across reads.
fn colourful() -> ptychat::PtySession {
    spawn(&mut python(
        "import sys\n\
         for ch in 'No thanks':\n\
         \x20   for part in ('\\x1b[1;3', '1m', ch, '\\x1b[', '0m'):\n\
         \x20       sys.stdout.write(part); sys.stdout.flush()\n\
         print('\\x1b]0;a title\\x07 done')",
    ))
}

#[test]
fn text_mode_matches_what_a_person_reads() {
    let mut s = colourful();
    s.set_strip_escapes(true);
    assert!(s.strip_escapes());
    let m = s.expect("No thanks").unwrap();
    assert_eq!(m.before(), b"");
    let m = s.expect(Pattern::regex(r"(\w+)\r\n").unwrap()).unwrap();
    assert_eq!(m.before(), b" ");
    assert_eq!(m.group_str(1).unwrap(), "done");
}

#[test]
fn without_text_mode_the_sequences_are_in_the_way() {
    let mut s = colourful();
    // The program ends without the plain text ever appearing.
    let err = s.expect("No thanks").unwrap_err();
    assert!(err.is_eof(), "{err}");
    assert!(err.to_string().contains(r"\e[1;31mN\e[0m"), "{err}");
}

#[test]
fn transcripts_still_see_the_sequences() {
    let mut s = colourful();
    s.set_strip_escapes(true);
    let log = Shared::new(LogWriter::new(Vec::new(), Direction::Output));
    s.add_transcript(Box::new(log.clone()));
    s.expect("done").unwrap();
    let logged = String::from_utf8(log.lock().get_ref().clone()).unwrap();
    assert!(logged.contains("\x1b[1;31mN\x1b[0m"), "{logged:?}");
}

/// `Pattern::strip_escapes`: text mode for one pattern; the others still see raw bytes,
/// and what a match returns is what the program wrote.
#[test]
fn one_pattern_in_text_mode_beside_raw_patterns() {
    let mut s = colourful();
    let m = s
        .expect([
            // A raw pattern that would match the sequences written in it.
            Pattern::exact("\x1b[0mnever"),
            Pattern::exact("No thanks").strip_escapes().unwrap(),
        ])
        .unwrap();
    assert_eq!(m.index(), 1);
    assert_eq!(m.before(), b"\x1b[1;31m", "the match starts at the text");
    assert!(m.matched().starts_with(b"N\x1b[0m\x1b[1;31mo"), "{m:?}");
    assert!(m.matched().ends_with(b"s"), "{m:?}");
    // The raw pattern still matches raw bytes; the rest of the output is intact.
    let m = s.expect(Pattern::exact("\x1b[0m\x1b]0;a title")).unwrap();
    assert_eq!(m.before(), b"");
    s.expect(Pattern::eof()).unwrap();
    assert!(s.wait().unwrap().success());
}

#[test]
fn regexes_and_globs_in_text_mode_keep_captures_and_messages() {
    let mut s = colourful();
    let thanks = Pattern::regex(r"No (?<what>t\w+) done").unwrap();
    let m = s.expect(thanks.strip_escapes().unwrap()).unwrap();
    // A capture is the raw bytes from its first character to its last.
    let what = m.name("what").unwrap();
    assert!(what.starts_with(b"t\x1b[0m"), "{what:?}");
    assert!(what.ends_with(b"s"), "{what:?}");

    let mut s = colourful();
    let m = s
        .expect(Pattern::glob("N*ks").unwrap().strip_escapes().unwrap())
        .unwrap();
    assert!(m.matched().starts_with(b"N\x1b[0m"), "{m:?}");

    // A timeout names the pattern as written and says it is in text mode.
    let mut s = colourful();
    let err = s
        .expect(Pattern::exact("Yes please").strip_escapes().unwrap())
        .unwrap_err();
    assert!(err.is_eof(), "{err}");
    assert!(
        err.to_string()
            .contains("\"Yes please\" (escapes stripped)"),
        "{err}"
    );
}

#[test]
fn a_pattern_in_text_mode_needs_the_whole_sequence() {
    // A sequence is skipped only when complete: a stray ESC is an ordinary byte.
    let mut s = spawn(&mut python(
        "import sys; sys.stdout.write('N\\x1b\\x1b[mo or N\\x1b[2Ko!\\n')",
    ));
    let m = s
        .expect(Pattern::exact("No").strip_escapes().unwrap())
        .unwrap();
    assert_eq!(m.before(), b"N\x1b\x1b[mo or ");
    assert_eq!(m.matched(), b"N\x1b[2Ko");
}

#[test]
fn a_builder_regex_cannot_be_put_in_text_mode() {
    let built = regex::bytes::RegexBuilder::new("no")
        .case_insensitive(true)
        .build()
        .unwrap();
    let err = Pattern::from(built).strip_escapes().unwrap_err();
    assert!(
        err.to_string().contains("write them inline, like (?i)"),
        "{err}"
    );
}
