//! Expect's `interact` with patterns: string-body pairs on what the user types (exact by
//! default, `-ex`, `-re`), `-o` for the program's output, `-echo`, `-nobuffer`, `-indices`,
//! `eof`, and the actions' `return` / `inter_return`, on the library's
//! [`Interact`](crate::Interact) hooks and filters.
//!
//! A hook that matches stops the library's interact; the action then runs with the
//! terminal back in its own mode and every command usable (`send` to the program,
//! `expect`...), and interact starts again unless the action ended it. Exact patterns
//! hold back what could still become a match (a filter), so a matched string is not
//! passed on, as in Expect.

use std::cell::RefCell;
use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

use crate::sys::tcl::{Code, InterpRef, Scope};
use crate::{Flow, Interact, InteractOutcome, Match, Pattern};

use super::expect::{self, Branch, error};
use super::state::{Shared, USER_SPAWN_ID, spawn_id};
use super::text;

/// The code `inter_return` returns (Expect's own value): interact makes its caller return.
pub(crate) const INTER_RETURN: i32 = -103;

/// One string-body pair.
pub(super) struct Rule {
    pub(super) pattern: Pattern,
    /// What a match of this pattern removes from the stream (unless `-nobuffer`).
    pub(super) consumed: Option<Needle>,
    regex: bool,
    indices: bool,
    /// `-reset`: the action runs with the terminal in its mode from before interact.
    pub(super) reset: bool,
    /// `-iwrite`: the action sees `interact_out(spawn_id)`.
    pub(super) iwrite: bool,
    pub(super) action: Vec<u8>,
}

/// The arguments of one `interact` call.
#[derive(Default)]
struct Call {
    id: Option<Vec<u8>>,
    input: Vec<Rule>,
    output: Vec<Rule>,
    /// `eof` actions for the user's input and the program's output (after `-o`).
    input_eof: Option<Vec<u8>>,
    output_eof: Option<Vec<u8>>,
    /// `timeout N ACTION` for the user's input and the program's output (after `-o`).
    input_timeout: Option<(Duration, Vec<u8>)>,
    output_timeout: Option<(Duration, Vec<u8>)>,
    echo: bool,
}

pub(super) fn refuse(what: &str) -> String {
    format!("interact {what} is not supported by ptychat expect (see docs/TCL.md)")
}

/// Interact's arguments as Expect reads them: one argument that starts on a new line is
/// the list of the arguments.
pub(super) fn expand(interp: InterpRef<'_>, words: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, String> {
    Ok(match words {
        [one]
            if one
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .any(|&b| b == b'\n') =>
        {
            interp.split_list(one).map_err(|e| text(&e))?
        }
        words => words.to_vec(),
    })
}

/// Whether the arguments need the general interact (several inputs and outputs, or a
/// spawned program as the user).
fn general(words: &[Vec<u8>]) -> bool {
    let mut words = words.iter().map(|w| text(w));
    while let Some(word) = words.next() {
        match word.as_str() {
            "-input" | "-output" | "-iwrite" => return true,
            "-u" if words.next().is_some_and(|id| id.trim() != USER_SPAWN_ID) => return true,
            // The word after these is not a flag.
            "-i" | "-ex" | "-exact" | "-re" | "-regexp" | "eof" => {
                words.next();
            }
            "timeout" => {
                words.next();
                words.next();
            }
            _ => {}
        }
    }
    false
}

/// Reads interact's arguments (the single-session form).
/// A pattern's action and whether it runs with the terminal reset: a final pattern
/// without an action runs `interpreter`, as in Expect, with the terminal in its mode from
/// before interact (the prompt reads lines).
pub(super) fn action_of(action: Option<Vec<u8>>, reset: bool) -> (Vec<u8>, bool) {
    match action {
        Some(action) => (action, reset),
        None => (b"interpreter".to_vec(), true),
    }
}

/// The seconds of an interact `timeout N ACTION` (both forms of interact).
pub(super) fn timeout_seconds(seconds: Option<Vec<u8>>) -> Result<Duration, String> {
    let seconds = seconds.ok_or("interact: timeout needs a number of seconds")?;
    text(&seconds)
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            format!(
                "interact: timeout needs a number of seconds, not \"{}\"",
                text(&seconds)
            )
        })
}

