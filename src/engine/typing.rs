//! Typing like a person: [`Session::send_slow`] (Tcl Expect's `send -s`) and
//! [`Session::send_human`] (`send -h`), their settings, and the small random number
//! generator behind the human rhythm.
//!
//! The pauses between pieces are waits with a [`Deadline`] that keep reading the output
//! into the buffers, as every wait of the engine does: a program that writes while we type
//! (an echo, a flood of output) never blocks on a full terminal.

use std::ops::Range;
use std::time::Duration;

use crate::deadline::Deadline;
use crate::engine::session::Session;
use crate::engine::transport::Transport;
use crate::error::{Context, Error, Result};

/// How [`Session::send_slow`] paces its bytes: `chunk` characters at a time, with `pause`
/// between two chunks (Tcl Expect's `send_slow {chunk pause}`).
///
/// The default is one character every 10 ms, a fast typist hitting one key at a time.
///
/// ```
/// use std::time::Duration;
/// use ptychat::SlowTyping;
/// let typing = SlowTyping { chunk: 4, pause: Duration::from_millis(2) };
/// assert_eq!(SlowTyping::default().chunk, 1);
/// # let _ = typing;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowTyping {
    /// How many characters each write holds (at least 1). A character is a UTF-8
    /// sequence, or one byte of input that is not UTF-8, so a chunk never splits a
    /// character (as Tcl Expect 5.45 counts them).
    pub chunk: usize,
    /// The pause between two chunks; there is none before the first or after the last.
    pub pause: Duration,
}

impl Default for SlowTyping {
    fn default() -> Self {
        SlowTyping {
            chunk: 1,
            pause: Duration::from_millis(10),
        }
    }
}

/// How [`Session::send_human`] paces its characters, as Tcl Expect's
/// `send_human {average word_end variability min max}`.
///
/// Before each character but the first, it pauses for a time drawn from a Weibull
/// distribution: `scale * (-ln u) ^ (1 / variability)` for a uniform `u` in (0, 1],
/// where the scale is `word_end` for the character that ends a word (a space or an ASCII
/// punctuation mark right after a letter, digit or other character) and `average`
/// otherwise; the result is then clipped to `min..=max`. With `variability` 1 the gaps
/// are exponential and their mean is the scale; larger values make the rhythm more even
/// (0.1 is very irregular, 10 almost regular). As in Tcl Expect, clipping moves the real
/// average away from `average` when it cuts off much of the distribution.
///
/// The default is the example of Expect's manual: `{.1 .3 1 .05 2}`, an average of
/// 100 ms, 300 ms at word ends, exponential gaps, clipped to 50 ms..2 s.
///
/// With a [`seed`](HumanTyping::seed), the gaps are the same on every call (for
/// reproducible tests); without one, each call draws new ones.
///
/// ```
/// use std::time::Duration;
/// use ptychat::HumanTyping;
/// let quick = HumanTyping {
///     average: Duration::from_millis(5),
///     word_end: Duration::from_millis(20),
///     min: Duration::ZERO,
///     max: Duration::from_millis(50),
///     seed: Some(7),
///     ..HumanTyping::default()
/// };
/// assert_eq!(quick.variability, 1.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HumanTyping {
    /// The scale of the gap before an ordinary character.
    pub average: Duration,
    /// The scale of the gap before the character that ends a word.
    pub word_end: Duration,
    /// The Weibull shape: 1 is exponential; smaller is more irregular, larger more
    /// even. Must be positive.
    pub variability: f64,
    /// The shortest gap.
    pub min: Duration,
    /// The longest gap (at least `min`).
    pub max: Duration,
    /// The random generator's seed; `None` seeds it anew on each call.
    pub seed: Option<u64>,
}

impl Default for HumanTyping {
    fn default() -> Self {
        HumanTyping {
            average: Duration::from_millis(100),
            word_end: Duration::from_millis(300),
            variability: 1.0,
            min: Duration::from_millis(50),
            max: Duration::from_secs(2),
            seed: None,
        }
    }
}

impl HumanTyping {
    fn check(&self) -> Result<()> {
        if !(self.variability > 0.0 && self.variability.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "human typing: the variability must be a positive number, not {}",
                self.variability
            )));
        }
        if self.max < self.min {
            return Err(Error::InvalidArgument(format!(
                "human typing: the longest gap ({:?}) is shorter than the shortest ({:?})",
                self.max, self.min
            )));
        }
        Ok(())
    }

    /// The gap before a character, for a uniform draw `u` in (0, 1].
    fn gap(&self, word_end: bool, u: f64) -> Duration {
        let scale = if word_end {
            self.word_end
        } else {
            self.average
        };
        let seconds = scale.as_secs_f64() * (-u.ln()).powf(1.0 / self.variability);
        // A huge or NaN value is clipped to the maximum.
        Duration::try_from_secs_f64(seconds)
            .unwrap_or(self.max)
            .clamp(self.min, self.max)
    }
}

