//! Expect's `expect_background`: patterns checked whenever a program's output arrives
//! while Tcl's event loop runs (`vwait`, `update`, `after`...). Each watched spawn id has
//! a Tcl file handler on its fd (`sys::tcl::FileHandler`); when it fires, what is
//! available is read and matched against the spawn id's `expect_before`,
//! `expect_background` and `expect_after` branches, and the action of a match runs at
//! the global level with `expect_out` set there, as in Expect.

use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::sys::tcl::{Code, InterpRef, Scope};
use crate::{Match, Pattern, Transport};

use super::commands::{Lasting, background};
use super::expect::{Case, EXP_CONTINUE, EXP_CONTINUE_TIMER, Kind, compile, set_expect_out};
use super::state::{Shared, State, USER_SPAWN_ID};

/// `expect_background [expect_args]`, and `expect_background -info ...`.
pub(crate) fn expect_background(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    let code = background(state, interp, words, Lasting::Background);
    if code != Code::Ok || words.first().is_some_and(|w| w == b"-info") {
        return code;
    }
    if let Err(message) = arm(state, interp) {
        interp.set_result(message.as_bytes());
        return Code::Error;
    }
    // Output that is already buffered is matched now, as in Expect (what has not been
    // read yet is matched when the event loop sees it).
    let ids: Vec<String> = state.borrow().watchers.keys().cloned().collect();
    for id in ids {
        check(state, interp, &id, false);
    }
    interp.set_result(b"");
    Code::Ok
}

/// Gives every spawn id with background branches a file handler, and takes it from the
/// others.
fn arm(state: &Shared, interp: InterpRef<'_>) -> Result<(), String> {
    let mut guard = state.borrow_mut();
    let st = &mut *guard;
    let mut wanted: Vec<String> = Vec::new();
    for case in &st.background {
        for id in &case.ids {
            if !wanted.contains(id) {
                wanted.push(id.clone());
            }
        }
    }
    st.watchers.retain(|id, _| wanted.contains(id));
    for id in wanted {
        if st.watchers.contains_key(&id) {
            continue;
        }
        let fd = if id == USER_SPAWN_ID {
            st.user()?.transport().read_fd().as_raw_fd()
        } else {
            st.session(&id)?.transport().read_fd().as_raw_fd()
        };
        // Weak: the state owns the handler, which must not keep the state alive.
        let shared = std::rc::Rc::downgrade(state);
        let watched = id.clone();
        let handler = interp.watch_readable(
            fd,
            Box::new(move |interp| {
                if let Some(state) = shared.upgrade() {
                    check(&state, interp, &watched, true);
                }
            }),
        );
        st.watchers.insert(id, handler);
    }
    Ok(())
}

/// What one check of a spawn id found.
enum Found {
    /// A branch matched (or the output ended with an `eof` branch).
    Branch(Case, Match),
    /// Nothing (yet).
    Nothing,
    /// The output ended without an `eof` branch, or the spawn id is gone.
    Gone,
}

/// Reads what spawn id `id` has (with `read`; else only what is buffered) and runs the
/// action of each background match, until nothing more that was read matches (the next
/// read is the next event's, as in Expect).
fn check(state: &Shared, interp: InterpRef<'_>, id: &str, read: bool) {
    let mut read = read;
    loop {
        // A command holding the state while Tcl runs its event loop: try again later.
        let Ok(mut st) = state.try_borrow_mut() else {
            return;
        };
        let found = look(&mut st, id, std::mem::take(&mut read));
        let (case, found) = match found {
            Found::Branch(case, found) => (case, found),
            Found::Nothing => return,
            Found::Gone => {
                st.watchers.remove(id);
                return;
            }
        };
        let eof = found.is_eof();
        if eof {
            st.watchers.remove(id);
        }
        // Background processing of this spawn id waits while the action runs.
        if let Some(handler) = st.watchers.get(id) {
            handler.pause();
        }
        drop(st);
        if let Err(message) = set_expect_out(interp, &case, id, &found, Scope::Global) {
            interp.set_result(message.as_bytes());
            interp.background_error(Code::Error);
        }
        if let Some(action) = &case.action {
            match interp.eval_global(action) {
                // `exp_continue`: matching goes on anyway.
                Code::Ok | Code::Other(EXP_CONTINUE | EXP_CONTINUE_TIMER) => {}
                code => interp.background_error(code),
            }
        }
        if let Ok(st) = state.try_borrow() {
            if let Some(handler) = st.watchers.get(id) {
                handler.resume();
            }
        }
        if eof {
            return;
        }
    }
}

/// Matches what spawn id `id` has buffered and can read now against its background
/// branches (with its `expect_before` and `expect_after` ones).
fn look(st: &mut State, id: &str, read: bool) -> Found {
    let mine = |case: &&Case| case.ids.iter().any(|i| i == id);
    // `timeout` and `default` mean nothing here and are dropped, as in Expect.
    let usable = |case: &&Case| !matches!(case.kind, Kind::Timeout | Kind::Default);
    let cases: Vec<Case> = st
        .before
        .iter()
        .filter(mine)
        .chain(st.background.iter().filter(mine))
        .chain(st.after.iter().filter(mine))
        .filter(usable)
        .cloned()
        .collect();
    let mut patterns: Vec<Pattern> = Vec::with_capacity(cases.len());
    for case in &cases {
        match compile(st, case) {
            Ok(pattern) => patterns.push(pattern),
            Err(_) => return Found::Gone,
        }
    }
    if patterns.is_empty() {
        return Found::Gone;
    }
    // What is there now: read without waiting, then matched without waiting.
    let now = Some(Duration::ZERO);
    let result = if id == USER_SPAWN_ID {
        match st.user() {
            Ok(session) => match read {
                true => session.read_available().map(drop),
                false => Ok(()),
            }
            .and_then(|()| session.expect_timeout(&patterns, now)),
            Err(_) => return Found::Gone,
        }
    } else {
        match st.session(id) {
            Ok(session) => match read {
                true => session.read_available().map(drop),
                false => Ok(()),
            }
            .and_then(|()| session.expect_timeout(&patterns, now)),
            Err(_) => return Found::Gone,
        }
    };
    match result {
        // An end of output seen by an earlier read is the next event's, as in Expect
        // (the fd stays readable at its end).
        Ok(found) if found.is_eof() && !read => Found::Nothing,
        Err(e) if e.is_eof() && !read => Found::Nothing,
        Ok(found) => match cases.get(found.index()) {
            Some(case) => Found::Branch(case.clone(), found),
            None => Found::Nothing,
        },
        Err(e) if e.is_timeout() => Found::Nothing,
        Err(_) => Found::Gone,
    }
}
