//! The wait over many async sessions: the engine's `check` per session, the first match
//! (in the order the sessions are given) returned with its session's place, and one
//! wait on the runtime for every watched fd in between. Like the blocking group's wait
//! (`group/watch.rs`), a wakeup looks again only at the sessions whose output changed.

use std::borrow::Cow;
use std::ops::Deref;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::pin;
use std::time::{Duration, Instant};

use crate::async_session::AsyncSession;
use crate::async_session::fds::{Registrations, poll_many, timer};
use crate::deadline::Deadline;
use crate::engine::background::Combined;
use crate::engine::matched::Match;
use crate::engine::matcher::MatchSet;
use crate::engine::output::Stream;
use crate::engine::pattern::{Kind, Pattern, Patterns, describe};
use crate::engine::session::{ERROR_TAIL, Ended, WatchState};
use crate::engine::transport::Transport;
use crate::error::{Context, Error, Result};
use crate::escape::escape_tail;

/// How many sessions a timeout error describes, and the least of each tail it shows (as
/// a [`Group`](crate::Group)'s).
const DESCRIBED_SESSIONS: usize = 10;
const LEAST_TAIL: usize = 80;

/// A match in one of the sessions of [`AsyncSession::expect_any`] or
/// [`expect_each`](AsyncSession::expect_each): which session (its place in the list),
/// and the [`Match`], which it derefs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnyMatch {
    session: usize,
    found: Match,
}

impl AnyMatch {
    /// The place of the session that matched in the list the call was given.
    pub fn session(&self) -> usize {
        self.session
    }

    /// The match itself.
    pub fn into_match(self) -> Match {
        self.found
    }
}

impl Deref for AnyMatch {
    type Target = Match;

    fn deref(&self) -> &Match {
        &self.found
    }
}

impl<T: Transport> AsyncSession<T> {
    /// Waits until any of `sessions` matches one of `patterns` (the same for all), or
    /// `timeout` passes (`None`: no limit): the async form of a
    /// [`Group`](crate::Group)'s `expect_any`, over sessions the caller keeps. Returns
    /// which session matched ([`AnyMatch::session`], its place in `sessions`) and the match.
    ///
    /// The rules are the group's: when several sessions have a match buffered, the first
    /// in the list wins; within a session, the usual rule (earliest match, then first
    /// pattern) with its own background patterns. A session whose output ends without an
    /// `eof` pattern (or whose buffer fills under
    /// [`BufferFull::Error`](crate::BufferFull::Error), or whose background pattern
    /// matches) ends the call with [`Error::InSession`] naming it `session-N` after its
    /// place. At the deadline, the first session with a `timeout` pattern matches it;
    /// without one the call fails with [`Error::GroupTimeout`], showing each session's
    /// patterns and output tail. Cancelling the call loses nothing, as for
    /// [`expect`](AsyncSession::expect).
    ///
    /// For sessions of different transports, [`boxed`](AsyncSession::boxed) gives them one
    /// type. For a few sessions, `tokio::select!` over their own `expect` futures works
    /// too.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ptychat::{AsyncSession, Command};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> ptychat::Result<()> {
    /// let mut slow = Command::shell("read x; echo done").spawn()?.into_async();
    /// let mut fast = Command::shell("echo done; sleep 5").spawn()?.into_async();
    /// let hit = AsyncSession::expect_any(&mut [&mut slow, &mut fast], "done",
    ///                                    Some(Duration::from_secs(30))).await?;
    /// assert_eq!(hit.session(), 1);
    /// assert_eq!(hit.matched(), b"done");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn expect_any<'p>(
        sessions: &mut [&mut AsyncSession<T>],
        patterns: impl Into<Patterns<'p>>,
        timeout: Option<Duration>,
    ) -> Result<AnyMatch> {
        let Patterns(patterns) = patterns.into();
        let lists = vec![Cow::Borrowed(&*patterns); sessions.len()];
        drive(sessions, &lists, Deadline::after(timeout)).await
    }

    /// [`expect_any`](AsyncSession::expect_any) with the deadline as an instant.
    pub async fn expect_any_deadline<'p>(
        sessions: &mut [&mut AsyncSession<T>],
        patterns: impl Into<Patterns<'p>>,
        deadline: Instant,
    ) -> Result<AnyMatch> {
        let Patterns(patterns) = patterns.into();
        let lists = vec![Cow::Borrowed(&*patterns); sessions.len()];
        drive(sessions, &lists, Deadline::at(deadline)).await
    }

    /// Like [`expect_any`](AsyncSession::expect_any), with patterns of its own for each
    /// session (the blocking [`Group::expect`](crate::Group::expect)); the match's
    /// [`index`](Match::index) is in that session's list.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ptychat::{AsyncSession, Command, Pattern};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> ptychat::Result<()> {
    /// let mut a = Command::shell("echo apple; sleep 5").spawn()?.into_async();
    /// let mut b = Command::shell("sleep 1; echo banana").spawn()?.into_async();
    /// let waits = [(&mut a, Pattern::exact("banana")), (&mut b, Pattern::regex("ban(an)a")?)];
    /// let hit = AsyncSession::expect_each(waits, Some(Duration::from_secs(30))).await?;
    /// assert_eq!((hit.session(), hit.group_str(1).as_deref()), (1, Some("an")));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn expect_each<'s, 'p, P: Into<Patterns<'p>>>(
        waits: impl IntoIterator<Item = (&'s mut AsyncSession<T>, P)>,
        timeout: Option<Duration>,
    ) -> Result<AnyMatch>
    where
        T: 's,
    {
        let (mut sessions, lists): (Vec<&mut AsyncSession<T>>, Vec<Cow<'p, [Pattern]>>) = waits
            .into_iter()
            .map(|(session, patterns)| (session, patterns.into().0))
            .unzip();
        drive(&mut sessions, &lists, Deadline::after(timeout)).await
    }
}

