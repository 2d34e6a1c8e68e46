//! [`AsyncGroup`]: the blocking [`Group`](crate::Group) for async code — many async
//! sessions, one wait over all of them on the runtime's fd readiness, the group's plan,
//! checks and errors (`group/watch.rs`) underneath.

use std::ops::{Index, IndexMut};
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::async_session::AsyncSession;
use crate::async_session::fds::timer;
use crate::async_session::wakes::Wakes;
use crate::deadline::Deadline;
use crate::engine::matcher::MatchSet;
use crate::engine::output::Stream;
use crate::engine::pattern::{Pattern, Patterns};
use crate::engine::session::{DEFAULT_TIMEOUT, Session};
use crate::engine::transport::Transport;
use crate::error::{Error, Result};
use crate::group::members::{Member, Members};
use crate::group::watch::{self, Branch, Plan, Progress};
use crate::group::{GroupMatch, SessionId, Target};

/// Many [`AsyncSession`]s driven together from async code: one call waits on all of them
/// (or on those it names), each with its own patterns, and returns which session matched
/// which pattern — the async form of a [`Group`](crate::Group), with its ids, names,
/// background patterns, rules and errors.
///
/// ```
/// use std::time::Duration;
/// use ptychat::{AsyncGroup, Command, Pattern, Target};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ptychat::Result<()> {
/// let mut group = AsyncGroup::new();
/// let bc = group.add_named("bc", Command::new("bc").arg("-q").env("TERM", "dumb").spawn()?.boxed());
/// let py = group.add_named("python", Command::new("python3").arg("-q").env("TERM", "dumb")
///                          .env("PYTHON_BASIC_REPL", "1").spawn()?.boxed());
/// group.expect([(py, ">>> ")]).await?;
/// group[bc].send_line("6 * 7").await?;
/// group[py].send_line("6 * 8").await?;
/// // Whichever answers first is matched first.
/// let answer = Pattern::regex(r"(?m)^(\d+)\r$")?;
/// let mut answers = Vec::new();
/// for _ in 0..2 {
///     let hit = group.expect([(Target::All, &answer)]).await?;
///     answers.push(format!("{}: {}", group.name(hit.id()).unwrap(), hit.group_str(1).unwrap()));
/// }
/// answers.sort();
/// assert_eq!(answers, ["bc: 42", "python: 48"]);
/// # Ok(())
/// # }
/// ```
///
/// # The wait
///
/// Each session's fds are registered with the runtime's reactor (epoll) and polled with a
/// waker of the session's own, which records that this session is ready: a wakeup reads
/// and checks only the sessions that became ready, whatever the size of the group. A call
/// costs, once, work on every session it names (its list of patterns, the scanners, a
/// check of what is buffered: a fraction of a microsecond each), as a blocking group call
/// does; then each wakeup costs the sessions that woke. No thread, no polling loop: an
/// idle group uses no CPU. Any tokio runtime with IO and time enabled, current-thread or
/// multi-thread, as for [`AsyncSession`].
///
/// # Cancellation
///
/// Dropping a group's `expect` future (a `select!` branch that lost, a `timeout` around
/// it) loses no output of any session and leaves the group usable: what is read goes
/// into the session's buffer at once, never into the future, and the next call starts
/// from the buffers. A readiness the dropped call had not taken yet stays with the group
/// for the next call.
///
/// # Sessions
///
/// `group[id]` is the [`AsyncSession`], for its own `send`, `expect` and the rest between
/// group calls. Sessions are `Send` when their transport is, and so is the group and its
/// futures.
pub struct AsyncGroup<T: Transport = Box<dyn Transport + Send>> {
    members: Members<AsyncSession<T>>,
    before: Vec<Pattern>,
    after: Vec<Pattern>,
    timeout: Option<Duration>,
    wakes: Wakes,
    /// By slot: the waker its fds are polled with, and whether it is armed.
    slots: Vec<SlotState>,
}