/// SplitMix64 (Steele, Lea and Flood): a tiny generator, good enough for typing rhythms
/// and reproducible from its seed. Not for anything secret.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Seeded from the standard library's per-process random hash keys and the clock.
    pub(crate) fn from_entropy() -> Self {
        use std::hash::BuildHasher;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        SplitMix64(std::collections::hash_map::RandomState::new().hash_one(nanos))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in (0, 1] (never 0, so its logarithm is finite).
    pub(crate) fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}

/// The byte ranges of `data`'s characters: each UTF-8 sequence, and each byte that is not
/// part of one.
fn characters(data: &[u8]) -> Vec<Range<usize>> {
    let mut ranges = Vec::with_capacity(data.len());
    let mut at = 0;
    for chunk in data.utf8_chunks() {
        for c in chunk.valid().chars() {
            ranges.push(at..at + c.len_utf8());
            at += c.len_utf8();
        }
        for _ in chunk.invalid() {
            ranges.push(at..at + 1);
            at += 1;
        }
    }
    ranges
}

/// True for the characters that end a word: white space and ASCII punctuation (Tcl
/// Expect also counts non-ASCII punctuation; here that types like a letter).
fn ends_word(character: &[u8]) -> bool {
    match character {
        [b] => b.is_ascii_whitespace() || b.is_ascii_punctuation(),
        _ => std::str::from_utf8(character)
            .ok()
            .and_then(|s| s.chars().next())
            .is_some_and(char::is_whitespace),
    }
}

/// The pieces `send_slow` writes, each with the pause before it.
fn slow_pieces(data: &[u8], typing: &SlowTyping) -> Vec<(Range<usize>, Duration)> {
    characters(data)
        .chunks(typing.chunk)
        .enumerate()
        .map(|(i, chars)| {
            let range = chars[0].start..chars[chars.len() - 1].end;
            let pause = if i == 0 { Duration::ZERO } else { typing.pause };
            (range, pause)
        })
        .collect()
}

/// The characters `send_human` writes, each with the gap before it.
fn human_pieces(data: &[u8], typing: &HumanTyping) -> Vec<(Range<usize>, Duration)> {
    let mut rng = typing
        .seed
        .map_or_else(SplitMix64::from_entropy, SplitMix64::new);
    let mut in_word = true;
    characters(data)
        .into_iter()
        .enumerate()
        .map(|(i, range)| {
            let ends = ends_word(&data[range.clone()]);
            let gap = typing.gap(in_word && ends, rng.unit());
            in_word = !ends;
            (range, if i == 0 { Duration::ZERO } else { gap })
        })
        .collect()
}

impl<T: Transport> Session<T> {
    /// Sends `data` a few characters at a time with a pause between the pieces, as Tcl
    /// Expect's `send -s`: for programs that lose input that arrives too fast (a serial
    /// console, a program that flushes its input), or to watch a program react key by key.
    ///
    /// Each piece is written as [`send`](Session::send) writes, waiting up to the
    /// session's deadline for the program to read it; the pauses are not counted against
    /// that deadline (the whole call takes about `(pieces - 1) * pause` more). While it
    /// pauses, the program's output keeps being read into the buffer, so a program
    /// writing a lot meanwhile does not block. Transcripts see each piece as it is sent.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ptychat::{Command, SlowTyping};
    /// let mut cat = Command::new("cat").echo(false).spawn()?;
    /// cat.send_slow("slowly\r", SlowTyping { chunk: 2, pause: Duration::from_millis(1) })?;
    /// cat.expect("slowly\r\n")?;
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn send_slow(&mut self, data: impl AsRef<[u8]>, typing: SlowTyping) -> Result<()> {
        if typing.chunk == 0 {
            return Err(Error::InvalidArgument(
                "slow typing: a chunk must hold at least one character".into(),
            ));
        }
        let data = data.as_ref();
        self.send_paced(data, slow_pieces(data, &typing))
    }

