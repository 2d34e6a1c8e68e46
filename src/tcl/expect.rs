//! Expect's `expect` command (and `expect_before` / `expect_after`): its arguments as
//! Expect reads them, the wait on ptychat's engine with Expect's list-order rule, the
//! `expect_out` array, and the actions with `exp_continue`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::group::SessionId;
use crate::sys::tcl::{Code, InterpRef, Scope};
use crate::{Error, Match, Pattern};

use super::state::{Shared, USER_SPAWN_ID, expect_var, spawn_id};

/// The code `exp_continue` returns (Expect's own value).
pub(crate) const EXP_CONTINUE: i32 = -101;
/// `exp_continue -continue_timer`: the same, keeping the deadline.
pub(crate) const EXP_CONTINUE_TIMER: i32 = -102;

/// Timeouts longer than this many seconds (about 300 years) are no limit.
const NO_LIMIT_BEYOND: u64 = 1 << 33;

/// Expect's default for the `timeout` variable, in seconds.
const DEFAULT_TIMEOUT: i64 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Glob,
    Regex,
    Exact,
    Timeout,
    Eof,
    /// `default`: timeout or eof.
    Default,
}

/// A pattern of an `expect` with its action.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    /// The spawn ids it watches; empty: the expect's `$spawn_id`.
    pub(crate) ids: Vec<String>,
    pub(crate) kind: Kind,
    pub(crate) text: Vec<u8>,
    pub(crate) nocase: bool,
    pub(crate) indices: bool,
    pub(crate) action: Option<Vec<u8>>,
}

/// The arguments of one `expect` call.
#[derive(Debug, Default)]
pub(crate) struct Call {
    pub(crate) timeout: Option<i64>,
    pub(crate) branches: Vec<Branch>,
}

/// Reads an expect's arguments (without the command name) as Expect does: a single
/// argument that starts on a new line is a list of the arguments (the braced form).
pub(crate) fn parse(interp: InterpRef<'_>, words: &[Vec<u8>]) -> Result<Call, String> {
    let words = match words {
        [one] if starts_on_new_line(one) => interp
            .split_list(one)
            .map_err(|e| String::from_utf8_lossy(&e).into_owned())?,
        words => words.to_vec(),
    };
    let mut call = Call::default();
    let mut ids: Vec<String> = Vec::new();
    let mut words = words.into_iter();
    let mut kind = None;
    let (mut nocase, mut indices) = (false, false);
    while let Some(word) = words.next() {
        let mut text = String::from_utf8_lossy(&word).into_owned();
        let flagged = kind.is_some();
        if !flagged && text.len() > 1 && text.starts_with('-') {
            // Expect takes any unique prefix of a flag (`-exact`, `-ex`, `-regexp`...).
            if let Some(flag) = canonical_flag(&text)? {
                text = flag.to_owned();
            }
        }
        match text.as_str() {
            "-i" => {
                let list = words.next().ok_or("-i needs a spawn id list")?;
                ids = interp
                    .split_list(&list)
                    .map_err(|e| String::from_utf8_lossy(&e).into_owned())?
                    .iter()
                    .map(|id| String::from_utf8_lossy(id).into_owned())
                    .collect();
                continue;
            }
            "-timeout" => {
                let value = words.next().ok_or("-timeout needs a number of seconds")?;
                call.timeout = Some(integer(&value)?);
                continue;
            }
            "-glob" if !flagged => kind = Some(Kind::Glob),
            "-regexp" if !flagged => kind = Some(Kind::Regex),
            "-exact" if !flagged => kind = Some(Kind::Exact),
            "-nocase" => nocase = true,
            "-indices" => indices = true,
            "-brace" | "-nobrace" => {}
            "--" => {
                let pattern = words.next().ok_or("-- needs a pattern after it")?;
                push(
                    &mut call,
                    &mut words,
                    &ids,
                    kind.take(),
                    pattern,
                    nocase,
                    indices,
                );
                (nocase, indices) = (false, false);
            }
            "-notransfer" | "-iread" | "-iwrite" | "-continue_timer" => {
                return Err(format!(
                    "expect {text} is not supported by ptychat expect (see docs/TCL.md)"
                ));
            }
            "full_buffer" | "null" if !flagged => {
                return Err(format!(
                    "expect pattern `{text}` is not supported by ptychat expect (see docs/TCL.md)"
                ));
            }
            "timeout" | "eof" | "default" if !flagged => {
                let special = match text.as_str() {
                    "timeout" => Kind::Timeout,
                    "eof" => Kind::Eof,
                    _ => Kind::Default,
                };
                push(
                    &mut call,
                    &mut words,
                    &ids,
                    Some(special),
                    word,
                    nocase,
                    indices,
                );
                (nocase, indices) = (false, false);
            }
            flag if flag.starts_with('-') && flag.len() > 1 && !flagged && is_flag(flag) => {
                return Err(format!("bad flag \"{flag}\""));
            }
            _ => {
                push(
                    &mut call,
                    &mut words,
                    &ids,
                    kind.take(),
                    word,
                    nocase,
                    indices,
                );
                (nocase, indices) = (false, false);
            }
        }
    }
    Ok(call)
}

