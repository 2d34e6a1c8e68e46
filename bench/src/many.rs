//! Many sessions at once: N concurrent `sh -c 'stty -echo; echo READY; exec cat'`
//! sessions, the peers' `many` workload. Spawn all and wait for each READY, send one
//! `ping-I` line to each and expect each echo, send end-of-file to each, expect each
//! end of output and reap each child. Timed per phase.
//!
//! Every measurement runs in a fresh process (this binary, `--many-run VARIANT N`), so
//! that peak memory (VmHWM) is per measurement, fds and ptys of one run cannot leak into
//! the next, and the process that forks is as small as the peers' are. The peers
//! (Tcl Expect, Expect.pm, pexpect; `--peers DIR`) run the same way, interleaved with ours
//! repetition by repetition.
//!
//! Variants:
//! - `raw`: posix_openpt + std `Command` with setsid/TIOCSCTTY (as in raw.rs), one
//!   poll(2) over the masters still waited on, one read per ready master, memmem.
//! - `ptychat-group`: one `Group`; each phase calls `group.expect` with the sessions still
//!   waited on (Tcl's `expect -i $pending`) until none is left.
//! - `ptychat-actions`: one `Group`; each phase is one `GroupActions` loop over
//!   `Target::All` that counts the matches.
//! - `ptychat-threads`: a thread per session (256 KiB stack), each owning its
//!   `PtySession`; the phases are separated by barriers.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use memchr::memmem;
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::stat::Mode;
use ptychat::{Command, Group, GroupActions, Pattern, Pty, PtySession, SessionId, Step, Target};

use crate::report::{format_time, sig3};
use crate::session::{Cmd, Result};
use crate::stats;

/// The child of every session, as in the peers.
pub const RT_CMD: &str = "stty -echo; echo READY; exec cat";

/// Sizes measured unless `--many-sessions` says otherwise.
pub const DEFAULT_SESSIONS: [usize; 4] = [10, 100, 1000, 4000];

/// Give up on one phase of one session after this long (the peers' timeout).
const PHASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Kill a measurement's process after this long.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// Peers run at sizes up to this (Tcl Expect's `select` and pexpect's are not meant for
/// thousands of fds), unless `--peers-max` says otherwise.
const PEERS_MAX: usize = 1000;

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Session counts; empty: [`DEFAULT_SESSIONS`].
    pub sessions: Vec<usize>,
    /// Directory with peer.exp, peer.pl and peer.py: also run them.
    pub peers: Option<PathBuf>,
    pub peers_max: Option<usize>,
    /// Repetitions per size (default 3, 1 at 4000 and more or when quick).
    pub reps: Option<usize>,
}

/// Parses one of this group's command-line options (`flag` with its `value`).
pub fn parse_option(
    options: &mut Options,
    flag: &str,
    value: Option<&String>,
) -> std::result::Result<(), String> {
    let value = value.ok_or(format!("{flag} needs a value"))?;
    let count = |text: &str| match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag} needs positive counts, not {text}")),
    };
    match flag {
        "--many-sessions" => {
            options.sessions = value
                .split(',')
                .map(count)
                .collect::<std::result::Result<_, _>>()?;
        }
        "--many-reps" => options.reps = Some(count(value)?),
        "--peers-max" => options.peers_max = Some(count(value)?),
        "--peers" => options.peers = Some(PathBuf::from(value)),
        _ => return Err(format!("unknown argument: {flag}")),
    }
    Ok(())
}

/// The implementations of the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Raw,
    Group,
    Actions,
    Threads,
    Tcl,
    Perl,
    Python,
}

impl Variant {
    const OURS: [Variant; 4] = [
        Variant::Raw,
        Variant::Group,
        Variant::Actions,
        Variant::Threads,
    ];
    const PEERS: [Variant; 3] = [Variant::Tcl, Variant::Perl, Variant::Python];