/// The wait: check the sessions that changed, in order; at the deadline, the first
/// `timeout` pattern or the timeout error; else wait on every watched fd and read the
/// sessions that are ready.
async fn drive<T: Transport>(
    sessions: &mut [&mut AsyncSession<T>],
    lists: &[Cow<'_, [Pattern]>],
    deadline: Deadline,
) -> Result<AnyMatch> {
    if sessions.is_empty() {
        return Err(Error::InvalidArgument("no session to wait on".into()));
    }
    if let Some(k) = lists.iter().position(|list| list.is_empty()) {
        return Err(Error::InvalidArgument(format!(
            "session `{}` has no pattern to wait for",
            name(k)
        )));
    }
    let combined: Vec<Combined<'_>> = sessions
        .iter()
        .zip(lists)
        .map(|(s, list)| s.combined(&[], Cow::Borrowed(&**list), &[]))
        .collect();
    let mut sets: Vec<MatchSet<'_>> = sessions
        .iter_mut()
        .zip(&combined)
        .map(|(s, c)| s.engine().start_expect(Stream::Main, c, &deadline))
        .collect();
    let discarded: Vec<u64> = sessions
        .iter_mut()
        .map(|s| s.engine().discarded_on(Stream::Main))
        .collect();
    for (k, s) in sessions.iter_mut().enumerate() {
        s.read_if_stranded().map_err(|e| in_session(k, e))?;
    }
    let mut seen: Vec<Option<WatchState>> = vec![None; sessions.len()];
    let mut sleep = pin!(timer(&deadline));
    let never = Deadline::after(None);
    let mut ready: Vec<usize> = Vec::new();
    let mut owners: Vec<usize> = Vec::new();
    loop {
        for (k, s) in sessions.iter_mut().enumerate() {
            let session = s.engine();
            let state = session.watch_state();
            if seen[k] == Some(state) {
                continue;
            }
            let ended = session.check(Stream::Main, &mut sets[k], &never);
            seen[k] = Some(session.watch_state());
            if let Some(ended) = ended {
                let result = session.ended(
                    Stream::Main,
                    &combined[k],
                    &sets[k],
                    &deadline,
                    discarded[k],
                    ended,
                );
                return found(k, result);
            }
        }
        if deadline.has_passed() {
            let with_timeout = combined
                .iter()
                .position(|c| c.patterns.iter().any(|p| matches!(p.kind, Kind::Timeout)));
            return match with_timeout {
                Some(k) => {
                    let result = sessions[k].engine().ended(
                        Stream::Main,
                        &combined[k],
                        &sets[k],
                        &deadline,
                        discarded[k],
                        Ended::DeadlinePassed,
                    );
                    found(k, result)
                }
                None => Err(timed_out(sessions, &combined, &deadline)),
            };
        }
        for (k, s) in sessions.iter_mut().enumerate() {
            s.register_watched().map_err(|e| in_session(k, e))?;
        }
        owners.clear();
        let wants: Vec<(&Registrations, RawFd)> = sessions
            .iter()
            .enumerate()
            .flat_map(|(k, s)| {
                let regs = s.registrations();
                s.watched_fds()
                    .into_iter()
                    .flatten()
                    .map(move |fd| (k, regs, fd.as_raw_fd()))
            })
            .map(|(k, regs, fd)| {
                owners.push(k);
                (regs, fd)
            })
            .collect();
        std::future::poll_fn(|cx| poll_many(&wants, sleep.as_mut().as_pin_mut(), &mut ready, cx))
            .await
            .context("waiting for the sessions")?;
        drop(wants);
        let mut last = None;
        for &w in &ready {
            let k = owners[w];
            if last != Some(k) {
                last = Some(k);
                sessions[k].read().map_err(|e| in_session(k, e))?;
            }
        }
    }
}

fn found(k: usize, result: Result<Match>) -> Result<AnyMatch> {
    result
        .map(|found| AnyMatch { session: k, found })
        .map_err(|e| in_session(k, e))
}

fn name(k: usize) -> String {
    format!("session-{k}")
}

fn in_session(k: usize, error: Error) -> Error {
    Error::InSession {
        session: name(k),
        source: Box::new(error),
    }
}

/// The error for a wait whose deadline passed: each session's patterns and tail.
fn timed_out<T: Transport>(
    sessions: &[&mut AsyncSession<T>],
    combined: &[Combined<'_>],
    deadline: &Deadline,
) -> Error {
    let shown = sessions.len().min(DESCRIBED_SESSIONS);
    let tail = (ERROR_TAIL / shown.max(1)).max(LEAST_TAIL);
    let mut parts: Vec<String> = sessions[..shown]
        .iter()
        .zip(combined)
        .enumerate()
        .map(|(k, (s, c))| {
            let buffer = s.buffer();
            format!(
                "`{}` for {} ({} unmatched bytes, ending with: \"{}\")",
                name(k),
                describe(&c.patterns),
                buffer.len(),
                escape_tail(buffer, tail)
            )
        })
        .collect();
    if sessions.len() > shown {
        parts.push(format!("and {} more sessions", sessions.len() - shown));
    }
    Error::GroupTimeout {
        timeout: deadline.timeout().unwrap_or(Duration::MAX),
        waited: deadline.elapsed(),
        waiting: format!("{} sessions: {}", sessions.len(), parts.join("; ")),
    }
}