struct SlotState {
    waker: Waker,
    /// Every fd the session watches was polled with `waker` and found not ready: its
    /// readiness will be in the queue. Cleared when the slot is woken, ready, or its
    /// session handed out mutably (whose own calls poll with other wakers).
    armed: bool,
}

impl<T: Transport> Default for AsyncGroup<T> {
    fn default() -> Self {
        AsyncGroup {
            members: Members::default(),
            before: Vec::new(),
            after: Vec::new(),
            timeout: Some(DEFAULT_TIMEOUT),
            wakes: Wakes::default(),
            slots: Vec::new(),
        }
    }
}

impl<T: Transport> std::fmt::Debug for AsyncGroup<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .members
            .iter()
            .map(|(id, _)| self.members.name_of(id))
            .collect();
        f.debug_struct("AsyncGroup")
            .field("sessions", &names)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Member<T> for AsyncSession<T> {
    fn session(&self) -> &Session<T> {
        self.get_ref()
    }

    fn session_mut(&mut self) -> &mut Session<T> {
        self.engine()
    }
}

impl<T: Transport> AsyncGroup<T> {
    /// An empty group; its calls' default deadline is 30 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a session (a [`Session`] or an [`AsyncSession`]), named `session-N` after its
    /// place; returns its id.
    pub fn add(&mut self, session: impl Into<AsyncSession<T>>) -> SessionId {
        self.insert(None, session.into())
    }

    /// Adds a session with a name, which errors about it show; returns its id.
    pub fn add_named(
        &mut self,
        name: impl Into<String>,
        session: impl Into<AsyncSession<T>>,
    ) -> SessionId {
        self.insert(Some(name.into()), session.into())
    }

    fn insert(&mut self, name: Option<String>, session: AsyncSession<T>) -> SessionId {
        let id = self.members.insert(name, session);
        while self.slots.len() <= id.slot() {
            let waker = self.wakes.waker(self.slots.len());
            self.slots.push(SlotState {
                waker,
                armed: false,
            });
        }
        self.slots[id.slot()].armed = false;
        id
    }

    /// Takes a session out of the group (its id then finds nothing).
    pub fn remove(&mut self, id: SessionId) -> Option<AsyncSession<T>> {
        let session = self.members.remove(id)?;
        self.slots[id.slot()].armed = false;
        Some(session)
    }

    /// The session with this id, if it is in the group.
    pub fn get(&self, id: SessionId) -> Option<&AsyncSession<T>> {
        self.members.get(id)
    }

    /// The session with this id, mutably, if it is in the group.
    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut AsyncSession<T>> {
        let session = self.members.get_mut(id)?;
        // Its own calls may poll its fds with other wakers.
        self.slots[id.slot()].armed = false;
        Some(session)
    }

    /// The session's name, if it is in the group.
    pub fn name(&self, id: SessionId) -> Option<&str> {
        self.members.name(id)
    }

    /// The ids of the sessions, in the order they were added (a removed session's place
    /// is reused).
    pub fn ids(&self) -> Vec<SessionId> {
        self.members.ids()
    }

