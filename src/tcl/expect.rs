//! Expect's `expect` command (and `expect_before` / `expect_after`): its arguments as
//! Expect reads them, the wait on ptychat's engine with Expect's list-order rule, the
//! `expect_out` array, and the actions with `exp_continue`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::group::SessionId;
use crate::sys::tcl::{Code, InterpRef, Scope};
use crate::{Error, Match, Pattern};

use super::state::{ANY_SPAWN_ID, Shared, TTY_SPAWN_ID, USER_SPAWN_ID, expect_var, spawn_id};

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
    /// `full_buffer`: the unmatched output reached `match_max`.
    FullBuffer,
    /// `null`: a NUL byte (seen only with `remove_nulls 0`).
    Null,
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

/// A branch of an `expect` with the options only `expect` has (not `interact`).
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) branch: Branch,
    /// `-notransfer`: a match leaves the output buffered for the next expect.
    pub(crate) notransfer: bool,
}

impl std::ops::Deref for Case {
    type Target = Branch;
    fn deref(&self) -> &Branch {
        &self.branch
    }
}

impl std::ops::DerefMut for Case {
    fn deref_mut(&mut self) -> &mut Branch {
        &mut self.branch
    }
}

/// The arguments of one `expect` call.
#[derive(Debug, Default)]
pub(crate) struct Call {
    pub(crate) timeout: Option<i64>,
    pub(crate) branches: Vec<Case>,
    /// Every id an `-i` list names, in order, with patterns after it or not (Expect
    /// watches an id named by an `-i` followed at once by another `-i` for the patterns
    /// given to `$any_spawn_id`).
    pub(crate) named: Vec<String>,
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
    let mut flags = PatternFlags::default();
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
                call.named.extend(ids.iter().cloned());
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
            "-nocase" => flags.nocase = true,
            "-indices" => flags.indices = true,
            "-notransfer" => flags.notransfer = true,
            "-brace" | "-nobrace" => {}
            "--" => {
                let pattern = words.next().ok_or("-- needs a pattern after it")?;
                push(
                    &mut call,
                    &mut words,
                    &ids,
                    kind.take(),
                    pattern,
                    std::mem::take(&mut flags),
                );
            }
            "-iread" | "-iwrite" | "-continue_timer" => {
                return Err(format!(
                    "expect {text} is not supported by ptychat expect (see docs/TCL.md)"
                ));
            }
            "timeout" | "eof" | "default" | "full_buffer" | "null" if !flagged => {
                let special = match text.as_str() {
                    "timeout" => Kind::Timeout,
                    "eof" => Kind::Eof,
                    "full_buffer" => Kind::FullBuffer,
                    "null" => Kind::Null,
                    _ => Kind::Default,
                };
                push(
                    &mut call,
                    &mut words,
                    &ids,
                    Some(special),
                    word,
                    std::mem::take(&mut flags),
                );
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
                    std::mem::take(&mut flags),
                );
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

/// The flags that apply to the next pattern only.
#[derive(Debug, Default, Clone, Copy)]
struct PatternFlags {
    nocase: bool,
    indices: bool,
    notransfer: bool,
}

fn push(
    call: &mut Call,
    words: &mut impl Iterator<Item = Vec<u8>>,
    ids: &[String],
    kind: Option<Kind>,
    text: Vec<u8>,
    flags: PatternFlags,
) {
    call.branches.push(Case {
        branch: Branch {
            ids: ids.to_vec(),
            kind: kind.unwrap_or(Kind::Glob),
            text,
            nocase: flags.nocase,
            indices: flags.indices,
            action: words.next(),
        },
        notransfer: flags.notransfer,
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
        // Expect compares both in lower case.
        (Kind::Glob, true) => crate::engine::glob::to_regex(&text)
            .map_err(Error::InvalidArgument)
            .and_then(|source| Pattern::regex(&format!("(?i){source}"))),
        // Tcl's `.` matches a newline; Rust's needs (?s).
        (Kind::Regex, nocase) => {
            Pattern::regex(&format!("(?s{}){text}", if nocase { "i" } else { "" }))
        }
        (Kind::Exact, false) => Ok(Pattern::exact(branch.text.clone())),
        (Kind::Exact, true) => Pattern::regex(&format!("(?i){}", regex::escape(&text))),
        (Kind::Timeout, _) => Ok(Pattern::timeout()),
        (Kind::Eof, _) | (Kind::Default, _) => Ok(Pattern::eof()),
        (Kind::Null, _) => Ok(Pattern::exact([0])),
        // Not a pattern: the wait watches the buffer's size for it.
        (Kind::FullBuffer, _) => Ok(Pattern::nbytes(usize::MAX)),
    };
    compiled.map_err(|e| match e {
        Error::Regex(e) => format!("couldn't compile regular expression pattern: {e}"),
        e => e.to_string(),
    })
}

/// The engine's pattern for a case, from the cache; `-notransfer` keeps the output.
pub(crate) fn compile(state: &mut super::state::State, case: &Case) -> Result<Pattern, String> {
    let compiled = state.pattern(case)?;
    Ok(if case.notransfer {
        compiled.keep()
    } else {
        compiled
    })
}

/// One session's part of a wait: its spawn id, patterns, and the branch of each.
struct Wait {
    id: String,
    place: SessionId,
    patterns: Vec<Pattern>,
    branches: Vec<usize>,
    /// The first `full_buffer` branch for this session.
    full: Option<usize>,
}

/// How a wait ended.
pub(crate) enum Outcome {
    /// A branch matched (its index in the combined list), in spawn id `id`.
    Matched {
        branch: usize,
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
        let (branches, outcome) = match wait(state, interp, call, left) {
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
                    .any(|b| matches!(b.kind, Kind::Glob | Kind::Regex | Kind::Exact | Kind::Null));
                if patterns && state.borrow().strict {
                    return error(interp, &e.to_string());
                }
                interp.set_result(b"");
                return Code::Ok;
            }
        };
        let branch = &branches[branch];
        if let Err(message) = set_expect_out(interp, branch, &id, &found, Scope::Current) {
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

/// The combined branches (`expect_before`'s, the call's, `expect_after`'s) and how the
/// wait on them ended.
fn wait(
    state: &Shared,
    interp: InterpRef<'_>,
    call: &Call,
    timeout: Option<Duration>,
) -> Result<(Vec<Case>, Outcome), String> {
    // Read before the state is borrowed: a Tcl trace on the variable may run commands.
    let default = spawn_id(interp, None)?;
    let default_id = || -> Result<String, String> { Ok(default.clone()) };
    let mut state = state.borrow_mut();
    let resolve = |branch: &Branch| -> Result<Vec<String>, String> {
        if branch.ids.is_empty() {
            Ok(vec![default_id()?])
        } else {
            Ok(branch.ids.clone())
        }
    };
    // The spawn ids of the call, in order of first mention, and each one's place in
    // that order (an `expect -i` over a thousand ids costs a thousand steps, not a
    // million).
    let mut ids: Vec<String> = Vec::new();
    let mut place_of: HashMap<String, usize> = HashMap::new();
    let mut mention = |id: &String| {
        if id != ANY_SPAWN_ID && !place_of.contains_key(id) {
            place_of.insert(id.clone(), ids.len());
            ids.push(id.clone());
        }
    };
    // With `$any_spawn_id` in the call, an id named by an `-i` without patterns counts.
    if call.named.iter().any(|i| i == ANY_SPAWN_ID) {
        call.named.iter().for_each(&mut mention);
    }
    for branch in &call.branches {
        resolve(branch)?.iter().for_each(&mut mention);
    }
    if ids.is_empty() {
        let id = default_id()?;
        place_of.insert(id.clone(), 0);
        ids.push(id);
    }
    let mut branches: Vec<Case> = Vec::new();
    let mut owners: Vec<Vec<String>> = Vec::new();
    // `$any_spawn_id` in a list stands for every id this expect names.
    let any = |list: Vec<String>| -> Vec<String> {
        if list.iter().any(|i| i == ANY_SPAWN_ID) {
            ids.clone()
        } else {
            list
        }
    };
    let watched = |branch: &Case| {
        branch
            .ids
            .iter()
            .any(|i| i == ANY_SPAWN_ID || place_of.contains_key(i))
    };
    for branch in state.before.iter().filter(|b| watched(b)) {
        owners.push(any(branch.ids.clone()));
        branches.push(branch.clone());
    }
    for branch in &call.branches {
        owners.push(any(resolve(branch)?));
        branches.push(branch.clone());
    }
    for branch in state.after.iter().filter(|b| watched(b)) {
        owners.push(any(branch.ids.clone()));
        branches.push(branch.clone());
    }
    // Our standard input and our terminal are sessions of another kind than the
    // programs' ptys: alone, each has its own wait; with others, the mixed wait.
    if let Some(own) = ids
        .iter()
        .find(|id| *id == USER_SPAWN_ID || *id == TTY_SPAWN_ID)
    {
        if ids.len() > 1 {
            let outcome = super::mixed::mixed_wait(&mut state, &branches, &owners, &ids, timeout)?;
            return Ok((branches, outcome));
        }
        let own = own.clone();
        return user_wait(&mut state, branches, timeout, &own);
    }
    let mut waits: Vec<Wait> = Vec::with_capacity(ids.len());
    for id in ids {
        state.session(&id)?;
        let place = state.ids[&id];
        waits.push(Wait {
            id,
            place,
            patterns: Vec::new(),
            branches: Vec::new(),
            full: None,
        });
    }
    for (b, branch) in branches.iter().enumerate() {
        let compiled = compile(&mut state, branch)?;
        for owner in &owners[b] {
            // An id an `expect_before` names but this expect does not watch is skipped.
            let Some(&k) = place_of.get(owner) else {
                continue;
            };
            let wait = &mut waits[k];
            if wait.branches.last() == Some(&b) || wait.full == Some(b) {
                continue; // named twice in one -i list
            }
            if branch.kind == Kind::FullBuffer {
                // Not a pattern: the session stops reading at `match_max` instead of
                // dropping the oldest output, and the wait ends there.
                wait.full.get_or_insert(b);
                continue;
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
    let full = |on: bool| match on {
        true => crate::BufferFull::Error,
        false => crate::BufferFull::DiscardOldest,
    };
    for wait in waits.iter().filter(|w| w.full.is_some()) {
        let session = state.group.get_mut(wait.place).expect("a live session");
        session.set_max_buffer(session.max_buffer(), full(true));
    }
    let found = wait_on(&mut state, &waits, timeout);
    let mut full_branch = None;
    for (k, wait) in waits.iter().enumerate() {
        if let Some(b) = wait.full {
            let session = state.group.get_mut(wait.place).expect("a live session");
            let max = session.max_buffer();
            session.set_max_buffer(max, full(false));
            if full_branch.is_none() && session.buffer().len() >= max {
                full_branch = Some((k, b));
            }
        }
    }
    let found = match (found, full_branch) {
        (Err(Error::BufferFull { .. }), Some((k, b))) => {
            let session = state.group.get_mut(waits[k].place).expect("a live session");
            let before = session.take_buffer();
            return Ok((
                branches,
                Outcome::Matched {
                    branch: b,
                    id: waits[k].id.clone(),
                    found: Match::data(0, before, Vec::new(), Vec::new(), Arc::from([])),
                },
            ));
        }
        (Ok(Waited::Trapped), _) => return Ok((branches, Outcome::Trapped)),
        (Ok(Waited::Found(k, m)), _) => Ok((k, m)),
        (Err(e), _) => Err(e),
    };
    let outcome = match found {
        Ok((k, found)) if waits[k].branches[found.index()] == NO_BRANCH => Outcome::Idle,
        Ok((k, found)) => Outcome::Matched {
            branch: waits[k].branches[found.index()],
            id: waits[k].id.clone(),
            found,
        },
        Err(e) if e.is_timeout() || e.is_eof() => Outcome::Unmatched(e),
        Err(e) => return Err(e.to_string()),
    };
    Ok((branches, outcome))
}

/// How the engine's wait ended.
enum Waited {
    /// A pattern of `waits[k]` matched.
    Found(usize, Match),
    /// A trapped signal arrived.
    Trapped,
}

/// The engine's wait on the sessions of `waits`.
fn wait_on(
    state: &mut super::state::State,
    waits: &[Wait],
    timeout: Option<Duration>,
) -> Result<Waited, Error> {
    if let [only] = waits {
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
                Ok(Waited::Trapped)
            }
            found => found.map(|m| Waited::Found(0, m)),
        }
    } else {
        let lists = waits.iter().map(|w| (w.place, w.patterns.as_slice()));
        state.group.expect_timeout(lists, timeout).map(|g| {
            let k = waits.iter().position(|w| w.place == g.id());
            Waited::Found(k.expect("a session of the wait"), g.into_match())
        })
    }
}

/// The wait of `expect_user` (or `expect` before any spawn): on our standard input; with
/// `id` [`TTY_SPAWN_ID`], `expect_tty`'s on our terminal.
fn user_wait(
    state: &mut super::state::State,
    branches: Vec<Case>,
    timeout: Option<Duration>,
    id: &str,
) -> Result<(Vec<Case>, Outcome), String> {
    let mut patterns = Vec::new();
    let mut owners = Vec::new();
    for (b, branch) in branches.iter().enumerate() {
        patterns.push(compile(state, branch)?);
        owners.push(b);
        if branch.kind == Kind::Default {
            patterns.push(Pattern::timeout());
            owners.push(b);
        }
    }
    if patterns.is_empty() {
        patterns = vec![Pattern::eof(), Pattern::timeout()];
    }
    let session = match id {
        TTY_SPAWN_ID => state.tty()?,
        _ => state.user()?,
    };
    let outcome = match session.expect_timeout(&patterns, timeout) {
        Ok(found) => match owners.get(found.index()) {
            Some(&branch) => Outcome::Matched {
                branch,
                id: id.to_owned(),
                found,
            },
            None => Outcome::Idle,
        },
        Err(e) if e.is_timeout() || e.is_eof() => Outcome::Unmatched(e),
        Err(e) => return Err(e.to_string()),
    };
    Ok((branches, outcome))
}

/// Sets `expect_out` as Expect does after a match: `buffer` (the output up to the end of
/// the match), `0,string`, `N,string` for a regex's groups, `N,start` / `N,end` with
/// `-indices`, and `spawn_id`. A timeout sets nothing; the end of output sets `buffer`.
pub(crate) fn set_expect_out(
    interp: InterpRef<'_>,
    branch: &Branch,
    id: &str,
    found: &Match,
    scope: Scope,
) -> Result<(), String> {
    let set = |index: &str, value: &[u8]| {
        interp
            .set_var("expect_out", Some(index), value, scope)
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
    if found.is_eof() || branch.kind == Kind::FullBuffer {
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
