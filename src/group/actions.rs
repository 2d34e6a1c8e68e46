//! Action loops over many sessions: pattern → action for the sessions a branch names,
//! repeated until an action finishes the loop.

use std::time::Duration;

use crate::deadline::Deadline;
use crate::engine::actions::{Restart, Step};
use crate::engine::matched::Match;
use crate::engine::pattern::Pattern;
use crate::engine::transport::Transport;
use crate::error::{Error, Result};
use crate::group::watch::{self, Branch};
use crate::group::{Group, SessionId};

/// The sessions a branch of a [`GroupActions`] loop watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every session of the group, also those that join during the loop.
    All,
    /// One session.
    Session(SessionId),
    /// These sessions.
    Sessions(Vec<SessionId>),
}

impl Target {
    /// True if this target names the session `id`.
    pub fn names(&self, id: SessionId) -> bool {
        match self {
            Target::All => true,
            Target::Session(one) => *one == id,
            Target::Sessions(ids) => ids.contains(&id),
        }
    }
}

impl From<SessionId> for Target {
    fn from(id: SessionId) -> Self {
        Target::Session(id)
    }
}

impl From<Vec<SessionId>> for Target {
    fn from(ids: Vec<SessionId>) -> Self {
        Target::Sessions(ids)
    }
}

impl From<&[SessionId]> for Target {
    fn from(ids: &[SessionId]) -> Self {
        Target::Sessions(ids.to_vec())
    }
}

/// An action of a loop over a group: it gets the group (to answer any session, add or
/// remove sessions), the id of the session that matched, and the match.
type Action<'a, T, V> = Box<dyn FnMut(&mut Group<T>, SessionId, &Match) -> Result<Step<V>> + 'a>;

/// An action loop over the sessions of a [`Group`]: each branch is a pattern for the
/// sessions its [`Target`] names, with an action that answers, continues, finishes the
/// loop with a value or fails it. The same loop as [`Actions`](crate::Actions) on one
/// session, over many in one `poll(2)`.
///
/// Each turn waits for the first match in any watched session (sessions in the group's
/// order when several have one); its action runs. Sessions that join the group during
/// the loop are watched by `Target::All` branches from the next turn; sessions that leave
/// are no longer watched. A session whose output ends runs its `eof` branch, and is no
/// longer watched if that continues the loop; without an `eof` branch the loop fails with
/// [`Error::InSession`](crate::Error::InSession). The deadline restarts as [`Restart`]
/// says (by default after each match); at the deadline, the first session with a
/// `timeout` branch runs it, else the loop fails with
/// [`Error::GroupTimeout`](crate::Error::GroupTimeout). When no session is left to watch,
/// the loop fails with [`Error::InvalidArgument`].
///
/// ```
/// use ptychat::{Command, Group, GroupActions, Pattern, Step, Target};
/// let mut group = Group::new();
/// for _ in 0..3 {
///     group.add(Command::new("cat").spawn()?);
/// }
/// for (i, id) in group.ids().into_iter().enumerate() {
///     group[id].send_line(format!("ping-{i}"))?;
/// }
/// let mut answered = 0;
/// GroupActions::new()
///     .on(Target::All, Pattern::regex(r"ping-\d+\r\n(ping-\d+)\r\n")?, |_, _, _| {
///         answered += 1;
///         Ok(if answered == 3 { Step::Done(()) } else { Step::Continue })
///     })
///     .run(&mut group)?;
/// # Ok::<(), ptychat::Error>(())
/// ```
pub struct GroupActions<'a, T: Transport, V> {
    branches: Vec<Branch>,
    actions: Vec<Action<'a, T, V>>,
    timeout: Option<Option<Duration>>,
    restart: Restart,
}

impl<T: Transport, V> Default for GroupActions<'_, T, V> {
    fn default() -> Self {
        GroupActions {
            branches: Vec::new(),
            actions: Vec::new(),
            timeout: None,
            restart: Restart::default(),
        }
    }
}

impl<T: Transport, V> std::fmt::Debug for GroupActions<'_, T, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let branches: Vec<(&Target, &[Pattern])> = self
            .branches
            .iter()
            .map(|b| (&b.target, b.patterns.as_slice()))
            .collect();
        f.debug_struct("GroupActions")
            .field("branches", &branches)
            .field("timeout", &self.timeout)
            .field("restart", &self.restart)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Transport, V> GroupActions<'a, T, V> {
    /// A loop without branches yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a branch: `pattern` on the sessions `target` names, with the action to run
    /// when it matches in one of them.
    pub fn on(
        mut self,
        target: impl Into<Target>,
        pattern: impl Into<Pattern>,
        action: impl FnMut(&mut Group<T>, SessionId, &Match) -> Result<Step<V>> + 'a,
    ) -> Self {
        self.branches.push(Branch {
            target: target.into(),
            patterns: vec![pattern.into()],
        });
        self.actions.push(Box::new(action));
        self
    }

    /// The deadline of each turn as [`Restart`] counts it (default: the group's timeout;
    /// `None`: no limit).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// When the deadline starts again (default [`Restart::OnMatch`]).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Runs the loop over `group` until an action finishes it (its value) or fails it, or
    /// the wait fails.
    pub fn run(&mut self, group: &mut Group<T>) -> Result<V> {
        if self.branches.is_empty() {
            return Err(Error::InvalidArgument(
                "an action loop needs at least one pattern".into(),
            ));
        }
        let timeout = self.timeout.unwrap_or(group.timeout());
        let mut deadline = Deadline::after(timeout);
        let actions = &mut self.actions;
        watch::drive(
            group,
            &self.branches,
            &mut deadline,
            (timeout, self.restart),
            |group, hit| (actions[hit.branch])(group, hit.id, &hit.found),
        )
    }
}
