//! Async sessions (ptychat's `tokio` feature) against the blocking API, in one run:
//! round trip and throughput of one session, and one wait over many sessions against
//! the blocking `Group` and a raw `poll(2)` loop. The async side runs on a
//! current-thread runtime. Implementations take turns block by block, so background
//! load hits them alike; the table gives medians and ratios.

use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use ptychat::{AsyncGroup, AsyncSession, Command, Group, Pattern, Pty, PtySession};

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
    rounds: usize,
}

/// Runs the benchmarks and prints their table.
pub fn run(quick: bool) -> Result<()> {
    let plan = Plan {
        trips: if quick { 1000 } else { 4000 },
        mib: if quick { 10 } else { 50 },
        reps: if quick { 3 } else { 5 },
        sessions: if quick { 200 } else { 1000 },
        turns: if quick { 200 } else { 600 },
        rounds: if quick { 3 } else { 5 },
    };
    let rt = runtime()?;
    let rows = [round_trips(&rt, &plan)?, throughput(&rt, &plan)?];
    let many = many_sessions(&rt, &plan)?;
    println!(
        "### Async sessions (current-thread tokio runtime) against the blocking API\n\n\
         Medians; ratios are time ratios (below 1× means async is faster).\n"
    );
    println!("| benchmark | blocking | async | async/blocking |");
    println!("|---|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {} | {:.3}× |",
            row.label,
            secs(row.blocking),
            secs(row.asynch),
            row.asynch / row.blocking
        );
    }
    println!(
        "\n### {} sessions in one current-thread runtime against the blocking group and a raw loop\n\n\
         Medians; ratios are time ratios (below 1× means `AsyncGroup` is faster).\n",
        plan.sessions
    );
    println!(
        "| benchmark | raw | Group | AsyncSession::expect_any | AsyncGroup | AsyncGroup/Group | AsyncGroup/raw |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in many {
        println!(
            "| {} | {} | {} | {} | {} | {:.3}× | {:.3}× |",
            row.label,
            secs(row.raw),
            secs(row.group),
            secs(row.any),
            secs(row.agroup),
            row.agroup / row.group,
            row.agroup / row.raw
        );
    }
    println!(
        "\nMethod:\n\
         - round trip: `cat` on a pty with echo off; send `ping-N\\n`, expect `ping-N\\r\\n`; {} trips each, in blocks of 100 taking turns.\n\
         - throughput: the `--emit` child on a pty, {} MiB, expect `{}`; {} runs each, taking turns.\n\
         - many sessions: {} `cat`s on ptys (echo off), spawned once and moved between the implementations, which take turns block by block. \
         raw is one `poll(2)` over every master fd, a read of the ready ones and a search of the new bytes; Group is the blocking `Group::expect_any`; \
         AsyncSession::expect_any waits over a list of every session; AsyncGroup is `AsyncGroup::expect_any`.\n\
         - one answers: a turn sends a line to one session (a different one each turn) and waits on all of them for it; {} turns each, in blocks of 50 \
         (the first turn of each block, which registers the fds, not counted).\n\
         - all answer: a line to every session, then one wait on all of them per answer until each has answered (raw: one loop until all have); \
         {} rounds each, taking turns.",
        plan.trips,
        plan.mib,
        emit::MARKER,
        plan.reps,
        plan.sessions,
        plan.turns,
        plan.rounds,
    );
    Ok(())
}

/// A row of the many-sessions table: seconds for each implementation.
struct ManyRow {
    label: String,
    raw: f64,
    group: f64,
    any: f64,
    agroup: f64,
}

struct Row {
    label: String,
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
        blocking: median(b),
        asynch: median(a),
    })
}

/// The session a turn talks to: a different one each turn, all over the list.
fn target(turn: usize, n: usize) -> usize {
    (turn * 7919) % n
}

