//! Typed command arguments: seconds, sizes, switches, signals and exit codes.
//!
//! Each conversion is used twice: when a script is parsed (for arguments without
//! variables, so mistakes show up before anything runs) and when a command runs.

use std::str::FromStr;
use std::time::Duration;

use crate::{ExitStatus, Signal};

fn text(value: &[u8]) -> &str {
    std::str::from_utf8(value).unwrap_or("\u{fffd}")
}

/// Parses a deadline as scripts and `ptychat chat` write it: seconds, fractions allowed
/// (`5`, `0.25`), or `none` for no deadline.
///
/// ```
/// use std::time::Duration;
/// use ptychat::script::parse_seconds;
/// assert_eq!(parse_seconds(b"0.25"), Ok(Some(Duration::from_millis(250))));
/// assert_eq!(parse_seconds(b"none"), Ok(None));
/// assert!(parse_seconds(b"-1").is_err());
/// ```
pub fn seconds(value: &[u8]) -> Result<Option<Duration>, String> {
    let text = text(value);
    if text == "none" {
        return Ok(None);
    }
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .map(Some)
        .ok_or_else(|| format!("expected seconds (like 5 or 0.5) or `none`, found `{text}`"))
}

/// Like [`seconds`], where `none` makes no sense (`sleep`).
pub(crate) fn duration(value: &[u8]) -> Result<Duration, String> {
    seconds(value)?.ok_or_else(|| "expected seconds (like 5 or 0.5), found `none`".into())
}

/// A terminal dimension: 1 to 65535.
pub(crate) fn dimension(value: &[u8]) -> Result<u16, String> {
    let text = text(value);
    text.parse::<u16>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("expected a number from 1 to 65535, found `{text}`"))
}

/// A row or column of the screen, counted from 0.
pub(crate) fn cell_index(value: &[u8]) -> Result<u16, String> {
    let text = text(value);
    text.parse::<u16>()
        .map_err(|_| format!("expected a row or column from 0 to 65535, found `{text}`"))
}

/// `on` or `off`.
pub(crate) fn switch(value: &[u8]) -> Result<bool, String> {
    match text(value) {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("expected `on` or `off`, found `{other}`")),
    }
}

/// A signal by name (`TERM`, `SIGTERM`, `term`) or number (`15`).
pub(crate) fn signal(value: &[u8]) -> Result<Signal, String> {
    let text = text(value);
    let signal = match text.parse::<i32>() {
        Ok(number) => Signal::try_from(number).ok(),
        Err(_) => {
            let upper = text.to_ascii_uppercase();
            let name = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            Signal::from_str(&name).ok()
        }
    };
    signal.ok_or_else(|| format!("unknown signal `{text}` (try TERM, INT, HUP, KILL or a number)"))
}

/// An exit code for `exit`: 0 to 255.
pub(crate) fn exit_code(value: &[u8]) -> Result<i32, String> {
    let text = text(value);
    text.parse::<u8>()
        .map(i32::from)
        .map_err(|_| format!("expected an exit code from 0 to 255, found `{text}`"))
}

/// The numbers of a `set send_slow` or `set send_human`, given as separate words or
/// in one quoted word (`"1 0.1"`, as Tcl Expect's list).
fn numbers(values: &[Vec<u8>]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| {
            text(v)
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn seconds_value(word: &str, what: &str) -> Result<Duration, String> {
    word.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{what}: expected seconds (like 0.1), found `{word}`"))
}

/// `set send_slow CHARACTERS SECONDS`: as Tcl Expect's `send_slow`.
pub(crate) fn slow_typing(values: &[Vec<u8>]) -> Result<crate::SlowTyping, String> {
    match numbers(values).as_slice() {
        [chunk, pause] => Ok(crate::SlowTyping {
            chunk: chunk
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| {
                    format!("expected a positive number of characters, found `{chunk}`")
                })?,
            pause: seconds_value(pause, "the pause")?,
        }),
        _ => Err("expected two values: CHARACTERS SECONDS (like `set send_slow 1 0.1`)".into()),
    }
}

/// `set send_human AVERAGE WORD_END VARIABILITY MIN MAX [SEED]`: as Tcl Expect's
/// `send_human`, with an optional seed for the same rhythm on every run.
pub(crate) fn human_typing(values: &[Vec<u8>]) -> Result<crate::HumanTyping, String> {
    let words = numbers(values);
    let (five, seed) = match words.as_slice() {
        [a, b, c, d, e] => ([a, b, c, d, e], None),
        [a, b, c, d, e, seed] => ([a, b, c, d, e], Some(seed)),
        _ => {
            return Err(
                "expected five values: AVERAGE WORD_END VARIABILITY MIN MAX, and \
                        optionally a SEED (like `set send_human .1 .3 1 .05 2`)"
                    .into(),
            );
        }
    };
    let variability = five[2]
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| {
            format!(
                "the variability must be a positive number, not `{}`",
                five[2]
            )
        })?;
    let seed = match seed {
        Some(seed) => Some(
            seed.parse::<u64>()
                .map_err(|_| format!("the seed must be a whole number, not `{seed}`"))?,
        ),
        None => None,
    };
    let typing = crate::HumanTyping {
        average: seconds_value(five[0], "the average")?,
        word_end: seconds_value(five[1], "the word-end average")?,
        variability,
        min: seconds_value(five[3], "the minimum")?,
        max: seconds_value(five[4], "the maximum")?,
        seed,
    };
    if typing.max < typing.min {
        return Err(format!(
            "the maximum ({}) is smaller than the minimum ({})",
            five[4], five[3]
        ));
    }
    Ok(typing)
}

