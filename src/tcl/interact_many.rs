//! Expect's general `interact`: several inputs (`-input ID_LIST`), each with its own
//! patterns, `eof` and `timeout` actions, its bytes copied to its outputs
//! (`-output ID_LIST`), and `-u ID` (a spawned program in the user's place: two programs
//! joined). One poll loop over the inputs' fds, for any kind of spawn id; the patterns
//! are matched by the engine (each input's session buffer, as `expect` does).
//!
//! The inputs as Expect sets them up: the first is the user's (`$user_spawn_id`, or the
//! first `-input`, or `-u`'s program), its bytes going to `$spawn_id` (or `-i`'s) unless
//! it has `-output`s; the second is `$spawn_id`'s (or `-i`'s, or the second `-input`),
//! its bytes going to the user (or `-u`'s program); a further `-input` without `-output`
//! is read and matched, its bytes discarded.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::sys::tcl::{Code, InterpRef, Scope};
use crate::{Match, MatchOrder, Pattern, Session, Transport};

use super::expect::error;
use super::interact::{
    RawTerminal, Rule, action_of, refuse, rule, run, set_interact_out, timeout_seconds,
};
use super::state::{Shared, State, USER_SPAWN_ID, spawn_id};
use super::text;

/// An action and whether it sees `interact_out(spawn_id)` (`-iwrite`).
struct Action {
    body: Vec<u8>,
    iwrite: bool,
}

/// One `-input`: its spawn ids, patterns, actions and outputs.
#[derive(Default)]
struct Input {
    /// `None`: the implied default (filled in after parsing).
    ids: Option<Vec<String>>,
    rules: Vec<Rule>,
    /// The output lists, each with its own `eof` action.
    outputs: Vec<(Vec<String>, Option<Action>)>,
    eof: Option<Action>,
    timeout: Option<(Duration, Action)>,
}

/// Where an `eof` action goes.
#[derive(Clone, Copy)]
enum EofOf {
    Input(usize),
    Output(usize, usize),
}

/// Splits a spawn id list (`-input "$a $b"`).
fn ids(interp: InterpRef<'_>, list: &[u8]) -> Result<Vec<String>, String> {
    Ok(interp
        .split_list(list)
        .map_err(|e| text(&e))?
        .iter()
        .map(|id| text(id).trim().to_owned())
        .filter(|id| !id.is_empty())
        .collect())
}