/// Expect's `expect` flags, by the names it documents.
const FLAGS: &[&str] = &[
    "-glob",
    "-regexp",
    "-exact",
    "-notransfer",
    "-nocase",
    "-i",
    "-indices",
    "-iread",
    "-iwrite",
    "-timeout",
    "-nobrace",
    "-brace",
];

/// The flag `word` names, as Tcl's option tables read it (and so Expect): the flag
/// itself, or a prefix of exactly one flag. `Ok(None)`: no flag starts so (a pattern, or
/// a bad flag for the caller to judge); a prefix of several is an error.
fn canonical_flag(word: &str) -> Result<Option<&'static str>, String> {
    if let Some(flag) = FLAGS.iter().find(|f| **f == word) {
        return Ok(Some(flag));
    }
    let mut matches = FLAGS.iter().filter(|f| f.starts_with(word));
    match (matches.next(), matches.next()) {
        (Some(flag), None) => Ok(Some(flag)),
        (Some(_), Some(_)) => Err(format!("ambiguous flag \"{word}\"")),
        _ => Ok(None),
    }
}

/// Whether a word starting with `-` is meant as an unknown flag rather than a pattern:
/// Expect treats any `-word` it does not know as a bad flag.
fn is_flag(word: &str) -> bool {
    word[1..]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn push(
    call: &mut Call,
    words: &mut impl Iterator<Item = Vec<u8>>,
    ids: &[String],
    kind: Option<Kind>,
    text: Vec<u8>,
    nocase: bool,
    indices: bool,
) {
    call.branches.push(Branch {
        ids: ids.to_vec(),
        kind: kind.unwrap_or(Kind::Glob),
        text,
        nocase,
        indices,
        action: words.next(),
    });
}

/// Expect's rule for the braced form: the argument's first non-blank is on a new line.
fn starts_on_new_line(arg: &[u8]) -> bool {
    for &b in arg {
        match b {
            b'\n' => return true,
            b' ' | b'\t' | b'\r' => {}
            _ => return false,
        }
    }
    false
}

fn integer(value: &[u8]) -> Result<i64, String> {
    let text = String::from_utf8_lossy(value);
    text.trim()
        .parse()
        .map_err(|_| format!("expected integer but got \"{text}\""))
}

/// The engine's pattern for a branch.
pub(crate) fn pattern(branch: &Branch) -> Result<Pattern, String> {
    let text = String::from_utf8_lossy(&branch.text).into_owned();
    let compiled = match (&branch.kind, branch.nocase) {
        (Kind::Glob, false) => Pattern::glob(&text),
        (Kind::Glob, true) => {
            return Err(
                "expect -nocase with a glob pattern is not supported by ptychat \
                        expect; use -re or -ex (see docs/TCL.md)"
                    .into(),
            );
        }
        // Tcl's `.` matches a newline; Rust's needs (?s).
        (Kind::Regex, nocase) => {
            Pattern::regex(&format!("(?s{}){text}", if nocase { "i" } else { "" }))
        }
        (Kind::Exact, false) => Ok(Pattern::exact(branch.text.clone())),
        (Kind::Exact, true) => Pattern::regex(&format!("(?i){}", regex::escape(&text))),
        (Kind::Timeout, _) => Ok(Pattern::timeout()),
        (Kind::Eof, _) | (Kind::Default, _) => Ok(Pattern::eof()),
    };
    compiled.map_err(|e| match e {
        Error::Regex(e) => format!("couldn't compile regular expression pattern: {e}"),
        e => e.to_string(),
    })
}

/// One session's part of a wait: its spawn id, patterns, and the branch of each.
struct Wait<'a> {
    id: &'a str,
    place: SessionId,
    patterns: Vec<Pattern>,
    branches: Vec<usize>,
}