    /// Sends `data` one character at a time with irregular gaps like a person typing, as
    /// Tcl Expect's `send -h`; see [`HumanTyping`] for the rhythm. Reading goes on during
    /// the gaps and each character waits for the program as in
    /// [`send_slow`](Session::send_slow).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ptychat::{Command, HumanTyping};
    /// let mut cat = Command::new("cat").echo(false).spawn()?;
    /// let typing = HumanTyping {
    ///     average: Duration::from_millis(1),
    ///     word_end: Duration::from_millis(3),
    ///     min: Duration::ZERO,
    ///     max: Duration::from_millis(10),
    ///     seed: Some(42),
    ///     ..HumanTyping::default()
    /// };
    /// cat.send_human("hello, world\r", typing)?;
    /// cat.expect("hello, world\r\n")?;
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn send_human(&mut self, data: impl AsRef<[u8]>, typing: HumanTyping) -> Result<()> {
        typing.check()?;
        let data = data.as_ref();
        self.send_paced(data, human_pieces(data, &typing))
    }

    /// Writes `pieces` of `data` in order, pausing before each as long as it says while
    /// reading the output.
    fn send_paced(&mut self, data: &[u8], pieces: Vec<(Range<usize>, Duration)>) -> Result<()> {
        // The whole text, not each piece, is what a terminal's line limit applies to.
        self.transport_mut().check_send(data).context("sending")?;
        for (range, pause) in pieces {
            if !pause.is_zero() {
                self.read_while_waiting(|_| None, &Deadline::after(Some(pause)))?;
            }
            let piece = &data[range];
            self.write_all(piece)?;
            self.sent(piece, false);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_pieces_keep_characters_whole_and_pause_between() {
        let typing = SlowTyping {
            chunk: 2,
            pause: Duration::from_millis(5),
        };
        let data = "aé\u{1F600}bc".as_bytes();
        let pieces = slow_pieces(data, &typing);
        let texts: Vec<&[u8]> = pieces.iter().map(|(r, _)| &data[r.clone()]).collect();
        assert_eq!(
            texts,
            ["aé".as_bytes(), "\u{1F600}b".as_bytes(), "c".as_bytes()]
        );
        let pauses: Vec<Duration> = pieces.iter().map(|(_, p)| *p).collect();
        assert_eq!(
            pauses,
            [Duration::ZERO, typing.pause, typing.pause],
            "no pause before the first piece"
        );
        // Bytes that are not UTF-8 count one each.
        assert_eq!(slow_pieces(b"\xff\xfe", &typing).len(), 1);
        assert!(slow_pieces(b"", &typing).is_empty());
    }

    #[test]
    fn human_gaps_are_reproducible_clipped_and_longer_at_word_ends() {
        let typing = HumanTyping {
            average: Duration::from_millis(10),
            word_end: Duration::from_secs(100),
            variability: 1.0,
            min: Duration::from_millis(1),
            max: Duration::from_millis(500),
            seed: Some(1),
        };
        let data = b"ab cd, ef";
        let first = human_pieces(data, &typing);
        assert_eq!(first, human_pieces(data, &typing), "same seed, same gaps");
        assert_eq!(first.len(), data.len());
        assert_eq!(first[0].1, Duration::ZERO);
        for (_, gap) in &first[1..] {
            assert!((typing.min..=typing.max).contains(gap), "{gap:?}");
        }
        // The space after "ab" and the comma after "cd" end words; the space after the
        // comma does not (the word already ended).
        let ends: Vec<bool> = [2, 5, 6]
            .iter()
            .map(|&i| first[i].1 == typing.max)
            .collect();
        assert_eq!(ends, [true, true, false]);
        let other = HumanTyping {
            seed: Some(2),
            ..typing
        };
        assert_ne!(first, human_pieces(data, &other));
    }

    #[test]
    fn weibull_gap_follows_the_formula() {
        let typing = HumanTyping {
            average: Duration::from_secs(1),
            variability: 2.0,
            min: Duration::ZERO,
            max: Duration::from_secs(100),
            ..HumanTyping::default()
        };
        // u = e^-4: (-ln u)^(1/2) = 2 seconds.
        let gap = typing.gap(false, (-4.0f64).exp());
        assert!((gap.as_secs_f64() - 2.0).abs() < 1e-9, "{gap:?}");
        assert_eq!(typing.gap(false, 1.0), Duration::ZERO);
    }

    #[test]
    fn the_generator_is_uniform_enough_and_never_zero() {
        let mut rng = SplitMix64::new(0);
        let draws: Vec<f64> = (0..10_000).map(|_| rng.unit()).collect();
        assert!(draws.iter().all(|&u| u > 0.0 && u <= 1.0));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = HumanTyping {
            variability: 0.0,
            ..HumanTyping::default()
        };
        assert!(bad.check().is_err());
        let bad = HumanTyping {
            min: Duration::from_secs(2),
            max: Duration::from_secs(1),
            ..HumanTyping::default()
        };
        assert!(bad.check().is_err());
        assert!(HumanTyping::default().check().is_ok());
    }
}
