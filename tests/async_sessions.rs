//! Async sessions (feature `tokio`) on real programs, under a current-thread and a
//! multi-thread runtime: expect, send with back-pressure, close input, wait for the
//! child, deadlines and their errors, cancellation, `select!` and the wait over many
//! sessions. The fork transport is in `async_fork.rs` (it needs a single thread).
#![cfg(feature = "tokio")]

mod common;

use std::time::{Duration, Instant};

use common::{LONG, sh, spawn};
use ptychat::{
    AsyncSession, Command, Error, ExitStatus, Pattern, PipeSession, PtySession, Session, Signal,
    StderrMode,
};

/// `cat` on a pty with echo off: what we send comes back once.
fn cat() -> AsyncSession<ptychat::Pty> {
    spawn(Command::new("cat").echo(false)).into_async()
}

fn piped(line: &str, stderr: StderrMode) -> AsyncSession<ptychat::Pipes> {
    let mut s: PipeSession = Command::shell(line)
        .timeout(Some(LONG))
        .spawn_piped(stderr)
        .unwrap();
    s.set_timeout(Some(LONG));
    s.into_async()
}

/// The lines `seq 1 n` prints, as a pty shows them.
fn seq_output(n: usize) -> Vec<u8> {
    (1..=n)
        .flat_map(|i| format!("{i}\r\n").into_bytes())
        .collect()
}

async fn round_trips(s: &mut AsyncSession<ptychat::Pty>) {
    for i in 0..50 {
        let line = format!("ping-{i}");
        s.send_line(&line).await.unwrap();
        let m = s.expect(format!("{line}\r\n").as_str()).await.unwrap();
        assert_eq!(m.before(), b"", "round trip {i}");
    }
    s.send_eof().await.unwrap();
    s.expect(Pattern::eof()).await.unwrap();
    assert!(s.wait().await.unwrap().success());
}