fn parse(words: Vec<Vec<u8>>) -> Result<Call, String> {
    let mut call = Call::default();
    let mut words = words.into_iter();
    let mut output = false;
    let (mut kind, mut echo, mut nobuffer, mut indices, mut reset) =
        (None, false, false, false, false);
    while let Some(word) = words.next() {
        let flag = text(&word);
        let pattern = match flag.as_str() {
            _ if kind.is_some() => word,
            "-i" => {
                call.id = Some(words.next().ok_or("interact: -i needs a spawn id")?);
                // As in Expect, `-i` implies `-o`: what follows watches the program.
                output = true;
                continue;
            }
            "-u" => {
                let id = words.next().ok_or("interact: -u needs a spawn id")?;
                if text(&id).trim() != USER_SPAWN_ID {
                    return Err(refuse("-u with a spawned program"));
                }
                continue;
            }
            "-o" => {
                output = true;
                continue;
            }
            "-ex" | "-exact" | "-re" | "-regexp" => {
                kind = Some(flag.starts_with("-re"));
                continue;
            }
            "-echo" => {
                echo = true;
                continue;
            }
            "-nobuffer" => {
                nobuffer = true;
                continue;
            }
            "-indices" => {
                indices = true;
                continue;
            }
            "-reset" => {
                reset = true;
                continue;
            }
            "eof" => {
                let action = words.next().unwrap_or_else(|| b"return".to_vec());
                match output {
                    true => call.output_eof = Some(action),
                    false => call.input_eof = Some(action),
                }
                continue;
            }
            "timeout" => {
                let after = timeout_seconds(words.next())?;
                let action = words.next().ok_or("interact: timeout needs an action")?;
                match output {
                    true => call.output_timeout = Some((after, action)),
                    false => call.input_timeout = Some((after, action)),
                }
                continue;
            }
            // An ASCII NUL, as an exact pattern.
            "null" => vec![0],
            _ if flag.starts_with('-') => return Err(refuse(&flag)),
            _ => word,
        };
        let regex = kind.take().unwrap_or(false);
        let (action, reset_mode) = action_of(words.next(), reset);
        let rule = rule(pattern, regex, nobuffer, indices, reset_mode, false, action)?;
        call.echo |= echo && !output;
        match output {
            true => call.output.push(rule),
            false => call.input.push(rule),
        }
        (echo, nobuffer, indices, reset) = (false, false, false, false);
    }
    if kind.is_some() {
        return Err("interact: -ex or -re needs a pattern after it".into());
    }
    Ok(call)
}

/// One string-body pair from its pattern and flags.
pub(super) fn rule(
    pattern: Vec<u8>,
    regex: bool,
    nobuffer: bool,
    indices: bool,
    reset: bool,
    iwrite: bool,
    action: Vec<u8>,
) -> Result<Rule, String> {
    let branch = Branch {
        ids: Vec::new(),
        kind: match regex {
            true => expect::Kind::Regex,
            false => expect::Kind::Exact,
        },
        text: pattern.clone(),
        nocase: false,
        indices,
        action: None,
    };
    if pattern.is_empty() {
        return Err("interact: an empty pattern would match forever".into());
    }
    let consumed = match (nobuffer, regex) {
        (true, _) => None,
        (false, false) => Some(Needle::Exact(pattern)),
        // The same regex as the pattern's (Tcl's `.` matches a newline).
        (false, true) => Some(Needle::Regex(
            regex::bytes::Regex::new(&format!("(?s){}", text(&pattern)))
                .map_err(|e| format!("couldn't compile regular expression pattern: {e}"))?,
        )),
    };
    Ok(Rule {
        pattern: expect::pattern(&branch)?,
        consumed,
        regex,
        indices,
        reset,
        iwrite,
        action,
    })
}

/// What a pattern removes from the stream when it matches.
#[derive(Clone)]
pub(super) enum Needle {
    /// An exact string: what could still become one is held back.
    Exact(Vec<u8>),
    /// A regex: what it matches within what is not passed on yet (nothing is held back
    /// for it).
    Regex(regex::bytes::Regex),
}

impl Needle {
    /// The first non-empty match in `haystack`.
    fn find(&self, haystack: &[u8]) -> Option<(usize, usize)> {
        match self {
            Needle::Exact(n) => find(haystack, n).map(|start| (start, start + n.len())),
            Needle::Regex(re) => re
                .find_iter(haystack)
                .find(|m| !m.is_empty())
                .map(|m| (m.start(), m.end())),
        }
    }

