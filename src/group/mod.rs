//! Many sessions at once (Tcl Expect's `expect -i $list`, Expect.pm's multi-object
//! `expect`): a [`Group`] owns sessions, one call waits on all of them in one `poll(2)`
//! from one thread, and says which session matched which pattern.
//!
//! Owns: membership ([`SessionId`]s that stay valid while their session is in the group), the
//! group's background patterns, the wait over many sessions ([`watch`]) and the action
//! loops over many sessions ([`GroupActions`]). Matching, reading and the per-session
//! end of an expect are the engine's, driven here one session at a time.
//!
//! # Threading
//!
//! A group, like a session, is driven from one thread at a time: its calls take `&mut
//! self`. Sessions are `Send` when their transport is (every transport of this crate is),
//! so a session or a whole group can move to another thread, and sessions can move in
//! and out of groups between calls. Nothing here starts a thread.
//!
//! Imports run downward: `group` uses `engine`, `deadline` and `error`.

mod actions;
pub(crate) mod members;
pub(crate) mod watch;

use std::ops::{Deref, Index, IndexMut};
use std::time::{Duration, Instant};

use crate::deadline::Deadline;
use crate::engine::matched::Match;
use crate::engine::pattern::{Pattern, Patterns};
use crate::engine::session::{DEFAULT_TIMEOUT, Session};
use crate::engine::transport::Transport;
use crate::error::{Error, Result};

pub use actions::{GroupActions, Target};
use members::Members;

/// A session's place in a [`Group`] (or an `AsyncGroup`, feature `tokio`). An id is never
/// reused for another session of the same group: once its session is removed, the id
/// finds nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId {
    index: u32,
    generation: u32,
}

impl SessionId {
    /// The slot of the session in its group (reused after a removal).
    pub(crate) fn slot(self) -> usize {
        self.index as usize
    }
}

/// Sessions driven together: one call waits on all of them (or on those it names), each
/// with its own patterns, and returns which session matched which pattern.
///
/// `T` is the sessions' transport. For sessions of different kinds (a pty, pipes, a
/// socket), box them ([`Session::boxed`], or [`Session::boxed_child`] to keep process
/// control): the default `T` is `Box<dyn Transport + Send>`.
///
/// ```
/// use ptychat::{Command, Group, Pattern};
/// let mut group = Group::new();
/// let bc = group.add_named("bc", Command::new("bc").arg("-q").env("TERM", "dumb").spawn()?.boxed());
/// let py = group.add_named("python", Command::new("python3").arg("-q").env("TERM", "dumb")
///                          .env("PYTHON_BASIC_REPL", "1").spawn()?.boxed());
/// group.expect([(py, ">>> ")])?;
/// group[bc].send_line("6 * 7")?;
/// group[py].send_line("6 * 8")?;
/// // Whichever answers first is matched first.
/// let answer = Pattern::regex(r"(?m)^(\d+)\r$")?;
/// let mut answers = Vec::new();
/// for _ in 0..2 {
///     let hit = group.expect([(bc, &answer), (py, &answer)])?;
///     answers.push(format!("{}: {}", group.name(hit.id()).unwrap(), hit.group_str(1).unwrap()));
/// }
/// answers.sort();
/// assert_eq!(answers, ["bc: 42", "python: 48"]);
/// # Ok::<(), ptychat::Error>(())
/// ```
pub struct Group<T: Transport = Box<dyn Transport + Send>> {
    pub(crate) members: Members<Session<T>>,
    pub(crate) before: Vec<Pattern>,
    pub(crate) after: Vec<Pattern>,
    timeout: Option<Duration>,
    /// Bumped whenever membership or background patterns change, so a loop running
    /// over the group knows to look again.
    changes: u64,
    /// Bumped by each mutable access to a session (`get_mut`, `iter_mut`, `group[id]`):
    /// a wait whose action left it alone knows the action changed no session.
    pub(crate) touches: u64,
}

impl<T: Transport> Default for Group<T> {
    fn default() -> Self {
        Group {
            members: Members::default(),
            before: Vec::new(),
            after: Vec::new(),
            timeout: Some(DEFAULT_TIMEOUT),
            changes: 0,
            touches: 0,
        }
    }
}

