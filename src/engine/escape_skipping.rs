//! Text mode for one pattern ([`Pattern::strip_escapes`]): the pattern is rewritten so that
//! terminal escape sequences may appear between any two characters it matches, and then
//! runs in the ordinary incremental matcher over the raw output.
//!
//! Rewriting the pattern, rather than matching against a second, stripped copy of the
//! output, keeps one buffer, one matcher and O(new bytes) scanning, and `before`, `matched`
//! and captures stay slices of what the program wrote (sequences included), so nothing is
//! lost when another pattern in the same call matches the raw bytes.
//!
//! The sequences skipped are the ones the session-wide text mode
//! ([`Session::set_strip_escapes`]) removes: CSI (`ESC [` ... final byte), OSC (`ESC ]` ...
//! BEL or `ESC \`), DCS/SOS/PM/APC strings (`ESC P`, `X`, `^`, `_` ... `ESC \`) and the other
//! `ESC` + intermediates + final byte sequences. No sequence is skipped before the first
//! character of a match, so a match starts at text, not at the colour change before it;
//! the exceptions are a pattern whose first part may match nothing (`x*%`), which may
//! start at the sequences before the first character it does match, and one anchored at a
//! line or text start (`(?m)^OK`), whose match starts at the anchor. Sequences are skipped
//! after a start anchor and before an end anchor; word boundaries (`\b`) still look at the
//! raw bytes next to them, so a sequence right before a word hides its boundary.
//!
//! [`Pattern::strip_escapes`]: crate::Pattern::strip_escapes
//! [`Session::set_strip_escapes`]: crate::Session::set_strip_escapes

use regex_syntax::hir::{Capture, Hir, HirKind, Look, Repetition};

use crate::error::{Error, Result};

/// Any run of complete escape sequences (possibly none), as a regex over bytes.
const ESCAPES: &str = r"(?-u:(?:\x1b\[[\x20-\x3f]*[\x40-\x7e]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_](?:[^\x1b]|\x1b[^\\])*\x1b\\|\x1b(?:[\x20-\x2f]+[\x30-\x7e]|[\x30-\x4f\x51-\x57\x59\x5a\x5c\x60-\x7e]))*)";

/// The source of a regex equivalent to `source` except that escape sequences may come
/// between any two characters it matches. `source` uses the syntax of
/// `regex::bytes::Regex`; an invalid `source` is an [`Error::InvalidArgument`] with the parser's message.
pub(crate) fn skip_escapes(source: &str) -> Result<String> {
    let hir = parse(source)?;
    Ok(Rewriter::new()?.rewrite(hir, true).to_string())
}

/// The source of a regex matching `needle` exactly, with escape sequences allowed between
/// its characters.
pub(crate) fn skip_escapes_in_literal(needle: &[u8]) -> Result<String> {
    Ok(Rewriter::new()?.literal(needle, true).to_string())
}

fn parse(pattern: &str) -> Result<Hir> {
    regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|e| {
            Error::InvalidArgument(format!("cannot rewrite the pattern for text mode: {e}"))
        })
}

struct Rewriter {
    escapes: Hir,
}

impl Rewriter {
    fn new() -> Result<Self> {
        Ok(Rewriter {
            escapes: parse(ESCAPES)?,
        })
    }

