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
