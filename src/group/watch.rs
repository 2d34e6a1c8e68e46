//! The wait over many sessions: one `poll(2)` on every watched session's fds, the
//! engine's matcher per session, and the first match (in the order the sessions are
//! watched) handed to the caller, which may continue.
//!
//! Each turn looks again only at sessions that may have changed (the poll found them
//! ready, or they just matched; all of them after an action that took a session mutably
//! from the group), so a match costs the sessions it touched, not one comparison per
//! watched session; only the poll itself goes over every watched fd. What a session scanned is kept between turns; if
//! something other than this wait took bytes out of its buffer (an action's own
//! `expect`), its scanners start again from the new first byte.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags};

use crate::deadline::{Deadline, is_ready, wait};
use crate::engine::actions::{Restart, Step};
use crate::engine::background::Combined;
use crate::engine::matched::Match;
use crate::engine::matcher::MatchSet;
use crate::engine::output::Stream;
use crate::engine::pattern::{Kind, Pattern, describe};
use crate::engine::session::{Ended, Session, WatchState};
use crate::engine::transport::Transport;
use crate::error::{Context, Error, Result};
use crate::escape::escape_tail;
use crate::group::members::{Member, Members};
use crate::group::{Group, GroupMatch, SessionId, Target};

/// Patterns for the sessions `target` names.
pub(crate) struct Branch {
    pub(crate) target: Target,
    pub(crate) patterns: Vec<Pattern>,
}

/// A match in a wait over many sessions: the session, the branch, and the match (its
/// index is the pattern's index in that branch).
pub(crate) struct Hit {
    pub(crate) id: SessionId,
    pub(crate) branch: usize,
    pub(crate) found: Match,
}

/// How many sessions a group timeout error describes, and the least of each tail it
/// shows.
const DESCRIBED_SESSIONS: usize = 10;
const LEAST_TAIL: usize = 80;

/// The first match of `branches`' patterns in the group, until `deadline`.
pub(crate) fn next<T: Transport>(
    group: &mut Group<T>,
    branches: &[Branch],
    deadline: &mut Deadline,
) -> Result<GroupMatch> {
    drive(
        group,
        branches,
        deadline,
        (None, Restart::Never),
        |_, hit| Ok(Step::Done(GroupMatch::new(hit.id, hit.branch, hit.found))),
    )
}

/// One session's part in the wait: its id, its list (background patterns around the
/// patterns of the branches that name it) and, for each own pattern, its branch and index
/// there.
pub(crate) struct Plan<'b> {
    pub(crate) id: SessionId,
    pub(crate) combined: Combined<'b>,
    own: Own,
    has_timeout: bool,
}

/// Which branches a session's own patterns come from, in order.
enum Own {
    /// All the patterns of one branch (the usual case: no list to allocate).
    Branch(usize),
    /// For each own pattern, its branch and its index there.
    Patterns(Vec<(usize, usize)>),
}

impl Own {
    /// The branch and the index there of own pattern `index`.
    fn get(&self, index: usize) -> (usize, usize) {
        match self {
            Own::Branch(b) => (*b, index),
            Own::Patterns(list) => list[index],
        }
    }

    /// The last branch named.
    fn last(&self) -> Option<usize> {
        match self {
            Own::Branch(b) => Some(*b),
            Own::Patterns(list) => list.last().map(|&(b, _)| b),
        }
    }

    /// Adds the patterns of branch `b` after those there are.
    fn add(&mut self, b: usize, branches: &[Branch]) {
        let patterns = |b: usize| (0..branches[b].patterns.len()).map(move |i| (b, i));
        match self {
            Own::Branch(first) => {
                *self = Own::Patterns(patterns(*first).chain(patterns(b)).collect())
            }
            Own::Patterns(list) => list.extend(patterns(b)),
        }
    }
}

/// Where a watched session stands.
pub(crate) struct Progress {
    /// As it was when last checked (`None`: check it).
    seen: Option<WatchState>,
    /// Where the last match of this wait left its buffer.
    consumed: u64,
    /// How many bytes its full buffer had dropped when the wait began.
    discarded: u64,
    /// Its output ended and its `eof` action continued: no longer watched.
    pub(crate) finished: bool,
}