    /// `hir` with the escape run before every character it consumes, except where nothing
    /// can have been consumed yet (`at_start`).
    fn rewrite(&self, hir: Hir, at_start: bool) -> Hir {
        match hir.into_kind() {
            HirKind::Literal(literal) => self.literal(&literal.0, at_start),
            HirKind::Class(class) => self.before(Hir::class(class), at_start),
            kind @ (HirKind::Empty | HirKind::Look(_)) => rebuild(kind),
            HirKind::Repetition(repetition) => self.repetition(repetition, at_start),
            HirKind::Capture(capture) => self.capture(capture, at_start),
            HirKind::Concat(parts) => {
                let mut at_start = at_start;
                let mut rewritten = Vec::with_capacity(parts.len());
                for part in parts {
                    match part.kind() {
                        // A line or text start may be followed by sequences before the
                        // text (`^OK` on a coloured line)...
                        HirKind::Look(look) if is_start(*look) => {
                            rewritten.push(part);
                            at_start = false;
                            continue;
                        }
                        // ... and an end preceded by them (`OK$` before a colour reset).
                        HirKind::Look(look) if is_end(*look) => {
                            rewritten.push(self.escapes.clone());
                            rewritten.push(part);
                            continue;
                        }
                        _ => {}
                    }
                    let consumes = part.properties().maximum_len() != Some(0);
                    rewritten.push(self.rewrite(part, at_start));
                    at_start &= !consumes;
                }
                Hir::concat(rewritten)
            }
            HirKind::Alternation(branches) => Hir::alternation(
                branches
                    .into_iter()
                    .map(|branch| self.rewrite(branch, at_start))
                    .collect(),
            ),
        }
    }

    /// Every round after the first skips sequences first. At the start of the match the
    /// first round is peeled off and rewritten as the start, so `\d+` at the front of a
    /// pattern does not begin its match at a colour change.
    fn repetition(&self, repetition: Repetition, at_start: bool) -> Hir {
        let Repetition {
            min,
            max,
            greedy,
            sub,
        } = repetition;
        let consumes = sub.properties().maximum_len() != Some(0);
        if !at_start || !consumes || max == Some(0) {
            return Hir::repetition(Repetition {
                min,
                max,
                greedy,
                sub: Box::new(self.rewrite(*sub, at_start)),
            });
        }
        let first = self.rewrite((*sub).clone(), true);
        let later = Hir::repetition(Repetition {
            min: min.saturating_sub(1),
            max: max.map(|max| max - 1),
            greedy,
            sub: Box::new(self.rewrite(*sub, false)),
        });
        let rounds = Hir::concat(vec![first, later]);
        if min >= 1 {
            rounds
        } else {
            Hir::repetition(Repetition {
                min: 0,
                max: Some(1),
                greedy,
                sub: Box::new(rounds),
            })
        }
    }

    /// A group captures from its first character: the sequences before it are skipped
    /// outside the group, so a capture starts and ends at text.
    fn capture(&self, capture: Capture, at_start: bool) -> Hir {
        let consumes = capture.sub.properties().maximum_len() != Some(0);
        let group = Hir::capture(Capture {
            sub: Box::new(self.rewrite(*capture.sub, true)),
            ..capture
        });
        if at_start || !consumes {
            group
        } else {
            Hir::concat(vec![self.escapes.clone(), group])
        }
    }

    /// A literal, one character at a time (one byte at a time where it is not UTF-8).
    fn literal(&self, bytes: &[u8], at_start: bool) -> Hir {
        let mut parts = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let len = utf8_char_len(rest);
            let (char, tail) = rest.split_at(len);
            parts.push(self.before(Hir::literal(char), at_start && parts.is_empty()));
            rest = tail;
        }
        Hir::concat(parts)
    }

    fn before(&self, hir: Hir, at_start: bool) -> Hir {
        if at_start {
            hir
        } else {
            Hir::concat(vec![self.escapes.clone(), hir])
        }
    }
}

/// The length of the UTF-8 character at the front of `bytes`, or 1 if there is none.
fn utf8_char_len(bytes: &[u8]) -> usize {
    let width = match bytes[0] {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 1,
    };
    match bytes.get(..width).map(std::str::from_utf8) {
        Some(Ok(_)) => width,
        _ => 1,
    }
}

fn is_start(look: Look) -> bool {
    matches!(look, Look::Start | Look::StartLF | Look::StartCRLF)
}

fn is_end(look: Look) -> bool {
    matches!(look, Look::End | Look::EndLF | Look::EndCRLF)
}

