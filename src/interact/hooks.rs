//! Hooks: patterns watched on the bytes passing each way, and the callbacks they run
//! ([`Flow`], [`Reply`]).

use crate::error::{Error, Result};
use crate::matched::{Match, MatchKind};
use crate::pattern::{Kind, Pattern};
use crate::scanner::Scanner;
#[cfg(doc)]
use crate::session::Session;

#[cfg(doc)]
use super::outcome::InteractOutcome;

/// How much of each stream hooks keep for matching, at least: a match must fit in it.
pub(super) const MIN_WINDOW: usize = 8 * 1024;

/// What an interact hook tells the loop to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep interacting.
    Continue,
    /// Stop interacting: [`interact`](Session::interact) returns
    /// [`InteractOutcome::Stopped`] with the program still running.
    Stop,
}

/// What a hook can do besides choosing the [`Flow`]: send bytes to the program and show
/// bytes to the user.
#[derive(Debug, Default)]
pub struct Reply {
    pub(super) send: Vec<u8>,
    pub(super) show: Vec<u8>,
}

impl Reply {
    /// Sends `data` to the program (after the bytes that passed through with the match;
    /// filters do not apply).
    pub fn send(&mut self, data: impl AsRef<[u8]>) {
        self.send.extend_from_slice(data.as_ref());
    }

    /// Writes `data` to the user's output (after the bytes that passed through with the
    /// match).
    pub fn show(&mut self, data: impl AsRef<[u8]>) {
        self.show.extend_from_slice(data.as_ref());
    }
}

pub(super) type Callback<'a> = Box<dyn FnMut(&Match, &mut Reply) -> Flow + 'a>;

/// Hooks match data: an end, a deadline or a signal never comes through the stream, and a
/// pattern that matches empty text would match forever.
pub(super) fn check_hook_pattern(pattern: &Pattern) -> Result<()> {
    let matches_empty = match &pattern.kind {
        Kind::Exact(finder) => finder.needle().is_empty(),
        Kind::Regex(re) => re.regex.is_match(b""),
        Kind::NBytes(n) => *n == 0,
        _ => {
            return Err(Error::InvalidArgument(format!(
                "{pattern} cannot be an interact hook: hooks match text, regexes or nbytes"
            )));
        }
    };
    if matches_empty {
        return Err(Error::InvalidArgument(format!(
            "the interact hook pattern {pattern} matches empty text"
        )));
    }
    Ok(())
}

/// Incremental matching of hook patterns on one direction of the stream.
pub(super) struct Watch<'p> {
    patterns: &'p [Pattern],
    scanners: Vec<Scanner<'p>>,
    /// The unmatched bytes kept for matching.
    pub(super) window: Vec<u8>,
    /// The absolute stream position of `window[0]`.
    base: u64,
    keep: usize,
}

impl<'p> Watch<'p> {
    pub(super) fn new(patterns: &'p [Pattern]) -> Self {
        let keep = patterns
            .iter()
            .map(|p| match &p.kind {
                Kind::Exact(finder) => finder.needle().len(),
                Kind::NBytes(n) => *n,
                _ => 0,
            })
            .fold(MIN_WINDOW, usize::max);
        Watch {
            patterns,
            scanners: patterns.iter().map(|p| Scanner::new(p, 0)).collect(),
            window: Vec::new(),
            base: 0,
            keep,
        }
    }

    /// Adds `data` to the stream; returns the matches it completed, in stream order.
    pub(super) fn feed(&mut self, data: &[u8]) -> Vec<Match> {
        if self.patterns.is_empty() {
            return Vec::new();
        }
        self.window.extend_from_slice(data);
        let mut found = Vec::new();
        loop {
            let mut best: Option<(usize, crate::scanner::Found)> = None;
            for (index, scanner) in self.scanners.iter_mut().enumerate() {
                if let Some(f) = scanner.find(&self.window, self.base) {
                    if best
                        .as_ref()
                        .is_none_or(|(_, b)| f.range.start < b.range.start)
                    {
                        best = Some((index, f));
                    }
                }
            }
            let Some((index, f)) = best else { break };
            let start = f.range.start;
            let end = f.range.end;
            let (groups, names) = match f.groups {
                Some(groups) => (
                    groups
                        .ranges
                        .into_iter()
                        .map(|g| g.map(|r| r.start - start..r.end - start))
                        .collect(),
                    groups.names,
                ),
                None => (Vec::new(), std::sync::Arc::from([])),
            };
            found.push(Match {
                index,
                kind: MatchKind::Data,
                before: self.window[..start].to_vec(),
                matched: self.window[start..end].to_vec(),
                groups,
                names,
            });
            // Matches do not overlap: the next one starts after this one.
            self.window.drain(..end);
            self.base += end as u64;
            self.scanners = self
                .patterns
                .iter()
                .map(|p| Scanner::new(p, self.base))
                .collect();
        }
        // Bound the window; the scanners cope with bytes dropped under them.
        if self.window.len() > 2 * self.keep {
            let cut = self.window.len() - self.keep;
            self.window.drain(..cut);
            self.base += cut as u64;
        }
        found
    }
}

/// Runs the callbacks of `matches` in order until one says stop.
pub(super) fn run_hooks(
    callbacks: &mut [Callback<'_>],
    matches: &[Match],
    reply: &mut Reply,
) -> Flow {
    for m in matches {
        if (callbacks[m.index])(m, reply) == Flow::Stop {
            return Flow::Stop;
        }
    }
    Flow::Continue
}