impl<T: Transport> std::fmt::Debug for Group<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.iter().map(|(id, _)| self.name_of(id)).collect();
        f.debug_struct("Group")
            .field("sessions", &names)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Group<T> {
    /// An empty group; its calls' default deadline is 30 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a session, named `session-N` after its place; returns its id.
    pub fn add(&mut self, session: Session<T>) -> SessionId {
        self.insert(None, session)
    }

    /// Adds a session with a name, which errors about it show; returns its id.
    pub fn add_named(&mut self, name: impl Into<String>, session: Session<T>) -> SessionId {
        self.insert(Some(name.into()), session)
    }

    fn insert(&mut self, name: Option<String>, session: Session<T>) -> SessionId {
        self.changes += 1;
        self.members.insert(name, session)
    }

    /// Takes a session out of the group (its id then finds nothing).
    pub fn remove(&mut self, id: SessionId) -> Option<Session<T>> {
        let session = self.members.remove(id)?;
        self.changes += 1;
        Some(session)
    }

    /// The session with this id, if it is in the group.
    pub fn get(&self, id: SessionId) -> Option<&Session<T>> {
        self.members.get(id)
    }

    /// The session with this id, mutably, if it is in the group.
    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Session<T>> {
        self.touches += 1;
        self.members.get_mut(id)
    }

    /// The session's name, if it is in the group.
    pub fn name(&self, id: SessionId) -> Option<&str> {
        self.members.name(id)
    }

    fn name_of(&self, id: SessionId) -> &str {
        self.members.name_of(id)
    }

    /// The ids of the sessions, in the order they were added (a removed session's place
    /// is reused).
    pub fn ids(&self) -> Vec<SessionId> {
        self.members.ids()
    }

    /// The sessions with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (SessionId, &Session<T>)> {
        self.members.iter()
    }

    /// The sessions with their ids, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (SessionId, &mut Session<T>)> {
        self.touches += 1;
        self.members.iter_mut()
    }

    /// How many sessions the group has.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when the group has no session.
    pub fn is_empty(&self) -> bool {
        self.members.len() == 0
    }

    /// The default deadline of the group's calls; `None` waits forever.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Sets the default deadline of the group's calls (default 30 s; `None`: forever).
    /// The sessions' own timeouts apply to their own calls only.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// Sets patterns checked before the own patterns of every session in every later
    /// group call (Tcl's `expect_before -i`), replacing the previous ones. A match ends the
    /// call with [`Error::InSession`] around [`Error::Background`]. The order is in
    /// [`BackgroundList`](crate::BackgroundList)'s documentation: a session's own
    /// background patterns come first, then the group's.
    pub fn expect_before<'a>(&mut self, patterns: impl Into<Patterns<'a>>) {
        self.before = patterns.into().0.into_owned();
        self.changes += 1;
    }

    /// Sets patterns checked after the own patterns of every session in every later
    /// group call (Tcl's `expect_after -i`), replacing the previous ones; see
    /// [`expect_before`](Group::expect_before).
    pub fn expect_after<'a>(&mut self, patterns: impl Into<Patterns<'a>>) {
        self.after = patterns.into().0.into_owned();
        self.changes += 1;
    }

    /// Waits, with the group's timeout, until one of the named sessions matches one of
    /// its patterns, and returns which session and which of its patterns
    /// ([`Match::index`]) with the [`Match`].
    ///
    /// Output of every named session is read as it comes (one `poll` for all of them).
    /// When several sessions have a match buffered, the one named first wins; within a
    /// session the usual rule holds (earliest match, then first pattern). A session whose
    /// output ends without an `eof` pattern, whose buffer fills under
    /// [`BufferFull::Error`](crate::BufferFull::Error), or whose background pattern
    /// matches ends the call with [`Error::InSession`] naming it. At the deadline, the
    /// first named session with a `timeout` pattern matches it; without one the call fails
    /// with [`Error::GroupTimeout`], which shows every session's patterns and output tail.
    ///
    /// A session may appear once. For the same patterns on every session, see
    /// [`expect_any`](Group::expect_any).
    pub fn expect<'a, P: Into<Patterns<'a>>>(
        &mut self,
        waits: impl IntoIterator<Item = (SessionId, P)>,
    ) -> Result<GroupMatch> {
        let deadline = Deadline::after(self.timeout);
        self.expect_with(waits, deadline)
    }

    /// [`expect`](Group::expect) with a deadline of `timeout` (`None`: forever).
    pub fn expect_timeout<'a, P: Into<Patterns<'a>>>(
        &mut self,
        waits: impl IntoIterator<Item = (SessionId, P)>,
        timeout: Option<Duration>,
    ) -> Result<GroupMatch> {
        self.expect_with(waits, Deadline::after(timeout))
    }

    /// [`expect`](Group::expect) with the deadline as an instant.
    pub fn expect_deadline<'a, P: Into<Patterns<'a>>>(
        &mut self,
        waits: impl IntoIterator<Item = (SessionId, P)>,
        deadline: Instant,
    ) -> Result<GroupMatch> {
        self.expect_with(waits, Deadline::at(deadline))
    }

    /// Waits until any session of the group matches one of `patterns` (the same for all),
    /// as [`expect`](Group::expect) does; sessions are checked in the order of
    /// [`ids`](Group::ids).
    pub fn expect_any<'a>(&mut self, patterns: impl Into<Patterns<'a>>) -> Result<GroupMatch> {
        let patterns = patterns.into().0.into_owned();
        if patterns.is_empty() {
            return Err(Error::InvalidArgument(
                "expect_any has no pattern to wait for".into(),
            ));
        }
        // One branch for all: every session borrows its patterns.
        let branches = [watch::Branch {
            target: Target::All,
            patterns,
        }];
        let mut deadline = Deadline::after(self.timeout);
        watch::next(self, &branches, &mut deadline)
    }

    fn expect_with<'a, P: Into<Patterns<'a>>>(
        &mut self,
        waits: impl IntoIterator<Item = (SessionId, P)>,
        deadline: Deadline,
    ) -> Result<GroupMatch> {
        let waits: Vec<(SessionId, Vec<Pattern>)> = waits
            .into_iter()
            .map(|(id, p)| (id, p.into().0.into_owned()))
            .collect();
        // Which slots are named already (members have distinct slots).
        let mut named = vec![false; self.members.slots()];
        for (id, patterns) in &waits {
            if self.members.get(*id).is_none() {
                return Err(Error::InvalidArgument(format!(
                    "no session {id:?} in this group (removed?)"
                )));
            }
            if patterns.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "session `{}` has no pattern to wait for",
                    self.name_of(*id)
                )));
            }
            if std::mem::replace(&mut named[id.index as usize], true) {
                return Err(Error::InvalidArgument(format!(
                    "session `{}` is named twice; give it one list of patterns",
                    self.name_of(*id)
                )));
            }
        }
        let branches: Vec<watch::Branch> = waits
            .into_iter()
            .map(|(id, patterns)| watch::Branch {
                target: Target::Session(id),
                patterns,
            })
            .collect();
        let mut deadline = deadline;
        watch::next(self, &branches, &mut deadline)
    }
}