/// How a wait ended.
enum Outcome {
    /// A branch matched (a copy of it), in spawn id `id`.
    Matched {
        branch: Branch,
        id: String,
        found: Match,
    },
    /// The deadline passed or the output ended without a branch for it: Expect carries
    /// on (ptychat's `--strict` fails with `error` instead).
    Unmatched(Error),
    /// An `expect` without patterns ended (the output ended, or the deadline passed).
    Idle,
    /// A trapped signal arrived: its action runs, then the wait goes on.
    Trapped,
}

/// Runs an `expect` call: waits, sets `expect_out`, runs the matching branch's action;
/// `exp_continue` in the action waits again.
pub(crate) fn run(state: &Shared, interp: InterpRef<'_>, call: &Call) -> Code {
    let seconds = match call.timeout {
        Some(seconds) => seconds,
        None => match expect_var(interp, "timeout") {
            Some(value) => match integer(&value) {
                Ok(seconds) => seconds,
                Err(e) => return error(interp, &format!("timeout: {e}")),
            },
            None => DEFAULT_TIMEOUT,
        },
    };
    // Negative is no limit, as in Expect; so is one too long to be a point in time.
    let timeout = u64::try_from(seconds)
        .ok()
        .filter(|&s| s <= NO_LIMIT_BEYOND)
        .map(Duration::from_secs);
    let mut deadline = timeout.map(|t| Instant::now() + t);
    let mut fresh = true;
    loop {
        // A fresh deadline is shown in errors as the timeout itself.
        let left = match fresh {
            true => timeout,
            false => deadline.map(|d| d.saturating_duration_since(Instant::now())),
        };
        let outcome = match wait(state, interp, call, left) {
            Ok(done) => done,
            Err(message) => return error(interp, &message),
        };
        let (branch, id, found) = match outcome {
            Outcome::Matched { branch, id, found } => (branch, id, found),
            Outcome::Trapped => {
                match super::extras::run_traps(state, interp) {
                    Code::Ok => {}
                    code => return code,
                }
                fresh = false;
                continue;
            }
            Outcome::Idle => {
                interp.set_result(b"");
                return Code::Ok;
            }
            Outcome::Unmatched(e) => {
                // `expect` without patterns waits for the end or the deadline on purpose.
                let patterns = call
                    .branches
                    .iter()
                    .any(|b| matches!(b.kind, Kind::Glob | Kind::Regex | Kind::Exact));
                if patterns && state.borrow().strict {
                    return error(interp, &e.to_string());
                }
                interp.set_result(b"");
                return Code::Ok;
            }
        };
        let branch = &branch;
        if let Err(message) = set_expect_out(interp, branch, &id, &found) {
            return error(interp, &message);
        }
        let Some(action) = &branch.action else {
            interp.set_result(b"");
            return Code::Ok;
        };
        match interp.eval(action) {
            Code::Other(EXP_CONTINUE) => {
                deadline = timeout.map(|t| Instant::now() + t);
                fresh = true;
            }
            Code::Other(EXP_CONTINUE_TIMER) => fresh = false,
            code => return code,
        }
    }
}