impl Progress {
    /// A session's progress as its part in a wait begins.
    pub(crate) fn start<T: Transport>(session: &Session<T>) -> Self {
        Progress {
            seen: None,
            consumed: session.watch_state().consumed,
            discarded: session.discarded(),
            finished: false,
        }
    }
}

/// Checks a watched session against its scanners `set`, unless it is as it was when last
/// checked: how its part of the wait ends, if it ends now (a match of one of its patterns
/// or the error for its end of output, full buffer or background match). The deadline is
/// not checked here (see [`at_deadline`]).
pub(crate) fn check<T: Transport>(
    session: &mut Session<T>,
    plan: &Plan<'_>,
    set: &mut MatchSet<'_>,
    progress: &mut Progress,
    deadline: &Deadline,
) -> Option<Result<Match>> {
    let state = session.watch_state();
    if progress.seen == Some(state) {
        return None;
    }
    if state.consumed != progress.consumed {
        // Something else took bytes out of the buffer.
        set.restart(session.main_base());
    }
    let never = Deadline::after(None);
    let ended = session.check(Stream::Main, set, &never);
    let after = session.watch_state();
    progress.consumed = after.consumed;
    progress.seen = Some(after);
    let ended = ended?;
    Some(session.ended(
        Stream::Main,
        &plan.combined,
        set,
        deadline,
        progress.discarded,
        ended,
    ))
}

/// A session's part of the wait ended with `found`: which branch and which of its patterns
/// matched (the match's index becomes the pattern's index in its branch). Its progress is
/// marked to be checked again, since more matches may be buffered.
pub(crate) fn hit<T: Transport>(
    session: &Session<T>,
    plan: &Plan<'_>,
    progress: &mut Progress,
    found: Match,
) -> Hit {
    let (branch, index) = plan.own.get(found.index());
    progress.consumed = session.watch_state().consumed;
    progress.seen = None;
    Hit {
        id: plan.id,
        branch,
        found: found.with_index(index),
    }
}