fn many_sessions(rt: &tokio::runtime::Runtime, plan: &Plan) -> Result<Vec<ManyRow>> {
    let n = plan.sessions;
    eprintln!("  async: {n} sessions: spawning");
    let mut sessions: Vec<PtySession> = (0..n).map(|_| cat()).collect::<Result<_>>()?;
    let (mut raw, mut group, mut any, mut agroup) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut turn = 0;
    let block = 50;
    eprintln!("  async: {n} sessions: one answers");
    while group.len() < plan.turns {
        raw_turns(&mut sessions, block, &mut turn, &mut raw)?;
        group_turns(&mut sessions, block, &mut turn, &mut group)?;
        any_turns(rt, &mut sessions, block, &mut turn, &mut any)?;
        agroup_turns(rt, &mut sessions, block, &mut turn, &mut agroup)?;
    }
    let one = ManyRow {
        label: format!("{n} sessions, one answers, median per turn"),
        raw: median(raw),
        group: median(group),
        any: median(any),
        agroup: median(agroup),
    };
    eprintln!("  async: {n} sessions: all answer");
    let (mut raw, mut group, mut any, mut agroup) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..plan.rounds {
        raw.push(raw_all(&mut sessions, round)?);
        group.push(group_all(&mut sessions, round)?);
        any.push(any_all(rt, &mut sessions, round)?);
        agroup.push(agroup_all(rt, &mut sessions, round)?);
    }
    let all = ManyRow {
        label: format!("{n} sessions, all answer, median per round"),
        raw: median(raw),
        group: median(group),
        any: median(any),
        agroup: median(agroup),
    };
    eprintln!("  async: {n} sessions: done");
    Ok(vec![one, all])
}

/// The line of turn `turn`, and what comes back.
fn turn_line(turn: usize) -> (String, String) {
    (format!("t-{turn}\n"), format!("t-{turn}\r\n"))
}