impl<T: Transport> Index<SessionId> for Group<T> {
    type Output = Session<T>;

    /// The session with this id; panics if it is not in the group (see
    /// [`get`](Group::get)).
    fn index(&self, id: SessionId) -> &Session<T> {
        self.get(id)
            .unwrap_or_else(|| panic!("no session {id:?} in this group"))
    }
}

impl<T: Transport> IndexMut<SessionId> for Group<T> {
    fn index_mut(&mut self, id: SessionId) -> &mut Session<T> {
        self.get_mut(id)
            .unwrap_or_else(|| panic!("no session {id:?} in this group"))
    }
}

/// A match in one session of a [`Group`]: which session, and the [`Match`] (which
/// pattern of that session's list, what matched, what came before). Derefs to the
/// `Match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMatch {
    id: SessionId,
    wait: usize,
    found: Match,
}

impl GroupMatch {
    pub(crate) fn new(id: SessionId, wait: usize, found: Match) -> Self {
        GroupMatch { id, wait, found }
    }

    /// The session that matched.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The place, in the call's list of waits (session or target, and patterns), of the
    /// wait whose pattern matched; [`index`](Match::index) is the pattern's place in that
    /// wait's list. Background patterns end a call with an error, not a match.
    pub fn wait(&self) -> usize {
        self.wait
    }

    /// The match itself.
    pub fn into_match(self) -> Match {
        self.found
    }
}

impl Deref for GroupMatch {
    type Target = Match;

    fn deref(&self) -> &Match {
        &self.found
    }
}