fn rebuild(kind: HirKind) -> Hir {
    match kind {
        HirKind::Look(look) => Hir::look(look),
        _ => Hir::empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'h>(source: &str, hay: &'h [u8]) -> Option<&'h [u8]> {
        let re = regex::bytes::Regex::new(&skip_escapes(source).unwrap()).unwrap();
        re.find(hay).map(|m| m.as_bytes())
    }

    #[test]
    fn sequences_between_characters_are_skipped() {
        let hay = b"\x1b[1mN\x1b[0m\x1b]0;title\x07o\x1b(B way";
        assert_eq!(find("No", hay), Some(&b"N\x1b[0m\x1b]0;title\x07o"[..]));
        assert_eq!(
            find(r"o\x1b\(B", hay),
            Some(&b"o\x1b(B"[..]),
            "an ESC written in the pattern still matches itself"
        );
        assert_eq!(
            find("(?i)no w", b"N\x1b[7mO \x1b[mW"),
            Some(&b"N\x1b[7mO \x1b[mW"[..])
        );
        assert_eq!(find("no", b"n\x1b[m x o"), None);
    }

    #[test]
    fn the_match_and_its_captures_start_at_text() {
        let re = regex::bytes::Regex::new(&skip_escapes(r"id=(\d+)!").unwrap()).unwrap();
        let hay = b"\x1b[32mid=\x1b[1m4\x1b[0m2!";
        let caps = re.captures(hay).unwrap();
        assert_eq!(caps.get(0).unwrap().start(), 5);
        assert_eq!(&caps[1], b"4\x1b[0m2");
        let re = regex::bytes::Regex::new(&skip_escapes(r"a(x*)b").unwrap()).unwrap();
        assert_eq!(&re.captures(b"a\x1b[mb").unwrap()[1], b"");
    }

    #[test]
    fn literals_keep_utf8_characters_whole() {
        let re =
            regex::bytes::Regex::new(&skip_escapes_in_literal("é!".as_bytes()).unwrap()).unwrap();
        assert!(re.is_match("é\x1b[m!".as_bytes()));
        let raw = regex::bytes::Regex::new(&skip_escapes_in_literal(b"\xff\xfe").unwrap()).unwrap();
        assert!(raw.is_match(b"\xff\x1b[m\xfe"));
    }

    #[test]
    fn repetitions_alternations_and_anchors() {
        assert_eq!(
            find("(?m)^(ab)+$", b"x\nab\x1b[mab\x1b[Kab\n"),
            Some(&b"ab\x1b[mab\x1b[Kab"[..])
        );
        assert_eq!(find("yes|no", b"n\x1b[1mo"), Some(&b"n\x1b[1mo"[..]));
        // Anchors: sequences after a line start and before a line end.
        assert_eq!(
            find("(?m)^OK$", b"x\n\x1b[32mOK\x1b[0m\n"),
            Some(&b"\x1b[32mOK\x1b[0m"[..])
        );
        assert_eq!(find("^a", b"\x1b[1ma"), Some(&b"\x1b[1ma"[..]));
        assert_eq!(find("^a", b"b\x1b[1ma"), None);
    }

    #[test]
    fn a_repetition_at_the_start_starts_at_text() {
        let hay = b"load \x1b[1m4\x1b[0m2% idle";
        assert_eq!(find(r"\d+% idle", hay), Some(&b"4\x1b[0m2% idle"[..]));
        assert_eq!(find(r"\d{2}%", hay), Some(&b"4\x1b[0m2%"[..]));
        assert_eq!(find(r"\d{0,3}%", hay), Some(&b"4\x1b[0m2%"[..]));
        // A pattern whose first character is optional may start at the sequence before
        // its first character (documented).
        assert_eq!(find(r"x*%", b"\x1b[m%"), Some(&b"\x1b[m%"[..]));
        assert_eq!(find(r"\d*?2", hay), Some(&b"4\x1b[0m2"[..]));
    }
}
