//! Hooks: patterns watched on the bytes passing each way, and the callbacks they run
//! ([`Flow`], [`Reply`]).

use crate::engine::buffer::Buffer;
use crate::engine::matched::Match;
use crate::engine::matcher::MatchSet;
use crate::engine::pattern::{Kind, Pattern};
#[cfg(doc)]
use crate::engine::session::Session;
use crate::error::{Error, Result};

#[cfg(doc)]
use super::outcome::InteractOutcome;

/// What an interact hook tells the loop to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep interacting.
    Continue,
    /// Stop interacting: [`interact`](Session::interact) returns
    /// [`InteractOutcome::Stopped`] with the program still running. The hooks of the
    /// other matches completed by the same read still run first (as Expect runs every
    /// action a read completes).
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

/// Hook patterns on one direction of the stream: a bounded buffer of what passed and the
/// crate's one matcher core over it, as `expect` has over a session's output.
pub(super) struct Watch<'p> {
    /// The unmatched bytes kept for matching; the oldest are dropped beyond its maximum,
    /// as in a session under [`BufferFull::DiscardOldest`](crate::BufferFull).
    pub(super) window: Buffer,
    set: MatchSet<'p>,
}

impl<'p> Watch<'p> {
    /// The window keeps at least the longest fixed-length pattern, and never less than
    /// the buffer's own floor of one read (64 KiB), so a regex match up to that size is seen
    /// whole.
    pub(super) fn new(patterns: &'p [Pattern]) -> Self {
        let keep = patterns
            .iter()
            .map(|p| match &p.kind {
                Kind::Exact(finder) => finder.needle().len(),
                Kind::NBytes(n) => *n,
                _ => 0,
            })
            .fold(0, usize::max);
        Watch {
            window: Buffer::new(keep),
            set: MatchSet::new(patterns, 0).consuming(),
        }
    }

    /// Adds `data` to the stream; returns the matches it completed, in stream order. The
    /// whole chunk is matched (with the window before it) before the window is cut back to
    /// its size, so a chunk larger than the window loses no match.
    pub(super) fn feed(&mut self, data: &[u8]) -> Vec<Match> {
        if self.set.patterns().is_empty() {
            return Vec::new();
        }
        self.window.extend(data);
        let found = std::iter::from_fn(|| self.set.take_match(&mut self.window)).collect();
        self.window.enforce_max();
        found
    }
}

/// Runs the callbacks of all `matches` in order; [`Flow::Stop`] if any said stop.
pub(super) fn run_hooks(
    callbacks: &mut [Callback<'_>],
    matches: &[Match],
    reply: &mut Reply,
) -> Flow {
    let mut flow = Flow::Continue;
    for m in matches {
        if (callbacks[m.index()])(m, reply) == Flow::Stop {
            flow = Flow::Stop;
        }
    }
    flow
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::matcher::property;

    /// The interact driver: a hook [`Watch`] fed the same chunks as `expect` would read.
    #[test]
    fn hook_driver_agrees_with_regex_on_every_prefix() {
        property::check_driver(|patterns| {
            let mut watch = Watch::new(patterns);
            Box::new(move |chunk| watch.feed(chunk).into_iter().next())
        });
    }
}