    /// The sessions with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (SessionId, &AsyncSession<T>)> {
        self.members.iter()
    }

    /// The sessions with their ids, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (SessionId, &mut AsyncSession<T>)> {
        for slot in &mut self.slots {
            slot.armed = false;
        }
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
    /// group call, replacing the previous ones, as
    /// [`Group::expect_before`](crate::Group::expect_before) does: a match ends the call
    /// with [`Error::InSession`] around [`Error::Background`].
    pub fn expect_before<'a>(&mut self, patterns: impl Into<Patterns<'a>>) {
        self.before = patterns.into().0.into_owned();
    }

    /// Sets patterns checked after the own patterns of every session in every later
    /// group call, replacing the previous ones; see
    /// [`expect_before`](AsyncGroup::expect_before).
    pub fn expect_after<'a>(&mut self, patterns: impl Into<Patterns<'a>>) {
        self.after = patterns.into().0.into_owned();
    }

    /// Waits, with the group's timeout, until one of the sessions that `waits` name
    /// matches one of its patterns, and returns which session, which wait
    /// ([`GroupMatch::wait`]) and which of its patterns ([`Match::index`](crate::Match::index))
    /// with the match.
    ///
    /// Each wait names a session ([`SessionId`]) or several ([`Target`]: a list, or
    /// `Target::All`, every session of the group) with patterns for them. The rules are
    /// [`Group::expect`](crate::Group::expect)'s: when several sessions have a match
    /// buffered, the one named first wins; within a session, the earliest match, then the
    /// first pattern, among its own background patterns, the group's and the patterns of
    /// every wait that names it (in the order of the waits). A session whose output ends
    /// without an `eof` pattern, whose buffer fills under
    /// [`BufferFull::Error`](crate::BufferFull::Error), or whose background pattern
    /// matches ends the call with [`Error::InSession`] naming it. At the deadline, the
    /// first named session with a `timeout` pattern matches it; without one the call fails
    /// with [`Error::GroupTimeout`], which shows every session's patterns and output tail.
    ///
    /// Unlike [`Group::expect`](crate::Group::expect), a session may be named by several
    /// waits (say `Target::All` and one session with a pattern of its own).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ptychat::{AsyncGroup, Command, Pattern, Target};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> ptychat::Result<()> {
    /// let mut group = AsyncGroup::new();
    /// let quiet = group.add_named("quiet", Command::shell("read x; echo late").spawn()?);
    /// let loud = group.add_named("loud", Command::shell("echo error: disk full; sleep 30").spawn()?);
    /// // One pattern for every session, and one for `quiet` only.
    /// let hit = group.expect([(Target::All, "error"), (Target::Session(quiet), "late")]).await?;
    /// assert_eq!((hit.id(), hit.wait()), (loud, 0));
    /// // Nothing more comes: the timeout error names each session, its patterns and output.
    /// let err = group.expect_timeout([(Target::All, "error")], Some(Duration::from_millis(100)))
    ///     .await.unwrap_err();
    /// assert!(err.is_timeout());
    /// assert!(err.to_string().contains("`loud` for \"error\""), "{err}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn expect<'a, I: Into<Target>, P: Into<Patterns<'a>>>(
        &mut self,
        waits: impl IntoIterator<Item = (I, P)>,
    ) -> Result<GroupMatch> {
        let branches = self.branches(waits)?;
        self.drive(&branches, Deadline::after(self.timeout)).await
    }

    /// [`expect`](AsyncGroup::expect) with a deadline of `timeout` (`None`: forever).
    pub async fn expect_timeout<'a, I: Into<Target>, P: Into<Patterns<'a>>>(
        &mut self,
        waits: impl IntoIterator<Item = (I, P)>,
        timeout: Option<Duration>,
    ) -> Result<GroupMatch> {
        let branches = self.branches(waits)?;
        self.drive(&branches, Deadline::after(timeout)).await
    }

    /// [`expect`](AsyncGroup::expect) with the deadline as an instant.
    pub async fn expect_deadline<'a, I: Into<Target>, P: Into<Patterns<'a>>>(
        &mut self,
        waits: impl IntoIterator<Item = (I, P)>,
        deadline: Instant,
    ) -> Result<GroupMatch> {
        let branches = self.branches(waits)?;
        self.drive(&branches, Deadline::at(deadline)).await
    }

    /// Waits until any session of the group matches one of `patterns` (the same for all),
    /// as [`expect`](AsyncGroup::expect) with `Target::All` does; sessions are checked in
    /// the order of [`ids`](AsyncGroup::ids).
    ///
    /// ```
    /// use ptychat::{AsyncGroup, Command};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> ptychat::Result<()> {
    /// let mut group = AsyncGroup::new();
    /// let mut ids = Vec::new();
    /// for _ in 0..3 {
    ///     ids.push(group.add(Command::new("cat").echo(false).spawn()?));
    /// }
    /// group[ids[1]].send_line("pong").await?;
    /// let hit = group.expect_any("pong").await?;
    /// assert_eq!(hit.id(), ids[1]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn expect_any<'a>(
        &mut self,
        patterns: impl Into<Patterns<'a>>,
    ) -> Result<GroupMatch> {
        self.expect([(Target::All, patterns)]).await
    }

    /// The waits as branches, checked: every session named is in the group, and every
    /// wait has a pattern.
    fn branches<'a, I: Into<Target>, P: Into<Patterns<'a>>>(
        &self,
        waits: impl IntoIterator<Item = (I, P)>,
    ) -> Result<Vec<Branch>> {
        let branches: Vec<Branch> = waits
            .into_iter()
            .map(|(target, patterns)| Branch {
                target: target.into(),
                patterns: patterns.into().0.into_owned(),
            })
            .collect();
        for branch in &branches {
            let ids = match &branch.target {
                Target::All => &[][..],
                Target::Session(id) => std::slice::from_ref(id),
                Target::Sessions(ids) => ids,
            };
            if let Some(id) = ids.iter().find(|id| self.members.get(**id).is_none()) {
                return Err(Error::InvalidArgument(format!(
                    "no session {id:?} in this group (removed?)"
                )));
            }
            if branch.patterns.is_empty() {
                let whom = match &branch.target {
                    Target::Session(id) => format!("session `{}`", self.members.name_of(*id)),
                    _ => "a wait".to_owned(),
                };
                return Err(Error::InvalidArgument(format!(
                    "{whom} has no pattern to wait for"
                )));
            }
        }
        Ok(branches)
    }

    /// The wait: check the sessions that changed, in the order named; at the deadline, the
    /// first `timeout` pattern or the group timeout error; else wait for the reactor to
    /// wake any named session's waker, and read the sessions that are ready.
    async fn drive(&mut self, branches: &[Branch], deadline: Deadline) -> Result<GroupMatch> {
        let plans = watch::plan(&self.members, (&self.before, &self.after), branches, &[]);
        if plans.is_empty() {
            return Err(Error::InvalidArgument(
                "no session left to wait on: every session named has ended or left the group"
                    .into(),
            ));
        }
        let mut sets: Vec<MatchSet<'_>> = Vec::with_capacity(plans.len());
        let mut progress: Vec<Progress> = Vec::with_capacity(plans.len());
        // By slot: the session's place in `plans`.
        let mut place: Vec<Option<usize>> = vec![None; self.members.slots()];
        // Sessions to check (places in `plans`), and sessions to poll with their wakers.
        let mut dirty: Vec<usize> = (0..plans.len()).collect();
        let mut to_poll: Vec<usize> = Vec::new();
        for (k, plan) in plans.iter().enumerate() {
            place[plan.id.slot()] = Some(k);
            let session = self.members.get_mut(plan.id).expect("a member");
            session
                .read_if_stranded()
                .map_err(|e| watch::in_session(&self.members, plan.id, e))?;
            let session = self.members.get_mut(plan.id).expect("a member").engine();
            sets.push(session.start_expect(Stream::Main, &plan.combined, &deadline));
            progress.push(Progress::start(session));
            if !self.slots[plan.id.slot()].armed {
                to_poll.push(k);
            }
        }
        let _task = ClearTask(&self.wakes);
        let mut sleep = pin!(timer(&deadline));
        let mut woken: Vec<usize> = Vec::new();
        let mut ready: Vec<usize> = Vec::new();
        loop {
            dirty.sort_unstable();
            dirty.dedup();
            for &k in &dirty {
                let plan = &plans[k];
                let session = self.members.get_mut(plan.id).expect("a member").engine();
                if let Some(result) =
                    watch::check(session, plan, &mut sets[k], &mut progress[k], &deadline)
                {
                    return self.found(&plans[k], &mut progress[k], result);
                }
            }
            dirty.clear();
            if deadline.has_passed() {
                let (k, result) =
                    watch::at_deadline(&mut self.members, &plans, &sets, &progress, &deadline)?;
                return self.found(&plans[k], &mut progress[k], result);
            }
            to_poll.sort_unstable();
            to_poll.dedup();
            for &k in &to_poll {
                let id = plans[k].id;
                let session = self.members.get_mut(id).expect("a member");
                session
                    .register_watched()
                    .map_err(|e| watch::in_session(&self.members, id, e))?;
            }
            {
                // The closure holds `&mut` (not `&`) to the sessions, which are `Send` but not
                // `Sync`, so that the future is `Send`.
                let (members, slots, wakes) = (&mut self.members, &mut self.slots, &self.wakes);
                let (woken, ready, to_poll, place) = (&mut woken, &mut ready, &mut to_poll, &place);
                let (plans, mut sleep) = (&plans, sleep.as_mut());
                std::future::poll_fn(move |cx| {
                    wakes.set_task(cx.waker());
                    wakes.take(woken);
                    for &slot in woken.iter() {
                        if let Some(state) = slots.get_mut(slot) {
                            state.armed = false;
                        }
                        if let Some(k) = place.get(slot).copied().flatten() {
                            to_poll.push(k);
                        }
                    }
                    ready.clear();
                    for k in to_poll.drain(..) {
                        let id = plans[k].id;
                        let state = &mut slots[id.slot()];
                        if let Poll::Ready(outcome) = poll_member(&*members, id, &state.waker) {
                            outcome?;
                            state.armed = false;
                            ready.push(k);
                        } else {
                            state.armed = true;
                        }
                    }
                    let slept = sleep
                        .as_mut()
                        .as_pin_mut()
                        .is_some_and(|s| s.poll(cx).is_ready());
                    if ready.is_empty() && !slept {
                        Poll::Pending
                    } else {
                        Poll::Ready(Ok::<(), Error>(()))
                    }
                })
                .await?;
            }
            for &k in &ready {
                let id = plans[k].id;
                let session = self.members.get_mut(id).expect("a member");
                session
                    .read()
                    .map_err(|e| watch::in_session(&self.members, id, e))?;
                dirty.push(k);
                to_poll.push(k);
            }
        }
    }

    /// The call's answer for a session whose part ended with `result`.
    fn found(
        &self,
        plan: &Plan<'_>,
        progress: &mut Progress,
        result: Result<crate::Match>,
    ) -> Result<GroupMatch> {
        let found = result.map_err(|e| watch::in_session(&self.members, plan.id, e))?;
        let session = self.members.get(plan.id).expect("a member").get_ref();
        let hit = watch::hit(session, plan, progress, found);
        Ok(GroupMatch::new(hit.id, hit.branch, hit.found))
    }
}