/// At the deadline: the first watched session with a `timeout` pattern matches it (its
/// place in `plans`, and how its part ended), or the group timeout error.
pub(crate) fn at_deadline<T: Transport, M: Member<T>>(
    members: &mut Members<M>,
    plans: &[Plan<'_>],
    sets: &[MatchSet<'_>],
    progress: &[Progress],
    deadline: &Deadline,
) -> std::result::Result<(usize, Result<Match>), Error> {
    let first_with_timeout = plans
        .iter()
        .enumerate()
        .find(|(k, plan)| plan.has_timeout && !progress[*k].finished);
    match first_with_timeout {
        Some((k, plan)) => {
            let session = members.get_mut(plan.id).expect("a member").session_mut();
            let result = session.ended(
                Stream::Main,
                &plan.combined,
                &sets[k],
                deadline,
                progress[k].discarded,
                Ended::DeadlinePassed,
            );
            Ok((k, result))
        }
        None => Err(group_timeout(members, plans, progress, deadline)),
    }
}

/// Runs the wait: every match goes to `on_hit`, which continues or finishes. `deadline`
/// restarts as `restart` says, with `timeout`.
pub(crate) fn drive<T: Transport, V>(
    group: &mut Group<T>,
    branches: &[Branch],
    deadline: &mut Deadline,
    (timeout, restart): (Option<Duration>, Restart),
    mut on_hit: impl FnMut(&mut Group<T>, Hit) -> Result<Step<V>>,
) -> Result<V> {
    let mut finished: Vec<SessionId> = Vec::new();
    'plan: loop {
        let changes = group.changes;
        let plans = plan(
            &group.members,
            (&group.before, &group.after),
            branches,
            &finished,
        );
        let mut sets: Vec<MatchSet<'_>> = Vec::with_capacity(plans.len());
        let mut progress: Vec<Progress> = Vec::with_capacity(plans.len());
        for plan in &plans {
            let session = group
                .get_mut(plan.id)
                .expect("planned sessions are members");
            sets.push(session.start_expect(Stream::Main, &plan.combined, deadline));
            progress.push(Progress::start(session));
        }
        // The sessions that may have changed since they were last checked, in watch
        // order: a turn costs what changed, not one check per watched session (with a
        // thousand sessions, a thousand matches made a million checks).
        let mut dirty: BTreeSet<usize> = (0..plans.len()).collect();
        let mut left = plans.len();
        loop {
            if left == 0 {
                return Err(Error::InvalidArgument(
                    "no session left to wait on: every session named has ended or left the \
                     group"
                        .into(),
                ));
            }
            // Check the sessions that changed, in order; the first that ends its expect
            // wins this turn.
            let mut ended = None;
            let mut unchanged = Vec::new();
            for &k in &dirty {
                if progress[k].finished {
                    unchanged.push(k);
                    continue;
                }
                let plan = &plans[k];
                let session = group
                    .get_mut(plan.id)
                    .expect("planned sessions are members");
                match check(session, plan, &mut sets[k], &mut progress[k], deadline) {
                    Some(result) => {
                        ended = Some((k, result));
                        break;
                    }
                    None => unchanged.push(k),
                }
            }
            for k in unchanged {
                dirty.remove(&k);
            }
            if ended.is_none() && deadline.has_passed() {
                ended = Some(at_deadline(
                    &mut group.members,
                    &plans,
                    &sets,
                    &progress,
                    deadline,
                )?);
            }
            if let Some((k, result)) = ended {
                let plan = &plans[k];
                let found = result.map_err(|error| in_session(&group.members, plan.id, error))?;
                let at_eof = found.is_eof();
                let at_timeout = found.is_timeout();
                let session = group.get(plan.id).expect("a member");
                let hit = hit(session, plan, &mut progress[k], found);
                let touches = group.touches;
                match on_hit(group, hit)? {
                    Step::Done(value) => return Ok(value),
                    Step::Continue => {
                        if at_eof {
                            progress[k].finished = true;
                            finished.push(plan.id);
                            left -= 1;
                        }
                        if group.touches != touches {
                            // The action may have read from or sent to any session.
                            dirty.extend((0..plans.len()).filter(|&k| !progress[k].finished));
                        }
                        if at_timeout || restart != Restart::Never {
                            *deadline = Deadline::after(timeout);
                        }
                    }
                }
                if group.changes != changes {
                    continue 'plan;
                }
                continue;
            }
            // Nothing to report: wait for any watched session.
            let got_data = wait_and_read(group, &plans, &progress, deadline, &mut dirty)?;
            if got_data && restart == Restart::OnData {
                *deadline = Deadline::after(timeout);
            }
        }
    }
}

/// Each member's part in the wait, minus those already finished. Members come in the
/// order the branches name them: a branch for one session or a list names them in its
/// order, `Target::All` in the group's. `background` is the group's (before, after)
/// patterns.
///
/// One pass over what the branches name, so that a wait on many sessions, each with a
/// branch of its own (as [`Group::expect`] makes them), costs the number of sessions, not
/// its square. A session named by one branch borrows its patterns (unless background
/// patterns make a list of their own).
pub(crate) fn plan<'b, T: Transport, M: Member<T>>(
    members: &Members<M>,
    (before, after): (&[Pattern], &[Pattern]),
    branches: &'b [Branch],
    finished: &[SessionId],
) -> Vec<Plan<'b>> {
    let finished: HashSet<SessionId> = finished.iter().copied().collect();
    let mut all: Option<Vec<SessionId>> = None;
    // Members in order, each with where its own patterns come from; `place`
    // finds a member's entry by its slot (members have distinct slots).
    let mut order: Vec<(SessionId, Own)> = Vec::new();
    let mut place: Vec<Option<usize>> = vec![None; members.slots()];
    for (b, branch) in branches.iter().enumerate() {
        let ids: &[SessionId] = match &branch.target {
            Target::All => all.get_or_insert_with(|| members.ids()),
            Target::Session(id) => std::slice::from_ref(id),
            Target::Sessions(ids) => ids,
        };
        for &id in ids {
            if members.get(id).is_none() || finished.contains(&id) {
                continue;
            }
            match place[id.slot()] {
                None => {
                    place[id.slot()] = Some(order.len());
                    order.push((id, Own::Branch(b)));
                }
                // A list may name a session twice: its patterns still count once.
                Some(k) if order[k].1.last() == Some(b) => {}
                Some(k) => order[k].1.add(b, branches),
            }
        }
    }
    let mut plans = Vec::with_capacity(order.len());
    for (id, own) in order {
        let session = members.get(id).expect("a member").session();
        let patterns: Cow<'b, [Pattern]> = match &own {
            Own::Branch(b) => Cow::Borrowed(&branches[*b].patterns),
            Own::Patterns(list) => Cow::Owned(
                list.iter()
                    .map(|&(b, i)| branches[b].patterns[i].clone())
                    .collect(),
            ),
        };
        let combined = session.combined(&[before], patterns, &[after]);
        let has_timeout = combined
            .patterns
            .iter()
            .any(|p| matches!(p.kind, Kind::Timeout));
        plans.push(Plan {
            id,
            combined,
            own,
            has_timeout,
        });
    }
    plans
}

