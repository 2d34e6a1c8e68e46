//! What the Expect commands share: the spawned programs by spawn id, closed ones waiting
//! for `wait`, `log_user`, and the `expect_before` / `expect_after` lists.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::os::fd::OwnedFd;

use crate::group::{Group, SessionId};
use crate::sys::tcl::{InterpRef, Scope};
use crate::transport::stream::FdPair;
use crate::{ExitStatus, Session, Transcript};

use super::expect::{Branch, Case, Kind};
use super::spawned::Spawned;
use crate::Pattern;

/// How many compiled patterns are kept.
const PATTERN_CACHE: usize = 256;

/// The spawn ids of our own standard input, output and error, as Expect names them.
pub(crate) const USER_SPAWN_ID: &str = "exp0";
pub(crate) const ERROR_SPAWN_ID: &str = "exp2";
/// The spawn id of our terminal, `/dev/tty` (`expect_tty`), as Expect names it (the
/// first spawned program is `exp4` here, so the name is free).
pub(crate) const TTY_SPAWN_ID: &str = "exp3";
/// `$any_spawn_id` (Expect's value): in an `-i` list, every spawn id the `expect` command
/// names elsewhere.
pub(crate) const ANY_SPAWN_ID: &str = "-1";

/// The state of one `ptychat expect` interpreter, shared by its commands.
pub(crate) type Shared = Rc<RefCell<State>>;

/// The session of a spawn id.
pub(crate) type SpawnSession = Session<Spawned>;

pub(crate) struct State {
    pub(crate) group: Group<Spawned>,
    /// Spawn id (`exp4`...) to the program's place in the group.
    pub(crate) ids: HashMap<String, SessionId>,
    /// Programs `close`d, by spawn id: their pid and how they ended, for `wait`.
    pub(crate) closed: HashMap<String, (u32, ExitStatus)>,
    /// The Tcl channels of `spawn -open` ids, by spawn id: closed with the spawn id.
    pub(crate) channels: HashMap<String, Vec<u8>>,
    next_id: u32,
    /// `log_user`: copy what the programs write to our standard output.
    pub(crate) log_user: Arc<AtomicBool>,
    /// `--strict`: an expect that times out or meets EOF without a branch for it fails.
    pub(crate) strict: bool,
    /// `expect_before` and `expect_after` branches, each with the spawn ids it watches.
    pub(crate) before: Vec<Case>,
    pub(crate) after: Vec<Case>,
    /// `expect_background` branches, and the Tcl file handler of each spawn id they
    /// watch.
    pub(crate) background: Vec<Case>,
    pub(crate) watchers: HashMap<String, crate::sys::tcl::FileHandler>,
    /// Programs given up by `wait -nowait`, reaped when the script ends.
    pub(crate) unwaited: Vec<SpawnSession>,
    /// `remove_nulls -d`: whether NUL bytes are removed from the output of programs
    /// spawned from now on (and of our standard input); Expect's default is yes.
    pub(crate) remove_nulls: bool,
    /// `parity -d`: the parity value of programs spawned from now on (0: their output's
    /// 8th bit is stripped); Expect's default is 1.
    pub(crate) parity: i64,
    /// The `parity` value of each spawn id it was given to (spawned ones get `parity`'s).
    pub(crate) parities: HashMap<String, i64>,
    /// `match_max` for programs spawned from now on (`match_max -d`).
    pub(crate) match_max: Option<usize>,
    /// The code `exit` asked for, once it was called.
    pub(crate) exit_code: Option<i32>,
    /// `exit -onexit HANDLER`: the script run once when the script ends (by `exit`, at
    /// its end, or with an error), as in Expect.
    pub(crate) exit_handler: Vec<u8>,
    /// Whether the exit handler ran (it runs once, as in Expect).
    pub(crate) exit_handler_ran: bool,
    /// Our standard input and output as a session (`$user_spawn_id`), opened by the first
    /// `expect_user`.
    user: Option<Session<FdPair>>,
    /// Our terminal as a session, opened by the first `expect_tty`.
    tty: Option<Session<FdPair>>,
    /// Compiled patterns by (kind, text, nocase): a loop of expects compiles each once,
    /// as Expect caches its regexes.
    patterns: HashMap<(Kind, Vec<u8>, bool), Pattern>,
    /// `trap`, `stty`, `log_file`, `exp_internal`.
    pub(crate) extras: super::extras::Extras,
    /// `--log` and `--record`: attached to every program spawned.
    pub(crate) option_logs: Vec<crate::script::logs::Sink>,
}