    /// Whether `tail` (the end of the stream) could still become a longer match.
    pub(super) fn may_start(&self, tail: &[u8]) -> bool {
        match self {
            Needle::Exact(n) => n.len() > tail.len() && n.starts_with(tail),
            Needle::Regex(_) => false,
        }
    }
}

/// What could still become a match of an exact pattern is held back; a whole match (of an
/// exact pattern or a regex) is dropped (its action runs instead), the rest is passed on.
struct Holder {
    needles: Vec<Needle>,
    held: Vec<u8>,
    /// Show the user what is held or matched as it is typed (`-echo`).
    echo: bool,
}

impl Holder {
    fn new(rules: &[Rule], echo: bool) -> Self {
        Holder {
            needles: rules.iter().filter_map(|r| r.consumed.clone()).collect(),
            held: Vec::new(),
            echo,
        }
    }

    fn filter(&mut self, data: &[u8]) -> Vec<u8> {
        let new_from = self.held.len();
        self.held.extend_from_slice(data);
        let mut out = Vec::new();
        // Bytes of `data` not passed on: they are echoed with `-echo`.
        let mut absorbed = Vec::new();
        let mut at = 0; // the bytes before `at` are passed on or dropped
        loop {
            let first = self
                .needles
                .iter()
                .filter_map(|n| n.find(&self.held[at..]))
                .map(|(start, end)| (at + start, at + end))
                .min();
            let Some((start, end)) = first else { break };
            out.extend_from_slice(&self.held[at..start]);
            absorbed.extend_from_slice(&self.held[start.max(new_from)..end.max(new_from)]);
            at = end;
        }
        let rest = &self.held[at..];
        let keep = (1..=rest.len())
            .rev()
            .find(|&k| {
                let tail = &rest[rest.len() - k..];
                self.needles.iter().any(|n| n.may_start(tail))
            })
            .unwrap_or(0);
        let pass = self.held.len() - keep;
        out.extend_from_slice(&self.held[at..pass]);
        absorbed.extend_from_slice(&self.held[pass.max(new_from)..]);
        self.held.drain(..pass);
        if self.echo && !absorbed.is_empty() {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(&absorbed).and_then(|()| stdout.flush());
        }
        out
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[derive(Clone, Copy)]
enum Side {
    Input,
    Output,
}

/// `interact [-i ID] [-u $user_spawn_id] [[-echo] [-nobuffer] [-indices] [-ex|-re] PATTERN
/// ACTION]... [eof ACTION] [-o [PATTERN ACTION]... [eof ACTION]]`.
pub(crate) fn interact(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    let words = match expand(interp, words) {
        Ok(words) => words,
        Err(message) => return error(interp, &message),
    };
    if general(&words) {
        return super::interact_many::interact(state, interp, words);
    }
    let call = match parse(words) {
        Ok(call) => call,
        Err(message) => return error(interp, &message),
    };
    let id = match spawn_id(interp, call.id.as_deref()) {
        Ok(id) => id,
        Err(message) => return error(interp, &message),
    };
    let raw = RawTerminal::enter(state);
    let code = relay(state, interp, &call, &id, raw.as_ref());
    if let Some(raw) = raw {
        raw.leave(state);
    }
    code
}

/// Our terminal held in raw mode for the whole of one `interact` (as Expect does): the
/// actions run in it, and what the user types meanwhile waits, untranslated.
pub(super) struct RawTerminal {
    /// The mode before.
    before: Termios,
    /// Whether an outer interact held it raw already.
    was_raw: bool,
}

impl RawTerminal {
    /// `None` if standard input is not a terminal (or its mode cannot be set).
    pub(super) fn enter(state: &Shared) -> Option<Self> {
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        if !crate::sys::term::is_terminal(fd) {
            return None;
        }
        let before = tcgetattr(fd).ok()?;
        let mut raw = before.clone();
        cfmakeraw(&mut raw);
        tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        let mut state = state.borrow_mut();
        // Put back at the end even if an action ends the script.
        state.extras.remember_tty(&before);
        let was_raw = std::mem::replace(&mut state.extras.user_raw, true);
        Some(RawTerminal { before, was_raw })
    }

    /// Runs `action` with the terminal in its mode from before (`-reset`).
    pub(super) fn reset<T>(&self, state: &Shared, action: impl FnOnce() -> T) -> T {
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        let raw = tcgetattr(fd).ok();
        let _ = tcsetattr(fd, SetArg::TCSANOW, &self.before);
        state.borrow_mut().extras.user_raw = self.was_raw;
        let result = action();
        state.borrow_mut().extras.user_raw = true;
        if let Some(raw) = raw {
            let _ = tcsetattr(fd, SetArg::TCSANOW, &raw);
        }
        result
    }

    pub(super) fn leave(self, state: &Shared) {
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.before);
        state.borrow_mut().extras.user_raw = self.was_raw;
    }
}

/// Interact's loop: the library's interact until something to act on, the actions, again.
fn relay(
    state: &Shared,
    interp: InterpRef<'_>,
    call: &Call,
    id: &str,
    raw: Option<&RawTerminal>,
) -> Code {
    let input_holder = RefCell::new(Holder::new(&call.input, call.echo));
    let output_holder = RefCell::new(Holder::new(&call.output, false));
    let mut acted = false;
    loop {
        // Every match (and silence) one run of the library's interact saw, in order.
        let hits: RefCell<Vec<Hit>> = RefCell::new(Vec::new());
        let outcome = {
            let mut state = state.borrow_mut();
            if let Err(message) = state.session(id) {
                drop(state);
                // An action closed the program: nothing left to interact with.
                if acted {
                    break;
                }
                return error(interp, &message);
            }
            let mut options = Interact::new().escape(None);
            for (side, rules) in [(Side::Input, &call.input), (Side::Output, &call.output)] {
                for (i, rule) in rules.iter().enumerate() {
                    let hits = &hits;
                    let hook = move |m: &Match, _: &mut crate::Reply| {
                        hits.borrow_mut().push(Hit::Match(side, i, m.clone()));
                        Flow::Stop
                    };
                    options = match side {
                        Side::Input => options.on_input(rule.pattern.clone(), hook),
                        Side::Output => options.on_output(rule.pattern.clone(), hook),
                    };
                }
            }
            let hits_ref = &hits;
            if let Some((after, _)) = &call.input_timeout {
                options = options.on_input_idle(*after, move |_| {
                    hits_ref.borrow_mut().push(Hit::Timeout(Side::Input));
                    Flow::Stop
                });
            }
            if let Some((after, _)) = &call.output_timeout {
                options = options.on_output_idle(*after, move |_| {
                    hits_ref.borrow_mut().push(Hit::Timeout(Side::Output));
                    Flow::Stop
                });
            }
            if !input_holder.borrow().needles.is_empty() {
                options = options.input_filter(|b| input_holder.borrow_mut().filter(b));
            }
            if !output_holder.borrow().needles.is_empty() {
                options = options.output_filter(|b| output_holder.borrow_mut().filter(b));
            }
            // Interact shows the output itself: the `log_user` copy would show it twice
            // (and show what an `-o` pattern holds back). Expect ignores `log_user` here too.
            let log_user = state.log_user.swap(false, Ordering::Relaxed);
            let session = match state.session(id) {
                Ok(session) => session,
                Err(message) => {
                    state.log_user.store(log_user, Ordering::Relaxed);
                    drop(state);
                    return error(interp, &message);
                }
            };
            let outcome = session.interact_with(options);
            state.log_user.store(log_user, Ordering::Relaxed);
            outcome
        };
        let outcome = match outcome {
            Err(e) => return error(interp, &e.to_string()),
            Ok(outcome) => outcome,
        };
        // The actions of every match, in order (as Expect runs each action a read
        // completes), then the end's.
        let mut actions = Vec::new();
        for hit in hits.into_inner() {
            let action = match hit {
                Hit::Match(side, i, found) => {
                    let rule = match side {
                        Side::Input => &call.input[i],
                        Side::Output => &call.output[i],
                    };
                    (&rule.action, Some((rule, found)))
                }
                Hit::Timeout(side) => {
                    let timeout = match side {
                        Side::Input => &call.input_timeout,
                        Side::Output => &call.output_timeout,
                    };
                    match timeout {
                        Some((_, action)) => (action, None),
                        None => continue,
                    }
                }
            };
            actions.push(action);
        }
        // The default eof action is `return`, as in Expect.
        let end = match outcome {
            InteractOutcome::Stopped => None,
            InteractOutcome::InputEnded => Some(call.input_eof.as_ref()),
            InteractOutcome::Exited(_) | InteractOutcome::Eof => Some(call.output_eof.as_ref()),
            _ => Some(None),
        };
        if end.is_none() && actions.is_empty() {
            return error(interp, "interact stopped without a match");
        }
        for (action, found) in actions {
            let reset = found.as_ref().is_some_and(|(rule, _)| rule.reset);
            if let Some((rule, found)) = found {
                if let Err(message) = set_interact_out(interp, rule, &found) {
                    return error(interp, &message);
                }
            }
            acted = true;
            let code = match raw {
                Some(raw) if reset => raw.reset(state, || run(interp, action)),
                _ => run(interp, action),
            };
            if let Some(code) = code {
                return code;
            }
        }
        match end {
            None => {}
            // After an end there is nothing left to interact with.
            Some(None) => break,
            Some(Some(action)) => {
                if let Some(code) = run(interp, action) {
                    return code;
                }
                break;
            }
        }
    }
    interp.set_result(b"");
    Code::Ok
}

/// One thing an action runs for.
enum Hit {
    /// The `i`th pattern of a side matched.
    Match(Side, usize, Match),
    /// A side's `timeout` passed.
    Timeout(Side),
}

/// Runs an action: `None` to go on interacting, else the code interact returns with (a
/// `return` in the action ends interact, `inter_return` makes its caller return).
pub(super) fn run(interp: InterpRef<'_>, action: &[u8]) -> Option<Code> {
    match interp.eval(action) {
        Code::Ok => None,
        Code::Return => {
            interp.set_result(b"");
            Some(Code::Ok)
        }
        Code::Other(INTER_RETURN) => {
            interp.set_result(b"");
            Some(Code::Return)
        }
        code => Some(code),
    }
}

/// `inter_return`: ends interact and makes its caller return.
pub(crate) fn inter_return(_: &Shared, _: InterpRef<'_>, _: &[Vec<u8>]) -> Code {
    Code::Other(INTER_RETURN)
}

/// Sets `interact_out(0,string)` (and a regex's groups, and with `-indices` their
/// `start` / `end`) in the caller's scope, as Expect does.
pub(super) fn set_interact_out(
    interp: InterpRef<'_>,
    rule: &Rule,
    found: &Match,
) -> Result<(), String> {
    let set = |index: &str, value: &[u8]| {
        interp
            .set_var("interact_out", Some(index), value, Scope::Current)
            .map_err(|e| text(&e))
    };
    let groups = match rule.regex {
        true => found.group_count().max(1),
        false => 1,
    };
    for i in 0..groups {
        set(&format!("{i},string"), found.group(i).unwrap_or_default())?;
        if rule.indices {
            let (first, last) = match found.group_range(i) {
                Some(range) => (range.start as i64, range.end as i64 - 1),
                None => (0, -1),
            };
            set(&format!("{i},start"), first.to_string().as_bytes())?;
            set(&format!("{i},end"), last.to_string().as_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(needles: &[&str]) -> Holder {
        Holder {
            needles: needles
                .iter()
                .map(|n| Needle::Exact(n.as_bytes().to_vec()))
                .collect(),
            held: Vec::new(),
            echo: false,
        }
    }

    #[test]
    fn exact_patterns_are_held_back_and_dropped_when_matched() {
        let mut h = holder(&["~~"]);
        assert_eq!(h.filter(b"ab~"), b"ab");
        assert_eq!(h.filter(b"~cd"), b"cd");
        assert_eq!(h.filter(b"~x"), b"~x");
        assert_eq!(h.filter(b"a~~b~~~"), b"ab");
        assert_eq!(h.held, b"~");
    }

    #[test]
    fn a_failed_partial_match_passes_on_only_what_cannot_start_a_match() {
        let mut h = holder(&["foo", "ob"]);
        assert_eq!(h.filter(b"fo"), b"");
        assert_eq!(h.filter(b"o"), b"");
        assert_eq!(h.filter(b"fox"), b"fox");
        assert_eq!(h.filter(b"fo"), b"");
        assert_eq!(h.filter(b"b"), b"f");
    }

    #[test]
    fn a_regex_match_is_dropped_and_nothing_is_held_for_it() {
        let mut h = holder(&["~~"]);
        h.needles
            .push(Needle::Regex(regex::bytes::Regex::new(r"x\d+|\b").unwrap()));
        assert_eq!(h.filter(b"ax12b~"), b"ab");
        assert_eq!(h.filter(b"x"), b"~x");
        assert_eq!(h.filter(b"~~x3"), b"");
    }
}