/// Polls every watched session's fds until one is ready or the deadline passes, then reads
/// what the ready ones have. True if output arrived.
fn wait_and_read<T: Transport>(
    group: &mut Group<T>,
    plans: &[Plan<'_>],
    progress: &[Progress],
    deadline: &Deadline,
    dirty: &mut BTreeSet<usize>,
) -> Result<bool> {
    let mut owners: Vec<usize> = Vec::new();
    let ready: Vec<usize> = {
        let mut fds: Vec<PollFd<'_>> = Vec::new();
        for (k, plan) in plans.iter().enumerate() {
            if progress[k].finished {
                continue;
            }
            let session = group.get(plan.id).expect("a member");
            for fd in session.watched_fds().into_iter().flatten() {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                owners.push(k);
            }
        }
        if wait(&mut fds, deadline)
            .context("waiting for the sessions")?
            .is_none()
        {
            return Ok(false);
        }
        let mut ready: Vec<usize> = fds
            .iter()
            .zip(&owners)
            .filter(|(fd, _)| is_ready(fd))
            .map(|(_, k)| *k)
            .collect();
        ready.dedup();
        ready
    };
    let mut got_data = false;
    for k in ready {
        dirty.insert(k);
        let id = plans[k].id;
        let session = group.get_mut(id).expect("a member");
        match session.read_ready() {
            Ok(n) => got_data |= n > 0,
            Err(error) => return Err(in_session(&group.members, id, error)),
        }
    }
    Ok(got_data)
}

/// `error` of the session `id`, in a group call: [`Error::InSession`] with its name.
pub(crate) fn in_session<M>(members: &Members<M>, id: SessionId, error: Error) -> Error {
    Error::InSession {
        session: members.name_of(id).to_owned(),
        source: Box::new(error),
    }
}

/// The error for a group wait whose deadline passed: each session's patterns and tail.
fn group_timeout<T: Transport, M: Member<T>>(
    members: &Members<M>,
    plans: &[Plan<'_>],
    progress: &[Progress],
    deadline: &Deadline,
) -> Error {
    let waiting: Vec<&Plan<'_>> = plans
        .iter()
        .zip(progress)
        .filter(|(_, p)| !p.finished)
        .map(|(plan, _)| plan)
        .collect();
    let shown = waiting.len().min(DESCRIBED_SESSIONS);
    let tail = (crate::engine::session::ERROR_TAIL / shown.max(1)).max(LEAST_TAIL);
    let mut parts: Vec<String> = waiting[..shown]
        .iter()
        .map(|plan| {
            let session = members.get(plan.id).expect("a member").session();
            let buffer = session.buffer();
            format!(
                "`{}` for {} ({} unmatched bytes, ending with: \"{}\")",
                members.name_of(plan.id),
                describe(&plan.combined.patterns),
                buffer.len(),
                escape_tail(buffer, tail)
            )
        })
        .collect();
    if waiting.len() > shown {
        parts.push(format!("and {} more sessions", waiting.len() - shown));
    }
    Error::GroupTimeout {
        timeout: deadline.timeout().unwrap_or(Duration::MAX),
        waited: deadline.elapsed(),
        waiting: format!("{} sessions: {}", waiting.len(), parts.join("; ")),
    }
}