    fn name(self) -> &'static str {
        match self {
            Variant::Raw => "raw",
            Variant::Group => "ptychat-group",
            Variant::Actions => "ptychat-actions",
            Variant::Threads => "ptychat-threads",
            Variant::Tcl => "tcl-expect",
            Variant::Perl => "expect.pm",
            Variant::Python => "pexpect",
        }
    }

    fn from_name(name: &str) -> Option<Variant> {
        Self::OURS.into_iter().find(|v| v.name() == name)
    }

    /// The command that measures this variant at `n` sessions once.
    fn command(self, n: usize, peers: Option<&Path>) -> Result<std::process::Command> {
        let peer = |file: &str| -> Result<PathBuf> {
            let dir = peers.ok_or("no peers directory")?;
            Ok(dir.join(file))
        };
        let mut command;
        match self {
            Variant::Tcl => {
                command = std::process::Command::new("expect");
                command.arg(peer("peer.exp")?).args(["many", "default"]);
            }
            Variant::Perl => {
                command = std::process::Command::new("perl");
                command.arg(peer("peer.pl")?).args(["many", "default"]);
            }
            Variant::Python => {
                command = std::process::Command::new("python3");
                command.arg(peer("peer.py")?).args(["many", "nodelay"]);
            }
            _ => {
                command = std::process::Command::new(std::env::current_exe()?);
                command.args(["--many-run", self.name()]);
            }
        }
        command.arg(n.to_string());
        Ok(command)
    }
}

/// One measurement, as the peers print it (`key value` lines).
#[derive(Clone, Copy, Debug, Default)]
struct Figures {
    spawn_ready: f64,
    roundtrip: f64,
    close: f64,
    secs: f64,
    hwm_kb: f64,
}

impl Figures {
    fn parse(text: &str) -> Result<Figures> {
        let mut figures = Figures::default();
        let mut seen = 0;
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let (Some(key), Some(value)) = (words.next(), words.next()) else {
                continue;
            };
            let slot = match key {
                "spawn_ready" => &mut figures.spawn_ready,
                "roundtrip" => &mut figures.roundtrip,
                "close" => &mut figures.close,
                "secs" => &mut figures.secs,
                "hwm_kb" => &mut figures.hwm_kb,
                _ => continue,
            };
            *slot = value.parse()?;
            seen += 1;
        }
        if seen < 5 {
            return Err(format!("incomplete figures: {text:?}").into());
        }
        Ok(figures)
    }

    fn print(&self) {
        println!("spawn_ready {:.6}", self.spawn_ready);
        println!("roundtrip {:.6}", self.roundtrip);
        println!("close {:.6}", self.close);
        println!("secs {:.6}", self.secs);
        println!("hwm_kb {}", self.hwm_kb);
    }
}

/// The phase ends, as instants.
struct Clock {
    t0: Instant,
    t1: Instant,
    t2: Instant,
}

impl Clock {
    fn figures(&self, t3: Instant) -> Figures {
        Figures {
            spawn_ready: (self.t1 - self.t0).as_secs_f64(),
            roundtrip: (self.t2 - self.t1).as_secs_f64(),
            close: (t3 - self.t2).as_secs_f64(),
            secs: (t3 - self.t0).as_secs_f64(),
            hwm_kb: hwm_kb() as f64,
        }
    }
}

fn hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

/// Raises the soft open-file limit to the hard one; both, after.
pub fn raise_nofile() -> (u64, u64) {
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((0, 0))
}

fn read_number(path: &str) -> Option<usize> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// How many more ptys this process may open: the kernel's limit minus those in use
/// (and minus one: the kernel refuses the pty that would reach the limit).
fn pty_room() -> Option<usize> {
    let max = read_number("/proc/sys/kernel/pty/max")?;
    let used = read_number("/proc/sys/kernel/pty/nr")?;
    Some(max.saturating_sub(used + 1))
}

