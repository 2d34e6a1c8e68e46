//! Background patterns (Tcl Expect's `expect_before` and `expect_after`, Expect.pm's
//! before and after lists): patterns checked on every `expect` of a session, or of every
//! session of a [`Group`](crate::Group), without being repeated in each call.
//!
//! A call's patterns are checked as one list: the `before` lists (the session's, then the
//! group's), the call's own patterns, then the `after` lists (the group's, then the
//! session's). The usual rule picks the winner: the match that starts earliest in the
//! output, and among matches that start at the same byte the one listed first, so a
//! `before` pattern wins a tie with the call's own and an `after` pattern loses it. (Tcl
//! picks the first pattern in list order that matches anywhere; under ptychat's
//! earliest-match rule, list order decides ties only.)
//!
//! A background match ends the call with [`Error::Background`], which holds the
//! [`Match`]: a call never reports a background match as one of its own patterns, so
//! `expect("done")?` cannot mistake an `ERROR` caught in the background for `done`.

use std::borrow::Cow;

use crate::engine::matched::Match;
use crate::engine::pattern::{Pattern, describe};
use crate::error::Error;

/// Which background list a pattern came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackgroundList {
    /// Checked before the call's own patterns (Tcl's `expect_before`).
    Before,
    /// Checked after the call's own patterns (Tcl's `expect_after`).
    After,
}

impl std::fmt::Display for BackgroundList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackgroundList::Before => "expect_before",
            BackgroundList::After => "expect_after",
        })
    }
}

/// A session's background patterns.
#[derive(Debug, Clone, Default)]
pub(crate) struct Background {
    pub(crate) before: Vec<Pattern>,
    pub(crate) after: Vec<Pattern>,
}

impl Background {
    pub(crate) fn is_empty(&self) -> bool {
        self.before.is_empty() && self.after.is_empty()
    }
}

/// Where a pattern of a combined list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The call's own pattern with this index.
    Own(usize),
    /// A background pattern: its list and its index in that list (the session's patterns
    /// first, then the group's for `before`; the group's first for `after`).
    Background(BackgroundList, usize),
}

/// The list a call checks: background `before` patterns, its own, background `after`.
#[derive(Debug)]
pub(crate) struct Combined<'a> {
    pub(crate) patterns: Cow<'a, [Pattern]>,
    before: usize,
    own: usize,
}

impl<'a> Combined<'a> {
    /// `before` lists in order, the call's `own` patterns, then `after` lists in order.
    /// Without background patterns the call's list is used as it is.
    pub(crate) fn new(
        before: &[&[Pattern]],
        own: Cow<'a, [Pattern]>,
        after: &[&[Pattern]],
    ) -> Self {
        let before_len: usize = before.iter().map(|l| l.len()).sum();
        let after_len: usize = after.iter().map(|l| l.len()).sum();
        let own_len = own.len();
        if before_len + after_len == 0 {
            return Combined {
                patterns: own,
                before: 0,
                own: own_len,
            };
        }
        let mut all = Vec::with_capacity(before_len + own_len + after_len);
        for list in before {
            all.extend_from_slice(list);
        }
        all.extend_from_slice(&own);
        for list in after {
            all.extend_from_slice(list);
        }
        Combined {
            patterns: Cow::Owned(all),
            before: before_len,
            own: own_len,
        }
    }

    /// Where the pattern at `index` of the combined list came from.
    pub(crate) fn origin(&self, index: usize) -> Origin {
        if index < self.before {
            Origin::Background(BackgroundList::Before, index)
        } else if index < self.before + self.own {
            Origin::Own(index - self.before)
        } else {
            Origin::Background(BackgroundList::After, index - self.before - self.own)
        }
    }

    /// A match of the combined list as the call reports it: its own pattern's match with
    /// that pattern's index, or [`Error::Background`].
    pub(crate) fn resolve(&self, m: Match) -> Result<Match, Error> {
        match self.origin(m.index()) {
            Origin::Own(index) => Ok(m.with_index(index)),
            Origin::Background(list, index) => Err(Error::Background {
                list,
                index,
                pattern: describe(std::slice::from_ref(&self.patterns[m.index()])),
                found: Box::new(m.with_index(index)),
            }),
        }
    }
}