impl State {
    pub(crate) fn new(strict: bool) -> Shared {
        Rc::new(RefCell::new(State {
            group: Group::new(),
            ids: HashMap::new(),
            closed: HashMap::new(),
            channels: HashMap::new(),
            next_id: 4,
            log_user: Arc::new(AtomicBool::new(true)),
            strict,
            before: Vec::new(),
            after: Vec::new(),
            background: Vec::new(),
            watchers: HashMap::new(),
            unwaited: Vec::new(),
            remove_nulls: true,
            parity: 1,
            parities: HashMap::new(),
            match_max: None,
            exit_code: None,
            exit_handler: Vec::new(),
            exit_handler_ran: false,
            user: None,
            tty: None,
            patterns: HashMap::new(),
            extras: super::extras::Extras::default(),
            option_logs: Vec::new(),
        }))
    }

    /// Adds a spawned program; returns its new spawn id.
    pub(crate) fn add(&mut self, mut session: SpawnSession) -> String {
        let id = format!("exp{}", self.next_id);
        self.next_id += 1;
        session.add_transcript(Box::new(UserLog(self.log_user.clone())));
        session.add_transcript(self.extras.log_transcript(self.log_user.clone()));
        for sink in &self.option_logs {
            session.add_transcript(sink.transcript());
        }
        if let Some(sink) = self.extras.trace_sink() {
            session.set_trace(Some(sink));
        }
        session.set_remove_nulls(self.remove_nulls);
        session.set_strip_parity(self.parity == 0);
        self.parities.insert(id.clone(), self.parity);
        if let Some(max) = self.match_max {
            session.set_max_buffer(max, crate::BufferFull::DiscardOldest);
        }
        let place = self.group.add_named(id.clone(), session);
        self.ids.insert(id.clone(), place);
        id
    }

    /// The session of spawn id `id`.
    pub(crate) fn session(&mut self, id: &str) -> Result<&mut SpawnSession, String> {
        match self.ids.get(id) {
            Some(place) => Ok(self
                .group
                .get_mut(*place)
                .expect("spawn ids name sessions of the group")),
            None if self.closed.contains_key(id) => {
                Err(format!("spawn id {id} not open (it was closed)"))
            }
            None => Err(format!("can not find channel named \"{id}\"")),
        }
    }

    /// Takes the session of spawn id `id` out.
    pub(crate) fn remove(&mut self, id: &str) -> Option<SpawnSession> {
        // Its background patterns go, as in Expect (the fd is about to close).
        self.watchers.remove(id);
        for case in &mut self.background {
            case.ids.retain(|i| i != id);
        }
        self.background.retain(|case| !case.ids.is_empty());
        let place = self.ids.remove(id)?;
        self.group.remove(place)
    }

    /// The session of our standard input (read) and output (write), opened on first use.
    /// They are opened anew through /proc so that the non-blocking mode the engine sets
    /// stays off the descriptions our shell shares.
    pub(crate) fn user(&mut self) -> Result<&mut Session<FdPair>, String> {
        if self.user.is_none() {
            let session = self.open_pair("/proc/self/fd/0", "/proc/self/fd/1", "our standard")?;
            self.user = Some(session);
        }
        Ok(self.user.as_mut().expect("opened above"))
    }