/// What `assert_exit` expects: an exit code, or a signal by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitExpectation {
    Code(i32),
    Signal(Signal),
}

impl ExitExpectation {
    pub(crate) fn parse(value: &[u8]) -> Result<Self, String> {
        if value.first().is_some_and(u8::is_ascii_digit) {
            exit_code(value).map(ExitExpectation::Code)
        } else {
            signal(value).map(ExitExpectation::Signal)
        }
    }

    /// Whether the program ended this way. A code above 128 also accepts death by signal
    /// `code - 128`, the way shells (and `$status`) report it.
    pub(crate) fn accepts(self, status: ExitStatus) -> bool {
        match (self, status) {
            (ExitExpectation::Code(c), ExitStatus::Exited(e)) => c == e,
            (ExitExpectation::Code(c), status @ ExitStatus::Signaled(_)) => {
                c == status.shell_code()
            }
            (ExitExpectation::Signal(a), ExitStatus::Signaled(b)) => a == b,
            (ExitExpectation::Signal(_), ExitStatus::Exited(_)) => false,
        }
    }
}

/// The key for `sendcontrol`: one letter or one of `@ [ \ ] ^ _ ?`.
pub(crate) fn control_key(value: &[u8]) -> Result<char, String> {
    match value {
        [b] if b.is_ascii_alphabetic() || b"@[\\]^_?".contains(b) => Ok(char::from(*b)),
        _ => Err(format!(
            "expected one letter or one of @ [ \\ ] ^ _ ? (like `sendcontrol c` for Ctrl-C), \
             found `{}`",
            text(value)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds() {
        assert_eq!(seconds(b"5"), Ok(Some(Duration::from_secs(5))));
        assert_eq!(seconds(b"0.25"), Ok(Some(Duration::from_millis(250))));
        assert_eq!(seconds(b"none"), Ok(None));
        for bad in [&b"-1"[..], b"abc", b"inf", b"NaN", b"", b"1e400"] {
            assert!(seconds(bad).is_err(), "{bad:?}");
        }
        assert!(duration(b"none").is_err());
    }

    #[test]
    fn parses_signals_and_exit_expectations() {
        assert_eq!(signal(b"TERM"), Ok(Signal::SIGTERM));
        assert_eq!(signal(b"sigint"), Ok(Signal::SIGINT));
        assert_eq!(signal(b"9"), Ok(Signal::SIGKILL));
        assert!(signal(b"NOPE").is_err());
        assert_eq!(ExitExpectation::parse(b"3"), Ok(ExitExpectation::Code(3)));
        assert_eq!(
            ExitExpectation::parse(b"HUP"),
            Ok(ExitExpectation::Signal(Signal::SIGHUP))
        );
        assert!(ExitExpectation::parse(b"256").is_err());
        let term = ExitStatus::Signaled(Signal::SIGTERM);
        assert!(ExitExpectation::Code(143).accepts(term));
        assert!(ExitExpectation::Signal(Signal::SIGTERM).accepts(term));
        assert!(!ExitExpectation::Code(0).accepts(term));
        assert!(ExitExpectation::Code(0).accepts(ExitStatus::Exited(0)));
        assert_eq!(term.shell_code(), 143);
    }

    #[test]
    fn parses_small_things() {
        assert_eq!(dimension(b"40"), Ok(40));
        assert!(dimension(b"0").is_err());
        assert!(dimension(b"70000").is_err());
        assert_eq!(switch(b"off"), Ok(false));
        assert!(switch(b"no").is_err());
        assert_eq!(control_key(b"c"), Ok('c'));
        assert_eq!(control_key(b"\\"), Ok('\\'));
        assert!(control_key(b"cc").is_err());
        assert!(control_key(b"1").is_err());
    }
}
