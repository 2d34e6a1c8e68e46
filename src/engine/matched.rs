//! The result of a successful `expect`.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

/// What an `expect` call found.
///
/// `before` is the output that arrived ahead of the match, `matched` the matching bytes;
/// both have been removed from the session's buffer. Output after the match stays buffered
/// for the next call.
///
/// ```
/// use ptychat::{Command, Pattern};
/// let mut s = Command::new("echo").arg("total: 42 files").spawn()?;
/// let m = s.expect(Pattern::regex(r"total: (?<count>\d+)")?)?;
/// assert_eq!(m.matched(), b"total: 42");
/// assert_eq!(m.group(1), Some(&b"42"[..]));
/// assert_eq!(m.name("count"), Some(&b"42"[..]));
/// assert_eq!(m.before(), b"");
/// # Ok::<(), ptychat::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    index: usize,
    kind: MatchKind,
    before: Vec<u8>,
    matched: Vec<u8>,
    /// Capture groups as ranges into `matched` (group 0 is the whole match).
    groups: Vec<Option<Range<usize>>>,
    names: Arc<[Option<String>]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchKind {
    Data,
    Eof,
    Timeout,
    Signal(nix::sys::signal::Signal),
}

impl Match {
    pub(crate) fn data(
        index: usize,
        before: Vec<u8>,
        matched: Vec<u8>,
        groups: Vec<Option<Range<usize>>>,
        names: Arc<[Option<String>]>,
    ) -> Self {
        Match {
            index,
            kind: MatchKind::Data,
            before,
            matched,
            groups,
            names,
        }
    }

    fn special(index: usize, kind: MatchKind, before: Vec<u8>) -> Self {
        Match {
            index,
            kind,
            before,
            matched: Vec::new(),
            groups: Vec::new(),
            names: Arc::from([]),
        }
    }

    pub(crate) fn eof(index: usize, before: Vec<u8>) -> Self {
        Match::special(index, MatchKind::Eof, before)
    }

    pub(crate) fn timeout(index: usize, before: Vec<u8>) -> Self {
        Match::special(index, MatchKind::Timeout, before)
    }

    pub(crate) fn on_signal(
        index: usize,
        signal: nix::sys::signal::Signal,
        before: Vec<u8>,
    ) -> Self {
        Match::special(index, MatchKind::Signal(signal), before)
    }

    /// The same match, reported as the pattern at `index`.
    pub(crate) fn with_index(mut self, index: usize) -> Self {
        self.index = index;
        self
    }

    /// The matching bytes, without copying them.
    pub(crate) fn into_matched(self) -> Vec<u8> {
        self.matched
    }

    /// Which pattern matched: its index in the list given to `expect` (0 for one pattern).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The output that arrived before the match.
    pub fn before(&self) -> &[u8] {
        &self.before
    }

    /// The matching bytes (empty for EOF and timeout patterns).
    pub fn matched(&self) -> &[u8] {
        &self.matched
    }

    /// `before`, decoded as UTF-8 with invalid sequences replaced.
    pub fn before_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.before)
    }

    /// `matched`, decoded as UTF-8 with invalid sequences replaced.
    pub fn matched_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.matched)
    }

    /// Capture group `i` of a regex match (0 is the whole match); `None` if the group did
    /// not take part in the match or does not exist. Exact patterns have only group 0.
    pub fn group(&self, i: usize) -> Option<&[u8]> {
        if self.groups.is_empty() {
            return (i == 0 && self.kind == MatchKind::Data).then_some(&self.matched[..]);
        }
        let range = self.groups.get(i)?.clone()?;
        Some(&self.matched[range])
    }

    /// Where capture group `i` lies in [`matched`](Match::matched), as a byte range (the
    /// `-indices` of Tcl Expect); `None` as for [`group`](Match::group).
    ///
    /// ```
    /// use ptychat::{Command, Pattern};
    /// let mut s = Command::new("echo").arg("id=42").spawn()?;
    /// let m = s.expect(Pattern::regex(r"id=(\d+)")?)?;
    /// assert_eq!(m.group_range(1), Some(3..5));
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn group_range(&self, i: usize) -> Option<Range<usize>> {
        if self.groups.is_empty() {
            return (i == 0 && self.kind == MatchKind::Data).then_some(0..self.matched.len());
        }
        self.groups.get(i)?.clone()
    }

    /// The named capture group `name` of a regex match.
    pub fn name(&self, name: &str) -> Option<&[u8]> {
        let i = self.names.iter().position(|n| n.as_deref() == Some(name))?;
        self.group(i)
    }

    /// Capture group `i` as text (UTF-8, invalid sequences replaced); `None` as for
    /// [`group`](Match::group).
    ///
    /// ```
    /// use ptychat::{Command, Pattern};
    /// let mut s = Command::new("echo").arg("user=ann id=42").spawn()?;
    /// let m = s.expect(Pattern::regex(r"user=(?<user>\w+) id=(\d+)")?)?;
    /// assert_eq!(m.group_str(2).as_deref(), Some("42"));
    /// assert_eq!(m.name_str("user").as_deref(), Some("ann"));
    /// assert_eq!(m.name_str("nobody"), None);
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn group_str(&self, i: usize) -> Option<Cow<'_, str>> {
        self.group(i).map(String::from_utf8_lossy)
    }

    /// The named capture group `name` as text (UTF-8, invalid sequences replaced).
    pub fn name_str(&self, name: &str) -> Option<Cow<'_, str>> {
        self.name(name).map(String::from_utf8_lossy)
    }

    /// The number of capture groups, group 0 included.
    pub fn group_count(&self) -> usize {
        self.groups.len().max(1)
    }

    /// True when an [`eof`](crate::Pattern::eof) pattern matched.
    pub fn is_eof(&self) -> bool {
        self.kind == MatchKind::Eof
    }

    /// The signal, when a [`signal`](crate::Pattern::signal) pattern matched.
    pub fn signal(&self) -> Option<nix::sys::signal::Signal> {
        match self.kind {
            MatchKind::Signal(signal) => Some(signal),
            _ => None,
        }
    }

    /// True when a [`timeout`](crate::Pattern::timeout) pattern matched.
    pub fn is_timeout(&self) -> bool {
        self.kind == MatchKind::Timeout
    }
}