    /// The session of our terminal (`/dev/tty`), opened on first use.
    pub(crate) fn tty(&mut self) -> Result<&mut Session<FdPair>, String> {
        if self.tty.is_none() {
            let session = self.open_pair("/dev/tty", "/dev/tty", "/dev/tty:")?;
            self.tty = Some(session);
        }
        Ok(self.tty.as_mut().expect("opened above"))
    }

    /// A session reading `input` and writing `output`, opened anew (see `user`).
    fn open_pair(&self, input: &str, output: &str, what: &str) -> Result<Session<FdPair>, String> {
        let open = |path: &str, write: bool| {
            std::fs::OpenOptions::new()
                .read(!write)
                .write(write)
                .open(path)
                .map(OwnedFd::from)
                .map_err(|e| {
                    format!(
                        "opening {what} {}: {e}",
                        if write { "output" } else { "input" }
                    )
                })
        };
        let mut session = Session::from_fds(open(input, false)?, open(output, true)?)
            .map_err(|e| e.to_string())?;
        session.set_match_order(crate::MatchOrder::ListOrder);
        session.set_timeout(None);
        session.set_remove_nulls(self.remove_nulls);
        Ok(session)
    }

    /// The fds to poll for the output of spawn ids `ids` (`$user_spawn_id`: our
    /// standard input, `/dev/tty`: our terminal, once opened).
    pub(crate) fn read_fds(&self, ids: &[String]) -> Vec<std::os::fd::BorrowedFd<'_>> {
        use crate::Transport;
        ids.iter()
            .filter_map(|id| match id.as_str() {
                USER_SPAWN_ID => self.user.as_ref().map(|s| s.transport().read_fd()),
                TTY_SPAWN_ID => self.tty.as_ref().map(|s| s.transport().read_fd()),
                id => self
                    .ids
                    .get(id)
                    .and_then(|place| self.group.get(*place))
                    .map(|s| s.transport().read_fd()),
            })
            .collect()
    }

    /// The compiled pattern of `branch`, from the cache when it was compiled before.
    pub(crate) fn pattern(&mut self, branch: &Branch) -> Result<Pattern, String> {
        let key = (branch.kind.clone(), branch.text.clone(), branch.nocase);
        if let Some(pattern) = self.patterns.get(&key) {
            return Ok(pattern.clone());
        }
        let pattern = super::expect::pattern(branch)?;
        // Scripts build patterns from data now and then; keep the cache bounded.
        if self.patterns.len() >= PATTERN_CACHE {
            self.patterns.clear();
        }
        self.patterns.insert(key, pattern.clone());
        Ok(pattern)
    }

    pub(crate) fn log_user(&self) -> bool {
        self.log_user.load(Ordering::Relaxed)
    }
}

/// Copies a program's output to our standard output while `log_user` is on.
struct UserLog(Arc<AtomicBool>);

impl Transcript for UserLog {
    fn output(&mut self, bytes: &[u8]) {
        if self.0.load(Ordering::Relaxed) {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(bytes).and_then(|()| out.flush());
        }
    }

    fn input(&mut self, _bytes: &[u8]) {}
}

/// The value of the variable `name` as Expect looks it up: in the current procedure,
/// then globally.
pub(crate) fn expect_var(interp: InterpRef<'_>, name: &str) -> Option<Vec<u8>> {
    interp
        .get_var(name, None, Scope::Current)
        .or_else(|| interp.get_var(name, None, Scope::Global))
}

/// The spawn id a command addresses: its `-i` value, else `$spawn_id`, else (before any
/// spawn, as in Expect) `$user_spawn_id`.
pub(crate) fn spawn_id(interp: InterpRef<'_>, given: Option<&[u8]>) -> Result<String, String> {
    let id = match given {
        Some(id) => id.to_vec(),
        None => expect_var(interp, "spawn_id").unwrap_or_else(|| USER_SPAWN_ID.as_bytes().to_vec()),
    };
    Ok(String::from_utf8_lossy(&id).trim().to_owned())
}