/// How the wait on the combined branches (`expect_before`'s, the call's,
/// `expect_after`'s) ended. Costs O(ids) with no copy of the call's id lists: with
/// `expect -i $pending` over a thousand ids, each call would copy them several times.
fn wait(
    state: &Shared,
    interp: InterpRef<'_>,
    call: &Call,
    timeout: Option<Duration>,
) -> Result<Outcome, String> {
    // Read before the state is borrowed: a Tcl trace on the variable may run commands.
    let default = [spawn_id(interp, None)?];
    let mut state = state.borrow_mut();
    fn resolve<'a>(branch: &'a Branch, default: &'a [String]) -> &'a [String] {
        if branch.ids.is_empty() {
            default
        } else {
            &branch.ids
        }
    }
    // The spawn ids of the call, in order of first mention, and each one's place in
    // that order (an `expect -i` over a thousand ids costs a thousand steps, not a
    // million).
    let mut ids: Vec<&str> = Vec::new();
    let mut place_of: HashMap<&str, usize> = HashMap::new();
    for branch in &call.branches {
        for id in resolve(branch, &default) {
            if let std::collections::hash_map::Entry::Vacant(entry) = place_of.entry(id) {
                entry.insert(ids.len());
                ids.push(id);
            }
        }
    }
    if ids.is_empty() {
        place_of.insert(&default[0], 0);
        ids.push(&default[0]);
    }
    // `expect_before` / `expect_after` branches are copied (they live in the state,
    // which the wait borrows); the call's are borrowed.
    let watched = |branch: &Branch| branch.ids.iter().any(|i| place_of.contains_key(i.as_str()));
    let before: Vec<Branch> = state
        .before
        .iter()
        .filter(|b| watched(b))
        .cloned()
        .collect();
    let after: Vec<Branch> = state.after.iter().filter(|b| watched(b)).cloned().collect();
    let branches: Vec<&Branch> = before.iter().chain(&call.branches).chain(&after).collect();
    let owners: Vec<&[String]> = before
        .iter()
        .map(|b| b.ids.as_slice())
        .chain(call.branches.iter().map(|b| resolve(b, &default)))
        .chain(after.iter().map(|b| b.ids.as_slice()))
        .collect();
    if ids.contains(&USER_SPAWN_ID) {
        if ids.len() > 1 {
            return Err(
                "ptychat expect cannot wait on user_spawn_id and spawned programs in \
                        one expect yet (see docs/TCL.md)"
                    .into(),
            );
        }
        let branches = branches.into_iter().cloned().collect();
        return user_wait(&mut state, branches, timeout);
    }
    let mut waits: Vec<Wait<'_>> = Vec::with_capacity(ids.len());
    for id in ids {
        let place = match state.ids.get(id) {
            Some(&place) => place,
            None => return Err(state.session(id).err().unwrap_or_default()),
        };
        waits.push(Wait {
            id,
            place,
            patterns: Vec::new(),
            branches: Vec::new(),
        });
    }
    for (b, branch) in branches.iter().enumerate() {
        let compiled = state.pattern(branch)?;
        for owner in owners[b] {
            // An id an `expect_before` names but this expect does not watch is skipped.
            let Some(&k) = place_of.get(owner.as_str()) else {
                continue;
            };
            let wait = &mut waits[k];
            if wait.branches.last() == Some(&b) {
                continue; // named twice in one -i list
            }
            wait.patterns.push(compiled.clone());
            wait.branches.push(b);
            if branch.kind == Kind::Default {
                wait.patterns.push(Pattern::timeout());
                wait.branches.push(b);
            }
        }
    }
    // A session without patterns (`expect` alone) waits for its end or the deadline.
    const NO_BRANCH: usize = usize::MAX;
    for wait in waits.iter_mut().filter(|w| w.patterns.is_empty()) {
        wait.patterns = vec![Pattern::eof(), Pattern::timeout()];
        wait.branches = vec![NO_BRANCH, NO_BRANCH];
    }
    let found = if let [only] = &waits[..] {
        // Trapped signals end the wait (their actions run, then it goes on): the pipe is
        // lent to the session for the wait.
        let trapped = state.extras.trapped();
        let pipe = state.extras.pipe.take();
        let session = state.group.get_mut(only.place).expect("a live session");
        let mut patterns = only.patterns.clone();
        if let Some(pipe) = pipe {
            session.watch_signals(pipe);
            patterns.extend(trapped.into_iter().map(Pattern::signal));
        }
        let found = session.expect_timeout(&patterns, timeout);
        let arrived = session.take_signals().unwrap_or_default();
        let pipe = session.unwatch_signals();
        state.extras.pipe = pipe;
        state.extras.arrived(arrived);
        match found {
            Ok(m) if m.index() >= only.patterns.len() => {
                state.extras.arrived(m.signal());
                return Ok(Outcome::Trapped);
            }
            found => found.map(|m| (0, m)),
        }
    } else {
        let lists = waits.iter().map(|w| (w.place, w.patterns.as_slice()));
        state.group.expect_timeout(lists, timeout).map(|g| {
            let k = waits.iter().position(|w| w.place == g.id());
            (k.expect("a session of the wait"), g.into_match())
        })
    };
    let outcome = match found {
        Ok((k, found)) if waits[k].branches[found.index()] == NO_BRANCH => Outcome::Idle,
        Ok((k, found)) => Outcome::Matched {
            branch: branches[waits[k].branches[found.index()]].clone(),
            id: waits[k].id.to_owned(),
            found,
        },
        Err(e) if e.is_timeout() || e.is_eof() => Outcome::Unmatched(e),
        Err(e) => return Err(e.to_string()),
    };
    Ok(outcome)
}