/// Reads the arguments as Expect's interact does (see the module's documentation).
fn parse(interp: InterpRef<'_>, words: Vec<Vec<u8>>) -> Result<Vec<Input>, String> {
    let mut inputs = vec![Input::default(), Input::default()];
    let mut words = words.into_iter();
    // The input `-input`, `timeout` and `-output` apply to; the one patterns go to
    // (`-o` and `-i` send them to the second); how many inputs were named.
    let (mut current, mut patterns_to, mut named) = (0usize, 0usize, 0usize);
    let mut eof_of = EofOf::Input(0);
    let mut chan: Option<String> = None;
    let mut user: Option<String> = None;
    let (mut kind, mut nobuffer, mut indices, mut reset, mut iwrite) =
        (None, false, false, false, false);
    let need = |word: Option<Vec<u8>>, what: &str| {
        word.ok_or_else(|| format!("interact: {what} needs a spawn id"))
    };
    while let Some(word) = words.next() {
        let flag = text(&word);
        let pattern = match flag.as_str() {
            _ if kind.is_some() => word,
            "-input" => {
                let list = ids(interp, &need(words.next(), "-input")?)?;
                named += 1;
                current = match named {
                    1 => 0,
                    2 => 1,
                    _ => {
                        inputs.push(Input::default());
                        inputs.len() - 1
                    }
                };
                inputs[current] = Input {
                    ids: Some(list),
                    rules: std::mem::take(&mut inputs[current].rules),
                    ..Input::default()
                };
                patterns_to = current;
                eof_of = EofOf::Input(current);
                continue;
            }
            "-output" => {
                let list = ids(interp, &need(words.next(), "-output")?)?;
                named = named.max(1);
                inputs[current].outputs.push((list, None));
                eof_of = EofOf::Output(current, inputs[current].outputs.len() - 1);
                continue;
            }
            "-u" => {
                user = Some(text(&need(words.next(), "-u")?).trim().to_owned());
                named = named.max(1);
                continue;
            }
            "-o" | "-i" => {
                if flag == "-i" {
                    chan = Some(text(&need(words.next(), "-i")?).trim().to_owned());
                }
                patterns_to = 1;
                if named < 2 {
                    named = 2;
                    current = 1;
                    eof_of = EofOf::Input(1);
                }
                continue;
            }
            "-ex" | "-exact" | "-re" | "-regexp" => {
                kind = Some(flag.starts_with("-re"));
                continue;
            }
            // Echoing what a pattern holds back is for the single-session form.
            "-echo" => return Err(refuse("-echo together with -input, -output or -u")),
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
            "-iwrite" => {
                iwrite = true;
                continue;
            }
            "-iread" | "-f" | "-F" | "-nobrace" => continue,
            "eof" => {
                let body = words.next().unwrap_or_else(|| b"return".to_vec());
                let action = Some(Action { body, iwrite });
                match eof_of {
                    EofOf::Input(i) => inputs[i].eof = action,
                    EofOf::Output(i, o) => inputs[i].outputs[o].1 = action,
                }
                (reset, iwrite) = (false, false);
                continue;
            }
            "timeout" => {
                let after = timeout_seconds(words.next())?;
                let body = words.next().ok_or("interact: timeout needs an action")?;
                inputs[current].timeout = Some((after, Action { body, iwrite }));
                (reset, iwrite) = (false, false);
                continue;
            }
            "null" => vec![0],
            _ if flag.starts_with('-') => return Err(refuse(&flag)),
            _ => word,
        };
        let regex = kind.take().unwrap_or(false);
        let (action, reset_mode) = action_of(words.next(), reset);
        let made = rule(
            pattern, regex, nobuffer, indices, reset_mode, iwrite, action,
        )?;
        inputs[patterns_to].rules.push(made);
        named = named.max(1);
        (nobuffer, indices, reset, iwrite) = (false, false, false, false);
    }
    if kind.is_some() {
        return Err("interact: -ex or -re needs a pattern after it".into());
    }
    // The implied defaults, as in Expect.
    let process = match chan {
        Some(id) => id,
        None => spawn_id(interp, None)?,
    };
    if inputs[0].outputs.is_empty() {
        inputs[0].outputs.push((vec![process.clone()], None));
    }
    let defaulted = inputs[1].outputs.is_empty();
    if defaulted {
        inputs[1]
            .outputs
            .push((vec![USER_SPAWN_ID.to_owned()], None));
    }
    if let Some(user) = user {
        inputs[0].ids = Some(vec![user.clone()]);
        // The second input's latest output list (the user, unless given) is replaced.
        if let Some(last) = inputs[1].outputs.last_mut() {
            last.0 = vec![user];
        }
    }
    let user_ids = inputs[0]
        .ids
        .get_or_insert_with(|| vec![USER_SPAWN_ID.to_owned()])
        .clone();
    let process_ids = inputs[1].ids.get_or_insert_with(|| vec![process]).clone();
    if user_ids == process_ids {
        return Err("cannot interact with self - set spawn_id to a spawned process".into());
    }
    Ok(inputs)
}

/// `interact` with `-input` / `-output` / `-u ID` / `-iwrite` (the words already
/// expanded).
pub(crate) fn interact(state: &Shared, interp: InterpRef<'_>, words: Vec<Vec<u8>>) -> Code {
    let inputs = match parse(interp, words) {
        Ok(inputs) => inputs,
        Err(message) => return error(interp, &message),
    };
    let reads_user = inputs
        .iter()
        .any(|i| i.ids.iter().flatten().any(|id| id == USER_SPAWN_ID));
    let raw = match reads_user {
        true => RawTerminal::enter(state),
        false => None,
    };
    // Interact shows the output itself (as the single-session form does).
    let log_user = state.borrow().log_user.swap(false, Ordering::Relaxed);
    let code = relay(state, interp, &inputs, raw.as_ref());
    state.borrow().log_user.store(log_user, Ordering::Relaxed);
    if let Some(raw) = raw {
        raw.leave(state);
    }
    code
}

/// One spawn id read by the loop.
struct Reader {
    id: String,
    /// Its input's place in the list.
    input: usize,
    /// Whether its buffer has bytes not looked at yet.
    fresh: bool,
    /// When it last brought bytes (for its input's `timeout`).
    last: Instant,
}

/// What one look at a reader's buffer found.
enum Step {
    /// Pattern `rule` matched; `pass` is what goes on to the outputs first.
    Matched {
        rule: usize,
        found: Match,
        pass: Vec<u8>,
    },
    /// No match: `pass` goes on (what may still become a match is held back); `ended`
    /// when the spawn id's output has ended (nothing is held then).
    Quiet { pass: Vec<u8>, ended: bool },
}