/// `--many-run VARIANT N`: measures once and prints the figures.
pub fn child_main(args: &[String]) -> ExitCode {
    let variant = args.first().and_then(|name| Variant::from_name(name));
    let n = args.get(1).and_then(|n| n.parse::<usize>().ok());
    let (Some(variant), Some(n)) = (variant, n) else {
        eprintln!(
            "usage: ptychat-bench --many-run raw|ptychat-group|ptychat-actions|ptychat-threads N"
        );
        return ExitCode::from(2);
    };
    raise_nofile();
    let measured = match variant {
        Variant::Raw => raw_many(n),
        Variant::Group => group_many(n),
        Variant::Actions => actions_many(n),
        Variant::Threads => threads_many(n),
        _ => unreachable!("only ours run here"),
    };
    match measured {
        Ok(figures) => {
            figures.print();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("many {} {n}: {e}", variant.name());
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------
// raw

struct RawChild {
    master: File,
    child: Child,
    buf: Vec<u8>,
    eof: bool,
}

/// A pty and `sh -c RT_CMD` on it, with the same calls as raw.rs.
fn raw_spawn(cmd: &Cmd) -> Result<RawChild> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let slave_path = ptsname_r(&master)?;
    let slave: OwnedFd = open(
        slave_path.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut command = cmd.to_std();
    command
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave));
    // SAFETY: as in raw.rs: the closure runs in the forked child before exec and only
    // makes two async-signal-safe system calls (setsid, ioctl); it does not allocate.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()?;
            if nix::libc::ioctl(0, nix::libc::TIOCSCTTY as _, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    drop(command);
    Ok(RawChild {
        master: File::from(OwnedFd::from(master)),
        child,
        buf: Vec::new(),
        eof: false,
    })
}

/// Polls the sessions in `pending` until `done` says each is done, reading once per
/// ready master.
fn raw_wait_all(
    sessions: &mut [RawChild],
    done: impl Fn(usize, &mut RawChild) -> bool,
) -> Result<()> {
    let mut pending: Vec<usize> = (0..sessions.len()).collect();
    let mut chunk = vec![0u8; 4096];
    let deadline = Instant::now() + PHASE_TIMEOUT;
    while !pending.is_empty() {
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd<'_>> = pending
                .iter()
                .map(|&i| PollFd::new(sessions[i].master.as_fd(), PollFlags::POLLIN))
                .collect();
            let left = deadline.saturating_duration_since(Instant::now());
            match poll(&mut fds, PollTimeout::try_from(left)?) {
                Ok(0) => return Err(format!("{} sessions timed out", pending.len()).into()),
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            fds.iter()
                .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
                .collect()
        };
        let mut still = Vec::with_capacity(pending.len());
        for (k, &i) in pending.iter().enumerate() {
            let session = &mut sessions[i];
            if ready[k] {
                match session.master.read(&mut chunk) {
                    Ok(0) => session.eof = true,
                    Ok(n) => session.buf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => session.eof = true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
                if done(i, session) {
                    continue;
                }
            }
            still.push(i);
        }
        pending = still;
    }
    Ok(())
}

/// True (and the buffer emptied through the match) if `needle` is in `session`'s buffer.
fn raw_take(session: &mut RawChild, needle: &[u8]) -> bool {
    match memmem::find(&session.buf, needle) {
        Some(at) => {
            session.buf.drain(..at + needle.len());
            true
        }
        None => false,
    }
}

fn raw_many(n: usize) -> Result<Figures> {
    let cmd = Cmd::sh(RT_CMD);
    let t0 = Instant::now();
    let mut sessions = Vec::with_capacity(n);
    for _ in 0..n {
        sessions.push(raw_spawn(&cmd)?);
    }
    raw_wait_all(&mut sessions, |_, s| raw_take(s, b"READY"))?;
    let t1 = Instant::now();
    for (i, s) in sessions.iter_mut().enumerate() {
        s.master.write_all(format!("ping-{i}\n").as_bytes())?;
    }
    raw_wait_all(&mut sessions, |i, s| {
        raw_take(s, format!("ping-{i}\r\n").as_bytes())
    })?;
    let t2 = Instant::now();
    for s in &mut sessions {
        s.master.write_all(b"\x04")?;
    }
    raw_wait_all(&mut sessions, |_, s| s.eof)?;
    for s in &mut sessions {
        s.child.wait()?;
    }
    drop(sessions);
    Ok(Clock { t0, t1, t2 }.figures(Instant::now()))
}

// ---------------------------------------------------------------------------------------
// ptychat

fn spawn_one() -> ptychat::Result<PtySession> {
    Command::new("sh")
        .arg("-c")
        .arg(RT_CMD)
        .timeout(Some(PHASE_TIMEOUT))
        .spawn()
}

fn spawn_group(n: usize) -> Result<(Group<Pty>, Vec<SessionId>)> {
    let mut group: Group<Pty> = Group::new();
    group.set_timeout(Some(PHASE_TIMEOUT));
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(group.add(spawn_one()?));
    }
    Ok((group, ids))
}

/// One `group.expect` per session, each naming the sessions still waited on with their
/// pattern, until every one matched.
fn expect_each(group: &mut Group<Pty>, ids: &[SessionId], patterns: &[Pattern]) -> Result<()> {
    let mut pending: Vec<(SessionId, &Pattern)> = ids.iter().copied().zip(patterns).collect();
    while !pending.is_empty() {
        let hit = group.expect(pending.iter().copied())?;
        let at = pending
            .iter()
            .position(|(id, _)| *id == hit.id())
            .ok_or("a match in a session not waited on")?;
        pending.remove(at);
    }
    Ok(())
}

fn group_many(n: usize) -> Result<Figures> {
    let t0 = Instant::now();
    let (mut group, ids) = spawn_group(n)?;
    expect_each(&mut group, &ids, &vec![Pattern::exact("READY"); n])?;
    let t1 = Instant::now();
    for (i, &id) in ids.iter().enumerate() {
        group[id].send(format!("ping-{i}\n"))?;
    }
    let pings: Vec<Pattern> = (0..n)
        .map(|i| Pattern::exact(format!("ping-{i}\r\n")))
        .collect();
    expect_each(&mut group, &ids, &pings)?;
    let t2 = Instant::now();
    for &id in &ids {
        group[id].send_eof()?;
    }
    expect_each(&mut group, &ids, &vec![Pattern::eof(); n])?;
    for &id in &ids {
        group[id].wait()?;
    }
    drop(group);
    Ok(Clock { t0, t1, t2 }.figures(Instant::now()))
}

/// One `GroupActions` loop over every session until `n` matches of `pattern`;
/// `check` sees each match.
fn count_matches(
    group: &mut Group<Pty>,
    n: usize,
    pattern: Pattern,
    check: impl Fn(SessionId, &ptychat::Match) -> bool,
) -> Result<()> {
    let mut left = n;
    let mut wrong = 0;
    GroupActions::new()
        .on(Target::All, pattern, |_, id, m| {
            if !check(id, m) {
                wrong += 1;
            }
            left -= 1;
            Ok(if left == 0 {
                Step::Done(())
            } else {
                Step::Continue
            })
        })
        .run(group)?;
    if wrong > 0 {
        return Err(format!("{wrong} wrong replies").into());
    }
    Ok(())
}

fn actions_many(n: usize) -> Result<Figures> {
    let t0 = Instant::now();
    let (mut group, ids) = spawn_group(n)?;
    count_matches(&mut group, n, Pattern::exact("READY"), |_, _| true)?;
    let t1 = Instant::now();
    let index: HashMap<SessionId, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    for (i, &id) in ids.iter().enumerate() {
        group[id].send(format!("ping-{i}\n"))?;
    }
    let ping = Pattern::regex(r"ping-(\d+)\r\n")?;
    count_matches(&mut group, n, ping, |id, m| {
        m.group_str(1).and_then(|i| i.parse::<usize>().ok()) == index.get(&id).copied()
    })?;
    let t2 = Instant::now();
    for &id in &ids {
        group[id].send_eof()?;
    }
    count_matches(&mut group, n, Pattern::eof(), |_, _| true)?;
    for &id in &ids {
        group[id].wait()?;
    }
    drop(group);
    Ok(Clock { t0, t1, t2 }.figures(Instant::now()))
}

fn threads_many(n: usize) -> Result<Figures> {
    // Each thread and the main one meet at the end of each phase.
    let barrier = Arc::new(Barrier::new(n + 1));
    let t0 = Instant::now();
    let mut threads = Vec::with_capacity(n);
    for i in 0..n {
        let barrier = Arc::clone(&barrier);
        let thread = std::thread::Builder::new().stack_size(256 << 10).spawn(
            move || -> std::result::Result<(), String> {
                let run = || -> ptychat::Result<PtySession> {
                    let mut s = spawn_one()?;
                    s.expect("READY")?;
                    Ok(s)
                };
                let ready = run();
                barrier.wait();
                let mut s = ready.map_err(|e| e.to_string())?;
                let trip = s
                    .send(format!("ping-{i}\n"))
                    .and_then(|_| s.expect(format!("ping-{i}\r\n")));
                barrier.wait();
                trip.map_err(|e| e.to_string())?;
                let close = s
                    .send_eof()
                    .and_then(|_| s.expect(Pattern::eof()))
                    .and_then(|_| s.wait());
                barrier.wait();
                close.map_err(|e| e.to_string())?;
                Ok(())
            },
        );
        match thread {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                // The barrier cannot be met any more: fail this run.
                eprintln!("many ptychat-threads {n}: thread {i}: {e}");
                std::process::exit(1);
            }
        }
    }
    // A thread that failed still meets every barrier, and reports after the last.
    barrier.wait();
    let t1 = Instant::now();
    barrier.wait();
    let t2 = Instant::now();
    barrier.wait();
    let t3 = Instant::now();
    for thread in threads {
        thread.join().map_err(|_| "a session thread panicked")??;
    }
    Ok(Clock { t0, t1, t2 }.figures(t3))
}

// ---------------------------------------------------------------------------------------
// the driver in the main process

/// Runs `command` with a deadline and parses what it prints.
fn measure(mut command: std::process::Command) -> Result<Figures> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let start = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("killed after {RUN_TIMEOUT:?}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("");
        return Err(format!("{}: {last}", output.status).into());
    }
    Figures::parse(&stdout)
}

