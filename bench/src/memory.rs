//! Memory: what an idle session costs, and the peak under a flood with no match.
//!
//! Each measurement runs in a fresh child process (this binary with
//! `--child-idle IMPL N` or `--child-flood IMPL BYTES`), so what earlier
//! benchmarks allocated and freed cannot hide or inflate it. The child prints
//! `key value` lines that the parent reads back.
//!
//! Heap bytes are counted by this binary's global allocator ([`Counting`]);
//! RSS and its peak come from `/proc/self/status` (`VmRSS`, `VmHWM`). Kernel
//! memory (pty and pipe buffers) counts in neither.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ptychat::{Command, Pattern};

use crate::emit;
use crate::raw::RawSession;
use crate::session::{Cmd, Expected, Impl, Pat, Result};

/// The system allocator, counting the bytes currently allocated and their peak.
pub struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn added(size: usize) {
    let now = CURRENT.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` with the same arguments; the
// counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            added(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            added(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            added(new_size);
        }
        p
    }
}

/// Heap bytes allocated now.
fn heap_now() -> usize {
    CURRENT.load(Ordering::Relaxed)
}

/// Restarts the heap peak from what is allocated now.
fn reset_heap_peak() {
    PEAK.store(heap_now(), Ordering::Relaxed);
}

fn heap_peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// A `Vm*` field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with(field) && line[field.len()..].starts_with(':'))
        .ok_or_else(|| format!("no {field} in /proc/self/status"))?;
    let kb: usize = line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb * 1024)
}

/// Resets the peak RSS (`VmHWM`) to the current RSS (Linux ≥ 4.0).
fn reset_rss_peak() -> Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")?;
    Ok(())
}

/// The implementations measured here.
pub const IMPLS: [Impl; 3] = [Impl::Raw, Impl::Ptychat, Impl::Expectrl];

/// The implementations that can run the flood (read to end of output with no match).
pub const FLOOD_IMPLS: [Impl; 2] = [Impl::Raw, Impl::Ptychat];

/// What a child measurement reported.
pub type Figures = HashMap<String, f64>;

/// Runs `--child-... IMPL ARG` in a fresh process and reads its figures.
fn in_child(flag: &str, imp: Impl, arg: usize) -> Result<Figures> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .arg(flag)
        .arg(imp.name())
        .arg(arg.to_string())
        .stdin(std::process::Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "{flag} {imp} {arg}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let mut figures = Figures::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((key, value)) = line.split_once(' ') {
            figures.insert(key.to_string(), value.trim().parse()?);
        }
    }
    Ok(figures)
}

/// Heap and RSS per session of `n` idle sessions, each after one round trip
/// through `cat`, measured in a fresh process.
pub fn idle_sessions(imp: Impl, n: usize) -> Result<Figures> {
    in_child("--child-idle", imp, n)
}

/// Time and peak memory while `bytes` of output with no match arrive on a
/// pty, with default settings, measured in a fresh process.
pub fn flood(imp: Impl, bytes: usize) -> Result<Figures> {
    in_child("--child-flood", imp, bytes)
}

/// The child side: `--child-idle IMPL N` or `--child-flood IMPL BYTES`. Prints figures.
pub fn child(flag: &str, imp: &str, arg: usize) -> Result<()> {
    let imp = Impl::from_name(imp).ok_or_else(|| format!("unknown implementation {imp}"))?;
    let figures = match flag {
        "--child-idle" => child_idle(imp, arg)?,
        "--child-flood" => child_flood(imp, arg)?,
        _ => return Err(format!("unknown child mode {flag}").into()),
    };
    let mut keys: Vec<_> = figures.keys().collect();
    keys.sort();
    for key in keys {
        println!("{key} {}", figures[key]);
    }
    Ok(())
}

fn child_idle(imp: Impl, n: usize) -> Result<Figures> {
    let cmd = Cmd::sh(&format!("stty -echo; echo {}; exec cat", emit::READY));
    let timeout = Duration::from_secs(60);
    let mut sessions = Vec::with_capacity(n);
    let heap0 = heap_now();
    let rss0 = status_bytes("VmRSS")?;
    for _ in 0..n {
        sessions.push(imp.spawn(&cmd, timeout)?);
    }
    for (i, session) in sessions.iter_mut().enumerate() {
        if session.expect(Pat::Exact(emit::READY))? != Expected::Matched {
            return Err(format!("session {i}: no {}", emit::READY).into());
        }
        session.send(format!("ping-{i}\n").as_bytes())?;
    }
    for (i, session) in sessions.iter_mut().enumerate() {
        if session.expect(Pat::Exact(&format!("ping-{i}\r\n")))? != Expected::Matched {
            return Err(format!("session {i}: no echo").into());
        }
    }
    let heap = heap_now() - heap0;
    let rss = status_bytes("VmRSS")?.saturating_sub(rss0);
    for session in &mut sessions {
        session.send(b"\x04")?;
    }
    for session in &mut sessions {
        session.wait()?;
    }
    Ok(Figures::from([
        ("sessions".to_string(), n as f64),
        ("heap_per_session".to_string(), heap as f64 / n as f64),
        ("rss_per_session".to_string(), rss as f64 / n as f64),
    ]))
}

/// The pattern nobody prints.
const NEVER: &str = "NEVER-APPEARS-XYZ";

fn child_flood(imp: Impl, bytes: usize) -> Result<Figures> {
    let exe = std::env::current_exe()?;
    let timeout = Duration::from_secs(600);
    let args = [emit::Mode::Pty.flag().to_string(), bytes.to_string()];
    let (elapsed, kept) = match imp {
        Impl::Raw => {
            let cmd = Cmd::new(&exe).arg(&args[0]).arg(&args[1]);
            let mut session = RawSession::spawn(&cmd, timeout)?;
            crate::session::Session::expect(&mut session, Pat::Exact(emit::READY))?;
            start_measuring()?;
            let start = Instant::now();
            crate::session::Session::send(&mut session, b"go\n")?;
            let read = session.read_to_eof()?;
            if read < bytes as u64 {
                return Err(format!("raw: only {read} bytes before the end").into());
            }
            (start.elapsed(), 0)
        }
        Impl::Ptychat => {
            let mut session = Command::new(&exe)
                .args(&args)
                .timeout(Some(timeout))
                .spawn()?;
            session.expect(emit::READY)?;
            start_measuring()?;
            let start = Instant::now();
            session.send("go\n")?;
            let m = session.expect([Pattern::exact(NEVER), Pattern::eof()])?;
            if m.index() != 1 {
                return Err("ptychat: matched the pattern that never comes".into());
            }
            let kept = m.before().len();
            (start.elapsed(), kept)
        }
        other => return Err(format!("{other}: no flood driver").into()),
    };
    let rss_peak = status_bytes("VmHWM")?;
    Ok(Figures::from([
        ("secs".to_string(), elapsed.as_secs_f64()),
        (
            "rss_peak_extra".to_string(),
            rss_peak.saturating_sub(RSS_BEFORE.load(Ordering::Relaxed)) as f64,
        ),
        (
            "heap_peak_extra".to_string(),
            heap_peak().saturating_sub(HEAP_BEFORE.load(Ordering::Relaxed)) as f64,
        ),
        ("kept".to_string(), kept as f64),
    ]))
}

static RSS_BEFORE: AtomicUsize = AtomicUsize::new(0);
static HEAP_BEFORE: AtomicUsize = AtomicUsize::new(0);

/// Starts the peaks from here: the flood's extra memory is measured from now.
fn start_measuring() -> Result<()> {
    reset_rss_peak()?;
    RSS_BEFORE.store(status_bytes("VmRSS")?, Ordering::Relaxed);
    reset_heap_peak();
    HEAP_BEFORE.store(heap_now(), Ordering::Relaxed);
    Ok(())
}