fn step<T: Transport>(
    session: &mut Session<T>,
    patterns: &[Pattern],
    input: &Input,
) -> Result<Step, String> {
    if !patterns.is_empty() && !session.buffer().is_empty() {
        // As Expect's interact: the match that starts first wins (not `expect`'s list
        // order).
        let order = session.match_order();
        session.set_match_order(MatchOrder::Earliest);
        let found = session.expect_timeout(patterns, Some(Duration::ZERO));
        session.set_match_order(order);
        match found {
            Ok(found) => {
                let mut pass = found.before().to_vec();
                let rule = found.index();
                if input.rules[rule].consumed.is_none() {
                    // `-nobuffer`: the match goes on too.
                    pass.extend_from_slice(found.matched());
                }
                return Ok(Step::Matched { rule, found, pass });
            }
            Err(e) if e.is_eof() || e.is_timeout() => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let ended = session.is_eof();
    let buffer = session.buffer();
    let keep = match ended {
        true => 0,
        false => (1..=buffer.len())
            .rev()
            .find(|&k| {
                let tail = &buffer[buffer.len() - k..];
                input
                    .rules
                    .iter()
                    .filter_map(|r| r.consumed.as_ref())
                    .any(|n| n.may_start(tail))
            })
            .unwrap_or(0),
    };
    let pass = session.take_buffer_front(buffer.len() - keep);
    Ok(Step::Quiet { pass, ended })
}

fn look(state: &mut State, id: &str, patterns: &[Pattern], input: &Input) -> Result<Step, String> {
    match id {
        USER_SPAWN_ID => step(state.user()?, patterns, input),
        id => step(state.session(id)?, patterns, input),
    }
}

/// Reads what spawn id `id` has (its end is seen by the next look at it).
fn read(state: &mut State, id: &str) -> Result<(), String> {
    let read = match id {
        USER_SPAWN_ID => state.user()?.read_available(),
        id => state.session(id)?.read_available(),
    };
    match read {
        Ok(_) => Ok(()),
        Err(e) if e.is_eof() => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Writes `bytes` to spawn id `id`: an error when it cannot take them (closed, ended).
fn write(state: &mut State, id: &str, bytes: &[u8]) -> Result<(), String> {
    match id {
        USER_SPAWN_ID => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)
                .and_then(|()| out.flush())
                .map_err(|e| e.to_string())
        }
        id => state.session(id)?.send(bytes).map_err(|e| e.to_string()),
    }
}

/// Runs `action` (for spawn id `id`): `None` to go on, else the code interact ends with.
fn act(
    state: &Shared,
    interp: InterpRef<'_>,
    raw: Option<&RawTerminal>,
    action: &Action,
    reset: bool,
    id: &str,
) -> Option<Code> {
    if action.iwrite {
        if let Err(e) = interp.set_var(
            "interact_out",
            Some("spawn_id"),
            id.as_bytes(),
            Scope::Current,
        ) {
            return Some(error(interp, &text(&e)));
        }
    }
    match raw {
        Some(raw) if reset => raw.reset(state, || run(interp, &action.body)),
        _ => run(interp, &action.body),
    }
}

/// The default `eof` action.
fn default_eof() -> Action {
    Action {
        body: b"return".to_vec(),
        iwrite: false,
    }
}

/// Copies `bytes` from input `input` to its outputs; runs an output's `eof` action when
/// it cannot take them.
fn pass_on(
    state: &Shared,
    interp: InterpRef<'_>,
    raw: Option<&RawTerminal>,
    input: &Input,
    bytes: &[u8],
) -> Option<Code> {
    if bytes.is_empty() {
        return None;
    }
    for (ids, eof) in &input.outputs {
        for id in ids {
            let written = write(&mut state.borrow_mut(), id, bytes);
            if written.is_err() {
                let fallback = default_eof();
                let action = eof.as_ref().unwrap_or(&fallback);
                if let Some(code) = act(state, interp, raw, action, false, id) {
                    return Some(code);
                }
            }
        }
    }
    None
}

/// The loop: looks at what each input has, acts, polls for more.
fn relay(
    state: &Shared,
    interp: InterpRef<'_>,
    inputs: &[Input],
    raw: Option<&RawTerminal>,
) -> Code {
    let patterns: Vec<Vec<Pattern>> = inputs
        .iter()
        .map(|i| i.rules.iter().map(|r| r.pattern.clone()).collect())
        .collect();
    let now = Instant::now();
    let mut readers: Vec<Reader> = Vec::new();
    for (n, input) in inputs.iter().enumerate() {
        for id in input.ids.iter().flatten() {
            let opened = {
                let mut st = state.borrow_mut();
                match id.as_str() {
                    USER_SPAWN_ID => st.user().map(drop),
                    id => st.session(id).map(drop),
                }
            };
            if let Err(message) = opened {
                return error(interp, &message);
            }
            readers.push(Reader {
                id: id.clone(),
                input: n,
                fresh: true,
                last: now,
            });
        }
    }
    loop {
        // Everything buffered first, in the inputs' order.
        let mut r = 0;
        while r < readers.len() {
            if !readers[r].fresh {
                r += 1;
                continue;
            }
            let input = &inputs[readers[r].input];
            let found = look(
                &mut state.borrow_mut(),
                &readers[r].id,
                &patterns[readers[r].input],
                input,
            );
            let id = readers[r].id.clone();
            match found {
                Err(message) => {
                    // An action closed it: nothing more to read there.
                    readers.remove(r);
                    if state.borrow_mut().session(&id).is_ok() || id == USER_SPAWN_ID {
                        return error(interp, &message);
                    }
                }
                Ok(Step::Matched { rule, found, pass }) => {
                    if let Some(code) = pass_on(state, interp, raw, input, &pass) {
                        return code;
                    }
                    let rule = &input.rules[rule];
                    if let Err(message) = set_interact_out(interp, rule, &found) {
                        return error(interp, &message);
                    }
                    let action = Action {
                        body: rule.action.clone(),
                        iwrite: rule.iwrite,
                    };
                    if let Some(code) = act(state, interp, raw, &action, rule.reset, &id) {
                        return code;
                    }
                    // The buffer may hold another match: look again.
                }
                Ok(Step::Quiet { pass, ended }) => {
                    if let Some(code) = pass_on(state, interp, raw, input, &pass) {
                        return code;
                    }
                    if ended {
                        readers.remove(r);
                        let fallback = default_eof();
                        let action = input.eof.as_ref().unwrap_or(&fallback);
                        if let Some(code) = act(state, interp, raw, action, false, &id) {
                            return code;
                        }
                    } else {
                        readers[r].fresh = false;
                        r += 1;
                    }
                }
            }
        }
        // Spawn ids an action closed are read no more.
        {
            let mut st = state.borrow_mut();
            readers.retain(|r| r.id == USER_SPAWN_ID || st.session(&r.id).is_ok());
        }
        if readers.is_empty() {
            break;
        }
        // The soonest `timeout` of an input.
        let now = Instant::now();
        let soonest = readers
            .iter()
            .enumerate()
            .filter_map(|(r, reader)| {
                let (after, _) = inputs[reader.input].timeout.as_ref()?;
                Some((reader.last + *after, r))
            })
            .min();
        if let Some((when, r)) = soonest {
            if when <= now {
                let input = readers[r].input;
                for reader in readers.iter_mut().filter(|x| x.input == input) {
                    reader.last = now;
                }
                let id = readers[r].id.clone();
                let (_, action) = inputs[input].timeout.as_ref().expect("found above");
                if let Some(code) = act(state, interp, raw, action, false, &id) {
                    return code;
                }
                continue;
            }
        }
        let ready: Vec<bool> = {
            let st = state.borrow();
            let ids: Vec<String> = readers.iter().map(|r| r.id.clone()).collect();
            let fds = st.read_fds(&ids);
            let mut polled: Vec<PollFd<'_>> = fds
                .iter()
                .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
                .collect();
            let wait = match soonest {
                None => PollTimeout::NONE,
                Some((when, _)) => PollTimeout::try_from(
                    when.saturating_duration_since(now)
                        .as_millis()
                        .saturating_add(1),
                )
                .unwrap_or(PollTimeout::MAX),
            };
            match poll(&mut polled, wait) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return error(interp, &format!("interact: waiting for input: {e}")),
            }
            polled
                .iter()
                .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
                .collect()
        };
        let now = Instant::now();
        for (reader, ready) in readers.iter_mut().zip(ready) {
            if ready {
                if let Err(message) = read(&mut state.borrow_mut(), &reader.id) {
                    return error(interp, &message);
                }
                reader.fresh = true;
                reader.last = now;
            }
        }
    }
    interp.set_result(b"");
    Code::Ok
}
