//! One `expect` over `$user_spawn_id` and/or `/dev/tty` (`expect_tty`'s spawn id) together
//! with spawned programs: our standard input and our terminal are sessions of another kind
//! than the programs' ptys, so the engine's group wait does not take them; this wait checks each one's buffered output in the spawn ids' order,
//! then polls all their fds until one has more or the deadline passes.

use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::{Error, Match, Pattern, Session, Transport};

use super::expect::{Case, Kind, Outcome, compile};
use super::state::{State, TTY_SPAWN_ID, USER_SPAWN_ID};

/// One spawn id's part: its patterns and the branch of each.
struct Part {
    id: String,
    patterns: Vec<Pattern>,
    branches: Vec<usize>,
}

/// The wait of an expect over `ids` (among them `$user_spawn_id` or `/dev/tty`); `owners[b]` are the
/// spawn ids branch `b` watches.
pub(crate) fn mixed_wait(
    state: &mut State,
    branches: &[Case],
    owners: &[Vec<String>],
    ids: &[String],
    timeout: Option<Duration>,
) -> Result<Outcome, String> {
    let mut parts: Vec<Part> = ids
        .iter()
        .map(|id| Part {
            id: id.clone(),
            patterns: Vec::new(),
            branches: Vec::new(),
        })
        .collect();
    // The deadline is this wait's own; `timeout` (or `default`) is its branch.
    let mut on_timeout = None;
    for (b, branch) in branches.iter().enumerate() {
        match branch.kind {
            Kind::Timeout => {
                on_timeout.get_or_insert(b);
                continue;
            }
            Kind::Default => {
                on_timeout.get_or_insert(b);
            }
            Kind::FullBuffer => continue,
            _ => {}
        }
        let compiled = compile(state, branch)?;
        for owner in &owners[b] {
            if let Some(part) = parts.iter_mut().find(|p| &p.id == owner) {
                if part.branches.last() != Some(&b) {
                    part.patterns.push(compiled.clone());
                    part.branches.push(b);
                }
            }
        }
    }
    for part in &parts {
        match part.id.as_str() {
            USER_SPAWN_ID => drop(state.user()?),
            TTY_SPAWN_ID => drop(state.tty()?),
            id => drop(state.session(id)?),
        }
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        for part in parts.iter().filter(|p| !p.patterns.is_empty()) {
            match buffered(state, &part.id, &part.patterns)? {
                Ok(found) => {
                    return Ok(Outcome::Matched {
                        branch: part.branches[found.index()],
                        id: part.id.clone(),
                        found,
                    });
                }
                Err(e) if e.is_eof() => return Ok(Outcome::Unmatched(e)),
                Err(e) if e.is_timeout() => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Ok(match on_timeout {
                Some(branch) => Outcome::Matched {
                    branch,
                    id: ids[0].clone(),
                    found: Match::timeout(0, Vec::new()),
                },
                None => {
                    let first = &parts[0];
                    match buffered(state, &first.id, &first.patterns)? {
                        Err(e) => Outcome::Unmatched(e),
                        Ok(_) => Outcome::Idle,
                    }
                }
            });
        }
        let ready: Vec<bool> = {
            let fds = state.read_fds(ids);
            let mut polled: Vec<PollFd<'_>> = fds
                .iter()
                .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
                .collect();
            let wait = match left {
                None => PollTimeout::NONE,
                // Rounded up: a wait that ends early only loops once more.
                Some(left) => PollTimeout::try_from(left.as_millis().saturating_add(1))
                    .unwrap_or(PollTimeout::MAX),
            };
            match poll(&mut polled, wait) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(format!("waiting for the programs: {e}")),
            }
            polled
                .iter()
                .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
                .collect()
        };
        for (id, ready) in ids.iter().zip(ready) {
            if ready {
                let read = match id.as_str() {
                    USER_SPAWN_ID => state.user()?.read_available(),
                    TTY_SPAWN_ID => state.tty()?.read_available(),
                    id => state.session(id)?.read_available(),
                };
                // The end of output is seen by the next check.
                if let Err(e) = read {
                    if !e.is_eof() {
                        return Err(e.to_string());
                    }
                }
            }
        }
    }
}

/// Matches what spawn id `id` has buffered, without reading or waiting: a timeout error
/// when nothing matches yet.
fn buffered(
    state: &mut State,
    id: &str,
    patterns: &[Pattern],
) -> Result<Result<Match, Error>, String> {
    fn now<T: Transport>(session: &mut Session<T>, patterns: &[Pattern]) -> Result<Match, Error> {
        session.expect_timeout(patterns, Some(Duration::ZERO))
    }
    Ok(match id {
        USER_SPAWN_ID => now(state.user()?, patterns),
        TTY_SPAWN_ID => now(state.tty()?, patterns),
        id => now(state.session(id)?, patterns),
    })
}
