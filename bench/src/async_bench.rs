//! Async sessions (ptychat's `tokio` feature) against the blocking API, in one run:
//! round trip and throughput of one session, and one wait over many sessions against
//! the blocking `Group` and a raw `poll(2)` loop. The async side runs on a
//! current-thread runtime. Implementations take turns block by block, so background
//! load hits them alike; the table gives medians and ratios.

use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use ptychat::{AsyncSession, Command, Group, Pattern, Pty, PtySession};

use crate::emit;
use crate::session::Result;
use crate::stats;

const TIMEOUT: Duration = Duration::from_secs(30);

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// `cat` on a pty with echo off: a line sent comes back once.
fn cat() -> Result<PtySession> {
    let mut s = Command::new("cat")
        .echo(false)
        .timeout(Some(TIMEOUT))
        .spawn()?;
    s.set_timeout(Some(TIMEOUT));
    Ok(s)
}

/// How much work each benchmark does.
struct Plan {
    trips: usize,
    mib: usize,
    reps: usize,
    sessions: usize,
    turns: usize,
}

/// Runs the benchmarks and prints their table.
pub fn run(quick: bool) -> Result<()> {
    let plan = Plan {
        trips: if quick { 1000 } else { 4000 },
        mib: if quick { 10 } else { 50 },
        reps: if quick { 3 } else { 5 },
        sessions: if quick { 200 } else { 1000 },
        turns: if quick { 200 } else { 600 },
    };
    let rt = runtime()?;
    let rows = [
        round_trips(&rt, &plan)?,
        throughput(&rt, &plan)?,
        many_sessions(&rt, &plan)?,
    ];
    println!(
        "### Async sessions (current-thread tokio runtime) against the blocking API\n\n\
         Medians; ratios are time ratios (below 1× means async is faster).\n"
    );
    println!("| benchmark | raw | blocking | async | async/blocking | async/raw |");
    println!("|---|---:|---:|---:|---:|---:|");
    for row in rows {
        let raw = row.raw.map_or("n/a".to_string(), secs);
        let vs_raw = row
            .raw
            .map_or("—".to_string(), |r| format!("{:.3}×", row.asynch / r));
        println!(
            "| {} | {raw} | {} | {} | {:.3}× | {vs_raw} |",
            row.label,
            secs(row.blocking),
            secs(row.asynch),
            row.asynch / row.blocking
        );
    }
    println!(
        "\nMethod:\n\
         - round trip: `cat` on a pty with echo off; send `ping-N\\n`, expect `ping-N\\r\\n`; {} trips each, in blocks of 100 taking turns.\n\
         - throughput: the `--emit` child on a pty, {} MiB, expect `{}`; {} runs each, taking turns.\n\
         - many sessions: {} `cat`s on ptys (echo off); a turn sends a line to one of them (a different one each turn) and waits on all of them for it: \
         raw is one `poll(2)` over every master fd and a read of the ready ones; blocking is `Group::expect_any`; async is `AsyncSession::expect_any` \
         over all sessions. {} turns each, in blocks of 50 taking turns (the first turn of each block, which registers the fds, not counted).",
        plan.trips,
        plan.mib,
        emit::MARKER,
        plan.reps,
        plan.sessions,
        plan.turns
    );
    Ok(())
}

struct Row {
    label: String,
    raw: Option<f64>,
    blocking: f64,
    asynch: f64,
}

fn secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.2} µs", s * 1e6)
    }
}

fn median(samples: Vec<f64>) -> f64 {
    stats::median(&stats::sorted(samples))
}

fn round_trips(rt: &tokio::runtime::Runtime, plan: &Plan) -> Result<Row> {
    eprintln!("  async: round trips");
    let mut blocking = cat()?;
    let mut asynch = cat()?.into_async();
    let (mut b, mut a) = (Vec::new(), Vec::new());
    let mut i = 0;
    while b.len() < plan.trips {
        for _ in 0..100 {
            let line = format!("ping-{i}\n");
            let back = format!("ping-{i}\r\n");
            i += 1;
            let start = Instant::now();
            blocking.send(&line)?;
            blocking.expect(back.as_str())?;
            b.push(start.elapsed().as_secs_f64());
        }
        rt.block_on(async {
            for _ in 0..100 {
                let line = format!("ping-{i}\n");
                let back = format!("ping-{i}\r\n");
                i += 1;
                let start = Instant::now();
                asynch.send(&line).await?;
                asynch.expect(back.as_str()).await?;
                a.push(start.elapsed().as_secs_f64());
            }
            Ok::<_, ptychat::Error>(())
        })?;
    }
    rt.block_on(async {
        asynch.send_eof().await?;
        asynch.wait().await
    })?;
    blocking.send_eof()?;
    blocking.wait()?;
    Ok(Row {
        label: "round trip via cat, median".into(),
        raw: None,
        blocking: median(b),
        asynch: median(a),
    })
}

fn emitter(bytes: usize) -> Result<PtySession> {
    let mut s = Command::new(std::env::current_exe()?)
        .arg(emit::Mode::Pty.flag())
        .arg(bytes.to_string())
        .timeout(Some(TIMEOUT))
        .spawn()?;
    s.set_timeout(Some(TIMEOUT));
    s.expect(emit::READY)?;
    Ok(s)
}