#[tokio::test(flavor = "current_thread")]
async fn round_trips_through_cat_on_a_current_thread_runtime() {
    round_trips(&mut cat()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_through_cat_on_a_multi_thread_runtime() {
    round_trips(&mut cat()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_are_send_sessions_run_in_spawned_tasks() {
    let tasks: Vec<_> = (0..4)
        .map(|k| {
            tokio::spawn(async move {
                let mut bc = spawn(Command::new("bc").arg("-q").env("TERM", "dumb")).into_async();
                bc.send_line(format!("{k} * 1000 + 7")).await?;
                let m = bc.expect(Pattern::regex(r"(?m)^(\d+)\r$")?).await?;
                let answer = m.group_str(1).unwrap().into_owned();
                bc.send_line("quit").await?;
                bc.expect(Pattern::eof()).await?;
                assert!(bc.wait().await?.success());
                Ok::<_, Error>(answer)
            })
        })
        .collect();
    for (k, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap().unwrap(), format!("{}", k * 1000 + 7));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn python_answers_with_captures() {
    let mut py =
        common::py("import sys\nfor line in sys.stdin: print(eval(line), flush=True)").into_async();
    py.get_mut().transport_mut(); // Hands the session out: registrations are made again.
    py.send_line("6 * 7").await.unwrap();
    let m = py
        .expect(Pattern::regex(r"(?m)^(\d+)\r$").unwrap())
        .await
        .unwrap();
    assert_eq!(m.group_str(1).as_deref(), Some("42"));
    py.send_eof().await.unwrap();
    py.expect(Pattern::eof()).await.unwrap();
    assert!(py.wait().await.unwrap().success());
}

#[tokio::test(flavor = "current_thread")]
async fn a_timeout_is_the_blocking_engines_rich_error() {
    let mut s = sh("echo hello; sleep 30").into_async();
    let started = Instant::now();
    let err = s
        .expect_timeout("never", Some(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(200));
    match &err {
        Error::Timeout { tail, timeout, .. } => {
            assert_eq!(*timeout, Duration::from_millis(200));
            assert!(tail.contains("hello"), "{err}");
        }
        other => panic!("{other:?}"),
    }
    // A `timeout` pattern turns it into a match; the buffer is still there.
    let m = s
        .expect_timeout(
            [Pattern::exact("never"), Pattern::timeout()],
            Some(Duration::from_millis(50)),
        )
        .await
        .unwrap();
    assert!(m.is_timeout());
    s.expect("hello\r\n").await.unwrap();
    // A deadline shared by several calls.
    let deadline = Instant::now() + Duration::from_millis(100);
    let err = s.expect_deadline("never", deadline).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(Instant::now() >= deadline);
    s.kill(Signal::SIGKILL).unwrap();
    assert_eq!(
        s.wait().await.unwrap(),
        ExitStatus::Signaled(Signal::SIGKILL)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_of_output_is_the_rich_eof_error() {
    let mut s = sh("echo bye").into_async();
    let err = s.expect("never").await.unwrap_err();
    match &err {
        Error::Eof { tail, .. } => assert!(tail.contains("bye"), "{err}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.wait().await.unwrap().code(), Some(0));
}

/// The core of cancellation safety: expects dropped over and over while output flows
/// lose nothing.
async fn dropped_expects_lose_no_output() {
    let n = 20_000;
    // The program prints nothing until it reads a line, so the first expects are
    // certainly dropped; the later ones are dropped whenever the output is slower than
    // the deadline, which varies with the machine and is not asserted.
    let mut s = spawn(Command::shell(format!("read x; seq 1 {n}")).echo(false)).into_async();
    let mut dropped = 0;
    for _ in 0..3 {
        let idle = tokio::time::timeout(Duration::from_micros(300), s.expect(Pattern::eof())).await;
        assert!(idle.is_err(), "the program printed before its input");
        dropped += 1;
    }
    s.send_line("go").await.unwrap();
    // A lost wakeup must fail the test, not hang it.
    let give_up = Instant::now() + common::LONG;
    let m = loop {
        assert!(
            Instant::now() < give_up,
            "no end of output after {dropped} dropped expects"
        );
        // A deadline so short that calls are dropped in the middle of reading.
        match tokio::time::timeout(Duration::from_micros(300), s.expect(Pattern::eof())).await {
            Ok(m) => break m.unwrap(),
            Err(_) => dropped += 1,
        }
    };
    assert!(m.is_eof());
    assert_eq!(m.before(), seq_output(n), "after {dropped} dropped expects");
    assert!(s.wait().await.unwrap().success());
}

#[tokio::test(flavor = "current_thread")]
async fn dropped_expects_lose_no_output_on_a_current_thread_runtime() {
    dropped_expects_lose_no_output().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_expects_lose_no_output_on_a_multi_thread_runtime() {
    dropped_expects_lose_no_output().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_expect_leaves_its_output_for_the_next() {
    // The program writes `one`, then waits for a line before writing `two`.
    let mut s = sh("echo one; read x; echo two-$x").into_async();
    let lost = tokio::time::timeout(Duration::from_millis(300), s.expect("two")).await;
    assert!(lost.is_err(), "`two` cannot come before we send");
    // `one` was read by the dropped call and stays in the buffer.
    let m = s.expect("one\r\n").await.unwrap();
    assert_eq!(m.before(), b"");
    s.send_line("x").await.unwrap();
    let m = s.expect("two-x").await.unwrap();
    assert_eq!(m.before(), b"x\r\n", "the echo of our line");
    s.expect(Pattern::eof()).await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn select_over_two_sessions_and_the_loser_keeps_its_output() {
    let mut fast = sh("echo fast; sleep 30").into_async();
    let mut slow = sh("read x; echo slow-$x").into_async();
    let winner = tokio::select! {
        m = fast.expect("fast") => { m.unwrap(); "fast" }
        m = slow.expect("slow-") => { m.unwrap(); "slow" }
    };
    assert_eq!(winner, "fast");
    slow.send_line("go").await.unwrap();
    slow.expect("slow-go").await.unwrap();
    fast.terminate(Duration::from_secs(5)).await.unwrap();
    // join! over both works too.
    let (mut a, mut b) = (sh("echo a").into_async(), sh("echo b").into_async());
    let (a, b) = tokio::join!(a.read_some(None), b.read_some(None));
    assert!(a.unwrap().starts_with(b"a"));
    assert!(b.unwrap().starts_with(b"b"));
}

#[tokio::test(flavor = "current_thread")]
async fn send_reads_the_output_while_the_program_is_not_reading() {
    // cat on pipes echoes everything; sending 2 MiB without reading would deadlock once
    // both pipes are full.
    let mut s = piped("cat", StderrMode::Null);
    let line = [b'x'; 1023];
    let mut data = Vec::new();
    while data.len() < 2 << 20 {
        data.extend_from_slice(&line);
        data.push(b'\n');
    }
    data.extend_from_slice(b"END\n");
    s.send(&data).await.unwrap();
    // Closing input (after the write fd was registered by the blocked send) reaches
    // cat: a registration must not keep the pipe open.
    s.close_input().unwrap();
    let m = s.expect(Pattern::eof()).await.unwrap();
    assert_eq!(m.before().len(), data.len());
    assert!(m.before().ends_with(b"END\n"));
    assert!(s.wait().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open3_stderr_apart() {
    let mut s = piped(
        "echo out; echo err >&2; read x; echo done",
        StderrMode::Separate,
    );
    s.expect_stderr_timeout("err\n", Some(LONG)).await.unwrap();
    s.expect("out\n").await.unwrap();
    s.send_line("go").await.unwrap();
    s.expect("done\n").await.unwrap();
    assert!(s.wait().await.unwrap().success());
}

#[tokio::test(flavor = "current_thread")]
async fn streams_in_both_directions() {
    let (left, right) = Session::pair().unwrap();
    let (mut left, mut right) = (left.into_async(), right.into_async());
    left.send_line("ping").await.unwrap();
    right.expect("ping\n").await.unwrap();
    right.send_line("pong").await.unwrap();
    left.expect("pong\n").await.unwrap();
    left.close_input().unwrap();
    right.expect(Pattern::eof()).await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn waiting_for_the_child_on_its_pidfd() {
    let mut s = sh("exit 3").into_async();
    assert_eq!(s.wait().await.unwrap().code(), Some(3));
    let mut s = sh("sleep 30").into_async();
    let started = Instant::now();
    assert_eq!(
        s.wait_timeout(Some(Duration::from_millis(100)))
            .await
            .unwrap(),
        None
    );
    assert!(started.elapsed() >= Duration::from_millis(100));
    // A dropped wait leaves the session usable.
    let dropped = tokio::time::timeout(Duration::from_millis(50), s.wait()).await;
    assert!(dropped.is_err());
    s.kill(Signal::SIGTERM).unwrap();
    assert_eq!(
        s.wait().await.unwrap(),
        ExitStatus::Signaled(Signal::SIGTERM)
    );
    // A program that writes more than a pty holds before exiting can finish: the wait
    // reads its output into the buffer.
    let mut s = sh("seq 1 20000; exit 4").into_async();
    assert_eq!(s.wait().await.unwrap().code(), Some(4));
    let m = s.expect(Pattern::eof()).await.unwrap();
    assert_eq!(m.before(), seq_output(20_000));
}

#[tokio::test(flavor = "current_thread")]
async fn background_patterns_and_settings_through_get_mut() {
    let mut s = sh("echo working; echo 'ERROR: disk full'; echo done").into_async();
    s.get_mut()
        .expect_before(Pattern::regex(r"ERROR: (.*)\r\n").unwrap());
    s.set_timeout(Some(LONG));
    s.expect("working").await.unwrap();
    match s.expect("done").await {
        Err(Error::Background { found, .. }) => {
            assert_eq!(found.group_str(1).unwrap(), "disk full")
        }
        other => panic!("{other:?}"),
    }
    // Back to blocking and again async: the same session.
    let mut blocking: PtySession = s.into_inner();
    blocking.expect("done").unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn expect_any_says_which_session_matched() {
    let mut sessions: Vec<AsyncSession<ptychat::Pty>> = (0..12)
        .map(|k| sh(&format!("read x; echo answer-{k}-$x; sleep 30")).into_async())
        .collect();
    for k in [7, 3, 11] {
        sessions[k].send_line("go").await.unwrap();
        let mut all: Vec<&mut AsyncSession<_>> = sessions.iter_mut().collect();
        let hit = AsyncSession::expect_any(
            &mut all,
            Pattern::regex(r"answer-(\d+)-go").unwrap(),
            Some(LONG),
        )
        .await
        .unwrap();
        assert_eq!(hit.session(), k);
        assert_eq!(hit.group_str(1).unwrap(), k.to_string());
    }
    // Per-session patterns; the index is in that session's list.
    sessions[0].send_line("zero").await.unwrap();
    let (first, rest) = sessions.split_at_mut(1);
    let hit = AsyncSession::expect_each(
        [
            (
                &mut first[0],
                vec![Pattern::exact("nope"), Pattern::exact("answer-0-zero")],
            ),
            (&mut rest[0], vec![Pattern::exact("answer-1")]),
        ],
        Some(LONG),
    )
    .await
    .unwrap();
    assert_eq!((hit.session(), hit.index()), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_any_errors_name_the_session() {
    let mut quiet = sh("sleep 30").into_async();
    let mut ends = sh("echo last words").into_async();
    let err = AsyncSession::expect_any(&mut [&mut quiet, &mut ends], "never", Some(LONG))
        .await
        .unwrap_err();
    match &err {
        Error::InSession { session, source } => {
            assert_eq!(session, "session-1");
            assert!(source.is_eof(), "{err}");
        }
        other => panic!("{other:?}"),
    }
    let mut other_quiet = sh("echo something; sleep 30").into_async();
    let err = AsyncSession::expect_any(
        &mut [&mut quiet, &mut other_quiet],
        "never",
        Some(Duration::from_millis(200)),
    )
    .await
    .unwrap_err();
    match &err {
        Error::GroupTimeout { waiting, .. } => {
            assert!(waiting.contains("`session-1`"), "{err}");
            assert!(waiting.contains("something"), "{err}");
        }
        other => panic!("{other:?}"),
    }
    // A cancelled wait over many sessions loses nothing either.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(50),
        AsyncSession::expect_any(&mut [&mut quiet, &mut other_quiet], "never", None),
    )
    .await;
    assert!(cancelled.is_err());
    other_quiet.expect("something\r\n").await.unwrap();
    let deadline = Instant::now() + Duration::from_millis(50);
    let hit = AsyncSession::expect_any_deadline(
        &mut [&mut quiet, &mut other_quiet],
        [Pattern::exact("never"), Pattern::timeout()],
        deadline,
    )
    .await
    .unwrap();
    assert!(hit.is_timeout());
    assert_eq!(hit.session(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn mixed_transports_in_one_wait_when_boxed() {
    let mut pty = sh("read x; echo pty-$x").into_async().boxed();
    let mut pipes = piped("read x; echo pipes-$x", StderrMode::Null).boxed();
    pipes.send_line("1").await.unwrap();
    let hit = AsyncSession::expect_any(&mut [&mut pty, &mut pipes], "-1", Some(LONG))
        .await
        .unwrap();
    assert_eq!(hit.session(), 1);
    assert_eq!(hit.before(), b"pipes");
    pty.send_line("2").await.unwrap();
    pty.expect("pty-2").await.unwrap();
}
