//! The four benchmarks. Each returns raw samples for one implementation.

use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};

use crate::emit;
use crate::session::{Cmd, Expected, Impl, Pat, Result, Session};

/// How long any single handshake may take before we call it broken.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

fn ready(session: &mut dyn Session, what: &str) -> Result<()> {
    match session.expect(Pat::Exact(emit::READY))? {
        Expected::Matched => Ok(()),
        Expected::TimedOut => Err(format!("{what}: no {} from the child", emit::READY).into()),
    }
}

/// Seconds from sending "go" to matching the marker after `bytes` of output,
/// or `None` if `timeout` passed first.
pub fn throughput_run(
    imp: Impl,
    bytes: usize,
    pat: Pat<'_>,
    timeout: Duration,
) -> Result<Option<f64>> {
    let exe = std::env::current_exe()?;
    let cmd = Cmd::new(exe)
        .arg(emit::Mode::Pty.flag())
        .arg(bytes.to_string());
    let mut session = imp.spawn(&cmd, timeout)?;
    ready(session.as_mut(), "throughput")?;
    let start = Instant::now();
    session.send(b"go\n")?;
    let outcome = session.expect(pat)?;
    let elapsed = start.elapsed().as_secs_f64();
    match outcome {
        Expected::Matched => {
            session.wait()?;
            Ok(Some(elapsed))
        }
        // Dropping the session stops the child, still blocked writing.
        Expected::TimedOut => Ok(None),
    }
}

/// Latencies in seconds of up to `count` send-a-line / expect-it-back trips
/// through `cat`, stopping early once `budget` is spent.
pub fn round_trips(imp: Impl, count: usize, budget: Duration) -> Result<Vec<f64>> {
    let cmd = Cmd::sh(&format!("stty -echo; echo {}; exec cat", emit::READY));
    let mut session = imp.spawn(&cmd, SETUP_TIMEOUT)?;
    ready(session.as_mut(), "round trips")?;
    let mut samples = Vec::with_capacity(count);
    let begin = Instant::now();
    for i in 0..count {
        if begin.elapsed() > budget {
            break;
        }
        let line = format!("ping-{i}\n");
        let back = format!("ping-{i}\r\n");
        let start = Instant::now();
        session.send(line.as_bytes())?;
        if session.expect(Pat::Exact(&back))? == Expected::TimedOut {
            return Err(format!("round trip {i} timed out").into());
        }
        samples.push(start.elapsed().as_secs_f64());
    }
    session.send(b"\x04")?; // ^D: cat sees EOF and exits.
    session.wait()?;
    Ok(samples)
}

/// Seconds for each of up to `count` spawn + wait + drop of `true`, stopping
/// early once `budget` is spent.
pub fn spawn_waits(imp: Impl, count: usize, budget: Duration) -> Result<Vec<f64>> {
    let cmd = Cmd::new("true");
    let mut samples = Vec::with_capacity(count);
    let begin = Instant::now();
    for _ in 0..count {
        if begin.elapsed() > budget {
            break;
        }
        let start = Instant::now();
        let mut session = imp.spawn(&cmd, SETUP_TIMEOUT)?;
        session.wait()?;
        drop(session);
        samples.push(start.elapsed().as_secs_f64());
    }
    Ok(samples)
}

/// CPU seconds (user + system, all threads of this process) spent in an
/// expect that waits `wait` for output that never comes.
pub fn idle_cpu(imp: Impl, wait: Duration) -> Result<f64> {
    let cmd = Cmd::new("sleep").arg("30");
    let mut session = imp.spawn(&cmd, wait)?;
    let before = cpu_seconds()?;
    let outcome = session.expect(Pat::Exact("never"))?;
    let used = cpu_seconds()? - before;
    if outcome != Expected::TimedOut {
        return Err("idle: matched a pattern that never comes".into());
    }
    Ok(used)
}

fn cpu_seconds() -> Result<f64> {
    let usage = getrusage(UsageWho::RUSAGE_SELF)?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 * 1e-6;
    Ok(secs(usage.user_time()) + secs(usage.system_time()))
}