/// The wait of `expect_user` (or `expect` before any spawn): on our standard input.
fn user_wait(
    state: &mut super::state::State,
    branches: Vec<Branch>,
    timeout: Option<Duration>,
) -> Result<Outcome, String> {
    let mut patterns = Vec::new();
    let mut owners = Vec::new();
    for (b, branch) in branches.iter().enumerate() {
        patterns.push(state.pattern(branch)?);
        owners.push(b);
        if branch.kind == Kind::Default {
            patterns.push(Pattern::timeout());
            owners.push(b);
        }
    }
    if patterns.is_empty() {
        patterns = vec![Pattern::eof(), Pattern::timeout()];
    }
    let session = state.user()?;
    let outcome = match session.expect_timeout(&patterns, timeout) {
        Ok(found) => match owners.get(found.index()) {
            Some(&branch) => Outcome::Matched {
                branch: branches[branch].clone(),
                id: USER_SPAWN_ID.to_owned(),
                found,
            },
            None => Outcome::Idle,
        },
        Err(e) if e.is_timeout() || e.is_eof() => Outcome::Unmatched(e),
        Err(e) => return Err(e.to_string()),
    };
    Ok(outcome)
}

/// Sets `expect_out` as Expect does after a match: `buffer` (the output up to the end of
/// the match), `0,string`, `N,string` for a regex's groups, `N,start` / `N,end` with
/// `-indices`, and `spawn_id`. A timeout sets nothing; the end of output sets `buffer`.
fn set_expect_out(
    interp: InterpRef<'_>,
    branch: &Branch,
    id: &str,
    found: &Match,
) -> Result<(), String> {
    let set = |index: &str, value: &[u8]| {
        interp
            .set_var("expect_out", Some(index), value, Scope::Current)
            .map_err(|e| String::from_utf8_lossy(&e).into_owned())
    };
    if found.is_timeout() {
        return Ok(());
    }
    set("spawn_id", id.as_bytes())?;
    let mut buffer = Vec::with_capacity(found.before().len() + found.matched().len());
    buffer.extend_from_slice(found.before());
    buffer.extend_from_slice(found.matched());
    set("buffer", &buffer)?;
    if found.is_eof() {
        return Ok(());
    }
    let groups = match branch.kind {
        Kind::Regex => found.group_count().max(1),
        _ => 1,
    };
    let start = found.before().len();
    for i in 0..groups {
        let value = found.group(i).unwrap_or_default();
        set(&format!("{i},string"), value)?;
        if branch.indices {
            let (first, last) = match found.group_range(i) {
                Some(range) if !range.is_empty() => {
                    (start + range.start, (start + range.end - 1) as i64)
                }
                Some(range) => (start + range.start, (start + range.start) as i64 - 1),
                None => (0, -1),
            };
            set(&format!("{i},start"), first.to_string().as_bytes())?;
            set(&format!("{i},end"), last.to_string().as_bytes())?;
        }
    }
    Ok(())
}

pub(crate) fn error(interp: InterpRef<'_>, message: &str) -> Code {
    interp.set_result(message.as_bytes());
    Code::Error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_braced_form_starts_on_a_new_line() {
        assert!(starts_on_new_line(b"  \n  \"a\" {b}\n"));
        assert!(!starts_on_new_line(b"\"a\" {b}\n"));
        assert!(!starts_on_new_line(b""));
    }
}