/// Raw: one poll over every master, reads of the ready ones.
fn raw_turns(
    sessions: &mut [PtySession],
    block: usize,
    turn: &mut usize,
    out: &mut Vec<f64>,
) -> Result<()> {
    let n = sessions.len();
    let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); n];
    for k in 0..=block {
        let (line, back) = turn_line(*turn);
        let who = target(*turn, n);
        *turn += 1;
        let start = Instant::now();
        nix::unistd::write(sessions[who].transport().master(), line.as_bytes())?;
        raw_wait(sessions, &mut bufs, who, back.as_bytes())?;
        if k > 0 {
            out.push(start.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

/// Blocking: a group of all of them.
fn group_turns(
    sessions: &mut Vec<PtySession>,
    block: usize,
    turn: &mut usize,
    out: &mut Vec<f64>,
) -> Result<()> {
    let n = sessions.len();
    let mut group: Group<Pty> = Group::new();
    group.set_timeout(Some(TIMEOUT));
    let ids: Vec<_> = sessions.drain(..).map(|s| group.add(s)).collect();
    for k in 0..=block {
        let (line, back) = turn_line(*turn);
        let who = target(*turn, n);
        *turn += 1;
        let start = Instant::now();
        group[ids[who]].send(&line)?;
        let hit = group.expect_any(back.as_str())?;
        if k > 0 {
            out.push(start.elapsed().as_secs_f64());
        }
        assert_eq!(hit.id(), ids[who]);
    }
    sessions.extend(ids.iter().map(|id| group.remove(*id).expect("a member")));
    Ok(())
}

/// Async: `AsyncSession::expect_any` over all of them.
fn any_turns(
    rt: &tokio::runtime::Runtime,
    sessions: &mut Vec<PtySession>,
    block: usize,
    turn: &mut usize,
    out: &mut Vec<f64>,
) -> Result<()> {
    let n = sessions.len();
    let mut asyncs: Vec<AsyncSession<Pty>> =
        sessions.drain(..).map(PtySession::into_async).collect();
    rt.block_on(async {
        for k in 0..=block {
            let (line, back) = turn_line(*turn);
            let who = target(*turn, n);
            *turn += 1;
            let start = Instant::now();
            asyncs[who].send(&line).await?;
            let mut all: Vec<&mut AsyncSession<Pty>> = asyncs.iter_mut().collect();
            let hit =
                AsyncSession::expect_any(&mut all, Pattern::exact(back), Some(TIMEOUT)).await?;
            if k > 0 {
                out.push(start.elapsed().as_secs_f64());
            }
            assert_eq!(hit.session(), who);
        }
        Ok::<_, ptychat::Error>(())
    })?;
    sessions.extend(asyncs.into_iter().map(AsyncSession::into_inner));
    Ok(())
}

/// Async: an `AsyncGroup` of all of them.
fn agroup_turns(
    rt: &tokio::runtime::Runtime,
    sessions: &mut Vec<PtySession>,
    block: usize,
    turn: &mut usize,
    out: &mut Vec<f64>,
) -> Result<()> {
    let n = sessions.len();
    let mut group: AsyncGroup<Pty> = AsyncGroup::new();
    group.set_timeout(Some(TIMEOUT));
    let ids: Vec<_> = sessions.drain(..).map(|s| group.add(s)).collect();
    rt.block_on(async {
        for k in 0..=block {
            let (line, back) = turn_line(*turn);
            let who = target(*turn, n);
            *turn += 1;
            let start = Instant::now();
            group[ids[who]].send(&line).await?;
            let hit = group.expect_any(back.as_str()).await?;
            if k > 0 {
                out.push(start.elapsed().as_secs_f64());
            }
            assert_eq!(hit.id(), ids[who]);
        }
        Ok::<_, ptychat::Error>(())
    })?;
    sessions.extend(
        ids.iter()
            .map(|id| group.remove(*id).expect("a member").into_inner()),
    );
    Ok(())
}

/// The line every session gets in round `round` of "all answer", and what comes back.
fn round_line(round: usize, implementation: &str) -> (String, String) {
    (
        format!("all-{implementation}-{round}\n"),
        format!("all-{implementation}-{round}\r\n"),
    )
}

/// Raw: a line to each, then a poll loop until each has answered.
fn raw_all(sessions: &mut [PtySession], round: usize) -> Result<f64> {
    let n = sessions.len();
    let (line, back) = round_line(round, "raw");
    let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); n];
    let mut answered = vec![false; n];
    let mut left = n;
    let mut chunk = [0u8; 4096];
    let start = Instant::now();
    for s in sessions.iter() {
        nix::unistd::write(s.transport().master(), line.as_bytes())?;
    }
    while left > 0 {
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
            let got = nix::unistd::read(sessions[k].transport().master(), &mut chunk)?;
            bufs[k].extend_from_slice(&chunk[..got]);
            if !answered[k] && memchr::memmem::find(&bufs[k], back.as_bytes()).is_some() {
                answered[k] = true;
                left -= 1;
            }
        }
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Blocking: a line to each, then `Group::expect_any` once per session.
fn group_all(sessions: &mut Vec<PtySession>, round: usize) -> Result<f64> {
    let (line, back) = round_line(round, "group");
    let mut group: Group<Pty> = Group::new();
    group.set_timeout(Some(TIMEOUT));
    let ids: Vec<_> = sessions.drain(..).map(|s| group.add(s)).collect();
    let mut seen = std::collections::HashSet::new();
    let start = Instant::now();
    for &id in &ids {
        group[id].send(&line)?;
    }
    for _ in 0..ids.len() {
        let hit = group.expect_any(back.as_str())?;
        assert!(seen.insert(hit.id()));
    }
    let took = start.elapsed().as_secs_f64();
    sessions.extend(ids.iter().map(|id| group.remove(*id).expect("a member")));
    Ok(took)
}

/// Async: a line to each, then `AsyncSession::expect_any` over all once per session.
fn any_all(
    rt: &tokio::runtime::Runtime,
    sessions: &mut Vec<PtySession>,
    round: usize,
) -> Result<f64> {
    let (line, back) = round_line(round, "any");
    let mut asyncs: Vec<AsyncSession<Pty>> =
        sessions.drain(..).map(PtySession::into_async).collect();
    let took = rt.block_on(async {
        let mut seen = std::collections::HashSet::new();
        let start = Instant::now();
        for s in asyncs.iter_mut() {
            s.send(&line).await?;
        }
        for _ in 0..asyncs.len() {
            let mut all: Vec<&mut AsyncSession<Pty>> = asyncs.iter_mut().collect();
            let hit = AsyncSession::expect_any(&mut all, back.as_str(), Some(TIMEOUT)).await?;
            assert!(seen.insert(hit.session()));
        }
        Ok::<_, ptychat::Error>(start.elapsed().as_secs_f64())
    })?;
    sessions.extend(asyncs.into_iter().map(AsyncSession::into_inner));
    Ok(took)
}

/// Async: a line to each, then `AsyncGroup::expect_any` once per session.
fn agroup_all(
    rt: &tokio::runtime::Runtime,
    sessions: &mut Vec<PtySession>,
    round: usize,
) -> Result<f64> {
    let (line, back) = round_line(round, "agroup");
    let mut group: AsyncGroup<Pty> = AsyncGroup::new();
    group.set_timeout(Some(TIMEOUT));
    let ids: Vec<_> = sessions.drain(..).map(|s| group.add(s)).collect();
    let took = rt.block_on(async {
        let mut seen = std::collections::HashSet::new();
        let start = Instant::now();
        for &id in &ids {
            group[id].send(&line).await?;
        }
        for _ in 0..ids.len() {
            let hit = group.expect_any(back.as_str()).await?;
            assert!(seen.insert(hit.id()));
        }
        Ok::<_, ptychat::Error>(start.elapsed().as_secs_f64())
    })?;
    sessions.extend(
        ids.iter()
            .map(|id| group.remove(*id).expect("a member").into_inner()),
    );
    Ok(took)
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