fn throughput(rt: &tokio::runtime::Runtime, plan: &Plan) -> Result<Row> {
    eprintln!("  async: throughput");
    let bytes = plan.mib << 20;
    let (mut b, mut a) = (Vec::new(), Vec::new());
    for _ in 0..plan.reps {
        let mut s = emitter(bytes)?;
        let start = Instant::now();
        s.send("go\n")?;
        s.expect(emit::MARKER)?;
        b.push(start.elapsed().as_secs_f64());
        s.wait()?;

        let mut s = emitter(bytes)?.into_async();
        rt.block_on(async {
            let start = Instant::now();
            s.send("go\n").await?;
            s.expect(emit::MARKER).await?;
            a.push(start.elapsed().as_secs_f64());
            s.wait().await
        })?;
    }
    Ok(Row {
        label: format!("throughput, exact, {} MiB", plan.mib),
        raw: None,
        blocking: median(b),
        asynch: median(a),
    })
}

/// The session a turn talks to: a different one each turn, all over the list.
fn target(turn: usize, n: usize) -> usize {
    (turn * 7919) % n
}

fn many_sessions(rt: &tokio::runtime::Runtime, plan: &Plan) -> Result<Row> {
    let n = plan.sessions;
    eprintln!("  async: {n} sessions: spawning");
    let mut sessions: Vec<PtySession> = (0..n).map(|_| cat()).collect::<Result<_>>()?;
    let (mut raw, mut blocking, mut asynch) = (Vec::new(), Vec::new(), Vec::new());
    let mut turn = 0;
    let block = 50;
    eprintln!("  async: {n} sessions: measuring");
    while blocking.len() < plan.turns {
        // Raw: one poll over every master, reads of the ready ones.
        let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); n];
        for k in 0..=block {
            let (line, back) = (format!("t-{turn}\n"), format!("t-{turn}\r\n"));
            let who = target(turn, n);
            turn += 1;
            let start = Instant::now();
            nix::unistd::write(sessions[who].transport().master(), line.as_bytes())?;
            raw_wait(&sessions, &mut bufs, who, back.as_bytes())?;
            if k > 0 {
                raw.push(start.elapsed().as_secs_f64());
            }
        }
        // Blocking: a group of all of them.
        let mut group: Group<Pty> = Group::new();
        group.set_timeout(Some(TIMEOUT));
        let ids: Vec<_> = sessions.drain(..).map(|s| group.add(s)).collect();
        for k in 0..=block {
            let (line, back) = (format!("t-{turn}\n"), format!("t-{turn}\r\n"));
            let who = target(turn, n);
            turn += 1;
            let start = Instant::now();
            group[ids[who]].send(&line)?;
            let hit = group.expect_any(back.as_str())?;
            if k > 0 {
                blocking.push(start.elapsed().as_secs_f64());
            }
            assert_eq!(hit.id(), ids[who]);
        }
        let mut asyncs: Vec<AsyncSession<Pty>> = ids
            .iter()
            .map(|id| group.remove(*id).expect("a member").into_async())
            .collect();
        // Async: a wait over all of them.
        rt.block_on(async {
            for k in 0..=block {
                let (line, back) = (format!("t-{turn}\n"), format!("t-{turn}\r\n"));
                let who = target(turn, n);
                turn += 1;
                let start = Instant::now();
                asyncs[who].send(&line).await?;
                let mut all: Vec<&mut AsyncSession<Pty>> = asyncs.iter_mut().collect();
                let hit =
                    AsyncSession::expect_any(&mut all, Pattern::exact(back), Some(TIMEOUT)).await?;
                if k > 0 {
                    asynch.push(start.elapsed().as_secs_f64());
                }
                assert_eq!(hit.session(), who);
            }
            Ok::<_, ptychat::Error>(())
        })?;
        sessions = asyncs.into_iter().map(AsyncSession::into_inner).collect();
    }
    eprintln!("  async: {n} sessions: done");
    Ok(Row {
        label: format!("{n} sessions, one answers, median"),
        raw: Some(median(raw)),
        blocking: median(blocking),
        asynch: median(asynch),
    })
}

/// Polls every master until session `who` has sent `back`.
fn raw_wait(sessions: &[PtySession], bufs: &mut [Vec<u8>], who: usize, back: &[u8]) -> Result<()> {
    let mut chunk = [0u8; 4096];
    loop {
        let mut fds: Vec<PollFd<'_>> = sessions
            .iter()
            .map(|s| PollFd::new(s.transport().master(), PollFlags::POLLIN))
            .collect();
        poll(&mut fds, PollTimeout::from(30_000u16))?;
        let ready: Vec<usize> = fds
            .iter()
            .enumerate()
            .filter(|(_, fd)| fd.revents().is_some_and(|r| !r.is_empty()))
            .map(|(k, _)| k)
            .collect();
        drop(fds);
        for k in ready {
            let fd = sessions[k].transport().master();
            let n = nix::unistd::read(fd, &mut chunk)?;
            bufs[k].extend_from_slice(&chunk[..n]);
        }
        if let Some(at) = memchr::memmem::find(&bufs[who], back) {
            bufs[who].drain(..at + back.len());
            return Ok(());
        }
    }
}