/// The samples of one variant at one size.
#[derive(Default)]
struct Samples {
    runs: Vec<Figures>,
    error: Option<String>,
}

impl Samples {
    fn median(&self, pick: impl Fn(&Figures) -> f64) -> Option<f64> {
        if self.runs.is_empty() {
            return None;
        }
        Some(stats::median(&stats::sorted(
            self.runs.iter().map(pick).collect(),
        )))
    }
}

struct SizeResult {
    n: usize,
    variants: Vec<(Variant, Samples)>,
}

/// The `many` group: every size, every variant, interleaved; the report section.
pub fn bench(options: &Options, quick: bool) -> String {
    let (soft, hard) = raise_nofile();
    eprintln!("  open-file limit: soft {soft}, hard {hard} (soft raised to hard)");
    let room = pty_room();
    eprintln!(
        "  ptys: kernel.pty.max {:?}, in use {:?}; room for {room:?} more",
        read_number("/proc/sys/kernel/pty/max"),
        read_number("/proc/sys/kernel/pty/nr")
    );
    let sizes = if options.sessions.is_empty() {
        if quick {
            DEFAULT_SESSIONS[..3].to_vec()
        } else {
            DEFAULT_SESSIONS.to_vec()
        }
    } else {
        options.sessions.clone()
    };
    let peers_max = options.peers_max.unwrap_or(PEERS_MAX);
    let mut notes = Vec::new();
    let mut results = Vec::new();
    for n in sizes {
        if let Some(room) = room
            && n > room
        {
            let message = format!(
                "{n} sessions skipped: room for {room} more ptys \
                 (kernel.pty.max minus those in use)"
            );
            eprintln!("  {message}");
            notes.push(message);
            continue;
        }
        // Each session takes about 3 fds in ptychat (the master, a pidfd, a spare).
        if (n as u64) * 3 + 64 > soft {
            let message = format!("{n} sessions skipped: open-file limit {soft} is too low");
            eprintln!("  {message}");
            notes.push(message);
            continue;
        }
        let mut variants: Vec<Variant> = Variant::OURS.to_vec();
        if options.peers.is_some() && n <= peers_max {
            variants.extend(Variant::PEERS);
        }
        let reps = options
            .reps
            .unwrap_or(if quick || n >= 4000 { 1 } else { 3 });
        let mut samples: Vec<Samples> = variants.iter().map(|_| Samples::default()).collect();
        for rep in 0..reps {
            for (k, &variant) in variants.iter().enumerate() {
                if samples[k].error.is_some() {
                    continue;
                }
                let figures = variant
                    .command(n, options.peers.as_deref())
                    .and_then(measure);
                match figures {
                    Ok(f) => {
                        eprintln!(
                            "  {n} sessions, run {}: {}: {:.3} s (spawn+ready {:.3}, round trip {:.3}, close {:.3}), VmHWM {} KB",
                            rep + 1,
                            variant.name(),
                            f.secs,
                            f.spawn_ready,
                            f.roundtrip,
                            f.close,
                            f.hwm_kb
                        );
                        samples[k].runs.push(f);
                    }
                    Err(e) => {
                        eprintln!("  {n} sessions: {}: error: {e}", variant.name());
                        notes.push(format!("{}, {n} sessions: error: {e}", variant.name()));
                        samples[k].error = Some(e.to_string());
                    }
                }
            }
        }
        results.push(SizeResult {
            n,
            variants: variants.into_iter().zip(samples).collect(),
        });
    }
    report(&results, &notes, (soft, hard))
}