/// Polls the fds session `id` watches with its slot's `waker`: ready if any is (or is not
/// registered yet); each pending fd then wakes `waker` when it becomes ready.
fn poll_member<T: Transport>(
    members: &Members<AsyncSession<T>>,
    id: SessionId,
    waker: &Waker,
) -> Poll<Result<()>> {
    let session = members.get(id).expect("a member");
    let mut cx = Context::from_waker(waker);
    let fds = session.watched_fds();
    let raws = fds.iter().flatten().map(AsRawFd::as_raw_fd);
    session
        .registrations()
        .poll_read_any(raws, &mut cx)
        .map_err(|e| watch::in_session(members, id, Error::io("waiting for the sessions", e)))
}

/// Forgets the waiting task when a wait ends (or is dropped).
struct ClearTask<'a>(&'a Wakes);

impl Drop for ClearTask<'_> {
    fn drop(&mut self) {
        self.0.clear_task();
    }
}

impl<T: Transport> Index<SessionId> for AsyncGroup<T> {
    type Output = AsyncSession<T>;

    /// The session with this id; panics if it is not in the group (see
    /// [`get`](AsyncGroup::get)).
    fn index(&self, id: SessionId) -> &AsyncSession<T> {
        self.get(id)
            .unwrap_or_else(|| panic!("no session {id:?} in this group"))
    }
}

impl<T: Transport> IndexMut<SessionId> for AsyncGroup<T> {
    fn index_mut(&mut self, id: SessionId) -> &mut AsyncSession<T> {
        self.get_mut(id)
            .unwrap_or_else(|| panic!("no session {id:?} in this group"))
    }
}