fn report(results: &[SizeResult], notes: &[String], (soft, hard): (u64, u64)) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Many sessions at once\n\n`sh -c '{RT_CMD}'` × N: spawn all and wait for each READY, \
         one `ping-I` round trip each, end-of-file to each, expect each end of output and reap \
         each child. Medians; each measurement in a fresh process; open-file limit soft {soft}, \
         hard {hard}.\n"
    );
    out.push_str(
        "| sessions | implementation | runs | total | per session | ×raw | spawn+ready | round trip | close | VmHWM |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for size in results {
        let raw = size
            .variants
            .iter()
            .find(|(v, _)| *v == Variant::Raw)
            .and_then(|(_, s)| s.median(|f| f.secs));
        for (variant, samples) in &size.variants {
            let _ = write!(
                out,
                "| {} | {} | {} |",
                size.n,
                variant.name(),
                samples.runs.len()
            );
            let Some(secs) = samples.median(|f| f.secs) else {
                let _ = writeln!(out, " error | | | | | | |");
                continue;
            };
            let per = secs / size.n as f64;
            let ratio = raw.map_or("—".to_string(), |raw| format!("{}×", sig3(secs / raw)));
            let phase = |pick: fn(&Figures) -> f64| {
                samples.median(pick).map_or("—".to_string(), format_time)
            };
            let hwm = samples.median(|f| f.hwm_kb).unwrap_or(0.0);
            let _ = writeln!(
                out,
                " {} | {} | {ratio} | {} | {} | {} | {} KB |",
                format_time(secs),
                format_time(per),
                phase(|f| f.spawn_ready),
                phase(|f| f.roundtrip),
                phase(|f| f.close),
                sig3(hwm),
            );
        }
    }
    // Flatness and memory per session, from the smallest and largest size measured.
    if let (Some(first), Some(last)) = (results.first(), results.last())
        && last.n > first.n
    {
        let _ = writeln!(
            out,
            "\n| implementation | ms per session at {} | at {} | largest/smallest | VmHWM growth per session, {}→{} |\n|---|---:|---:|---:|---:|",
            first.n, last.n, first.n, last.n
        );
        for (variant, samples) in &last.variants {
            let Some((_, small)) = first.variants.iter().find(|(v, _)| v == variant) else {
                continue;
            };
            let per = |s: &Samples, n: usize| s.median(|f| f.secs).map(|x| x / n as f64);
            let (a, b) = (per(small, first.n), per(samples, last.n));
            let hwm = |s: &Samples| s.median(|f| f.hwm_kb);
            let growth = match (hwm(small), hwm(samples)) {
                (Some(x), Some(y)) => {
                    format!("{} KB", sig3((y - x) / (last.n - first.n) as f64))
                }
                _ => "—".to_string(),
            };
            let ms = |x: Option<f64>| x.map_or("—".to_string(), |x| sig3(x * 1e3));
            let spread = match (a, b) {
                (Some(a), Some(b)) => format!("{}×", sig3(b / a)),
                _ => "—".to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {spread} | {growth} |",
                variant.name(),
                ms(a),
                ms(b)
            );
        }
    }
    if !notes.is_empty() {
        out.push_str("\nNotes:\n");
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_parse_the_peers_output() {
        let f =
            Figures::parse("spawn_ready 1.5\nroundtrip 0.25\nclose 0.5\nsecs 2.25\nhwm_kb 12345\n")
                .unwrap();
        assert_eq!(f.secs, 2.25);
        assert_eq!(f.hwm_kb, 12345.0);
        assert!(Figures::parse("secs 1\n").is_err());
    }
}
