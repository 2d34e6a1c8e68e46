//! `AsyncGroup` (feature `tokio`) on real programs, under a current-thread and a
//! multi-thread runtime: which session matched, per-session patterns, target subsets,
//! the group timeout error, the end of one session's output, background patterns,
//! cancellation, sessions used on their own between group calls, output of a session a
//! call does not name, and a round trip through 250 sessions in one group.
#![cfg(feature = "tokio")]

mod common;

use std::time::Duration;

use common::{LONG, sh, spawn, wait_until_buffered};
use ptychat::{
    AsyncGroup, BackgroundList, Command, Error, Pattern, Pty, PtySession, SessionId, Target,
};

/// `cat` on a pty with echo off: what we send comes back once.
fn cat() -> PtySession {
    spawn(Command::new("cat").echo(false))
}

fn group_of(n: usize) -> (AsyncGroup<Pty>, Vec<SessionId>) {
    let mut group = AsyncGroup::new();
    group.set_timeout(Some(LONG));
    let ids = (0..n)
        .map(|i| group.add_named(format!("cat-{i}"), cat()))
        .collect();
    (group, ids)
}

async fn close_all(group: &mut AsyncGroup<Pty>) {
    for id in group.ids() {
        let mut s = group.remove(id).unwrap();
        s.send_eof().await.unwrap();
        s.expect(Pattern::eof()).await.unwrap();
        assert!(s.wait().await.unwrap().success());
    }
}

/// Each cat in turn answers; the match names it, and the others stay quiet.
async fn which_session_matched() {
    let (mut group, ids) = group_of(5);
    for round in 0..3 {
        for (i, &id) in ids.iter().enumerate().rev() {
            let line = format!("ping-{round}-{i}");
            group[id].send_line(&line).await.unwrap();
            let hit = group
                .expect_any(Pattern::regex(r"ping-(\d+)-(\d+)\r\n").unwrap())
                .await
                .unwrap();
            assert_eq!(hit.id(), id, "round {round}, session {i}");
            assert_eq!(hit.group_str(0).as_deref(), Some(&*format!("{line}\r\n")));
            assert_eq!((hit.wait(), hit.index()), (0, 0));
            assert_eq!(group.name(hit.id()), Some(&*format!("cat-{i}")));
        }
    }
    close_all(&mut group).await;
}

#[tokio::test(flavor = "current_thread")]
async fn which_session_matched_on_a_current_thread_runtime() {
    which_session_matched().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn which_session_matched_on_a_multi_thread_runtime() {
    which_session_matched().await;
}

#[tokio::test(flavor = "current_thread")]
async fn each_session_with_patterns_of_its_own() {
    let mut group = AsyncGroup::new();
    group.set_timeout(Some(LONG));
    let a = group.add_named("a", sh("read x; echo apple-$x; read x"));
    let b = group.add_named("b", sh("read x; echo banana-$x; read x"));
    // `b` says `apple` too, but only `a` waits for it; `b`'s own patterns come second in
    // the list, so the match's wait and index say which.
    group[b].send_line("apple").await.unwrap();
    let waits = [
        (a, vec![Pattern::exact("apple-")]),
        (
            b,
            vec![
                Pattern::exact("cherry"),
                Pattern::regex(r"banana-(\w+)").unwrap(),
            ],
        ),
    ];
    let hit = group.expect(waits.clone()).await.unwrap();
    assert_eq!((hit.id(), hit.wait(), hit.index()), (b, 1, 1));
    assert_eq!(hit.group_str(1).as_deref(), Some("apple"));
    group[a].send_line("pie").await.unwrap();
    let hit = group.expect(waits).await.unwrap();
    assert_eq!((hit.id(), hit.wait(), hit.index()), (a, 0, 0));
    // What followed the match stays in the session.
    let m = group[a].expect("\r\n").await.unwrap();
    assert_eq!(m.before(), b"pie");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_subset_leaves_the_others_alone() {
    let mut group = AsyncGroup::new();
    group.set_timeout(Some(LONG));
    let early = group.add_named("early", sh("echo hit-early; sleep 30"));
    // Each stays until a second line: a session whose output ended is an error in any
    // call that names it without an `eof` pattern.
    let a = group.add_named("a", sh("read x; echo hit-$x; read x"));
    let b = group.add_named("b", sh("read x; echo hit-$x; read x"));
    // `early` has its line out before anyone sends anything, but is not named.
    group[b].send_line("b").await.unwrap();
    let hit = group
        .expect([(
            Target::Sessions(vec![a, b]),
            Pattern::regex(r"hit-\w+").unwrap(),
        )])
        .await
        .unwrap();
    assert_eq!(hit.id(), b);
    assert_eq!(hit.matched(), b"hit-b");
    // A target and a session of its own in one call: `All` first wins for `early`.
    let hit = group
        .expect([(Target::All, "hit-"), (Target::Session(early), "early")])
        .await
        .unwrap();
    assert_eq!((hit.id(), hit.wait(), hit.index()), (early, 0, 0));
    group[early]
        .terminate(Duration::from_secs(5))
        .await
        .unwrap();
    group[a].send_line("a").await.unwrap();
    let hit = group.expect([(vec![a], "hit-a")]).await.unwrap();
    assert_eq!(hit.id(), a);
}

#[tokio::test(flavor = "current_thread")]
async fn the_timeout_error_names_each_session_its_patterns_and_its_output() {
    let mut group = AsyncGroup::new();
    // `first` has printed all it will print before `read`: wait until it is buffered.
    let mut partial = sh("echo partial; read x");
    wait_until_buffered(&mut partial, |b| b == b"partial\r\n");
    let first = group.add_named("first", partial);
    let second = group.add_named("second", sh("read x"));
    let err = group
        .expect_timeout(
            [(first, "complete\n"), (second, "never")],
            Some(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let Error::GroupTimeout {
        timeout, waiting, ..
    } = &err
    else {
        panic!("not a group timeout: {err:?}");
    };
    assert_eq!(*timeout, Duration::from_millis(200));
    assert!(
        waiting.starts_with(
            r#"2 sessions: `first` for "complete\n" (9 unmatched bytes, ending with: "partial\r\n")"#
        ),
        "{waiting}"
    );
    assert!(
        waiting.contains(r#"`second` for "never" (0 unmatched bytes, ending with: "")"#),
        "{waiting}"
    );
    let text = err.to_string();
    assert!(text.contains("waiting on 2 sessions"), "{text}");
    // The blocking group says the same of the same sessions.
    let mut blocking = ptychat::Group::new();
    let ids: Vec<SessionId> = [first, second]
        .into_iter()
        .map(|id| {
            let name = group.name(id).unwrap().to_owned();
            blocking.add_named(name, group.remove(id).unwrap().into_inner())
        })
        .collect();
    let same = blocking
        .expect_timeout(
            [(ids[0], "complete\n"), (ids[1], "never")],
            Some(Duration::from_millis(200)),
        )
        .unwrap_err();
    let Error::GroupTimeout {
        waiting: blocking_waiting,
        ..
    } = &same
    else {
        panic!("not a group timeout: {same:?}");
    };
    assert_eq!(waiting, blocking_waiting);
}

#[tokio::test(flavor = "current_thread")]
async fn a_timeout_pattern_of_the_first_named_session_matches_at_the_deadline() {
    let mut group = AsyncGroup::new();
    let a = group.add_named("a", sh("read x"));
    let b = group.add_named("b", sh("read x"));
    let hit = group
        .expect_timeout(
            [
                (a, vec![Pattern::exact("x")]),
                (b, vec![Pattern::exact("y"), Pattern::timeout()]),
            ],
            Some(Duration::from_millis(50)),
        )
        .await
        .unwrap();
    assert!(hit.is_timeout());
    assert_eq!((hit.id(), hit.wait(), hit.index()), (b, 1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_one_sessions_output() {
    let mut group = AsyncGroup::new();
    group.set_timeout(Some(LONG));
    let stays = group.add_named("stays", sh("read x"));
    let ends = group.add_named("ends", sh("read x; echo bye"));
    group[ends].send_line("go").await.unwrap();
    // Without an `eof` pattern: an error naming the session, with its output.
    let err = group.expect_any("never").await.unwrap_err();
    assert!(err.is_eof(), "{err}");
    let Error::InSession { session, source } = &err else {
        panic!("not in a session: {err:?}");
    };
    assert_eq!(session, "ends");
    assert!(source.to_string().contains("bye"), "{source}");
    // With one: the match, in that session; the output before it is there.
    let hit = group
        .expect([(Target::All, vec![Pattern::exact("never"), Pattern::eof()])])
        .await
        .unwrap();
    assert!(hit.is_eof());
    assert_eq!((hit.id(), hit.index()), (ends, 1));
    assert_eq!(group[ends].wait().await.unwrap().code(), Some(0));
    // The other session still answers.
    group.remove(ends).unwrap();
    group[stays].send_line("x").await.unwrap();
    let hit = group.expect([(stays, Pattern::eof())]).await.unwrap();
    assert_eq!(hit.id(), stays);
}

#[tokio::test(flavor = "current_thread")]
async fn background_patterns_of_the_group_and_of_a_session() {
    let mut group = AsyncGroup::new();
    group.set_timeout(Some(LONG));
    let a = group.add_named("a", sh("read x; echo ERROR: $x; read y; echo WARN: $y"));
    let b = group.add_named("b", sh("read x; echo fine"));
    group.expect_before("ERROR");
    group[a].get_mut().expect_after("WARN");
    group[a].send_line("disk").await.unwrap();
    let err = group.expect_any("fine").await.unwrap_err();
    let Error::InSession { session, source } = &err else {
        panic!("not in a session: {err:?}");
    };
    assert_eq!(session, "a");
    let Error::Background { list, found, .. } = &**source else {
        panic!("not a background match: {source:?}");
    };
    assert_eq!(*list, BackgroundList::Before);
    assert_eq!(found.matched(), b"ERROR");
    group.expect_before(Vec::<Pattern>::new());
    group[a].send_line("cpu").await.unwrap();
    let err = group.expect([(a, "fine")]).await.unwrap_err();
    let Error::InSession { source, .. } = &err else {
        panic!("not in a session: {err:?}");
    };
    assert!(
        matches!(
            &**source,
            Error::Background {
                list: BackgroundList::After,
                ..
            }
        ),
        "{source:?}"
    );
    group[b].send_line("go").await.unwrap();
    assert_eq!(group.expect([(b, "fine")]).await.unwrap().id(), b);
}

/// Expects over many sessions dropped over and over: first while every program waits for
/// its input (so they are certainly dropped), then while the output flows (dropped
/// whenever the output is slower than the short deadline, which is not asserted). Each
/// session's whole output still arrives, in order.
async fn dropped_group_expects_lose_no_output() {
    let n = 5000;
    let mut group = AsyncGroup::new();
    group.set_timeout(Some(LONG));
    let ids: Vec<SessionId> = (0..4)
        .map(|i| {
            let s = spawn(Command::shell(format!("read x; seq 1 {n}")).echo(false));
            group.add_named(format!("seq-{i}"), s)
        })
        .collect();
    let mut dropped = 0;
    for _ in 0..3 {
        let idle =
            tokio::time::timeout(Duration::from_micros(300), group.expect_any(Pattern::eof()))
                .await;
        assert!(idle.is_err(), "a program printed before its input");
        dropped += 1;
    }
    for &id in &ids {
        group[id].send_line("go").await.unwrap();
    }
    let expected: Vec<u8> = (1..=n)
        .flat_map(|i| format!("{i}\r\n").into_bytes())
        .collect();
    let mut pending = ids.clone();
    // A lost wakeup must fail the test, not hang it.
    let give_up = std::time::Instant::now() + common::LONG;
    while !pending.is_empty() {
        assert!(
            std::time::Instant::now() < give_up,
            "no end of output after {dropped} dropped expects"
        );
        let call = group.expect([(Target::Sessions(pending.clone()), Pattern::eof())]);
        let Ok(hit) = tokio::time::timeout(Duration::from_micros(300), call).await else {
            dropped += 1;
            continue;
        };
        let hit = hit.unwrap();
        assert!(hit.is_eof());
        assert_eq!(
            hit.before(),
            expected,
            "{} after {dropped} dropped expects",
            group.name(hit.id()).unwrap()
        );
        pending.retain(|&id| id != hit.id());
    }
    for id in ids {
        assert!(group[id].wait().await.unwrap().success());
    }
}

#[tokio::test(flavor = "current_thread")]
async fn dropped_group_expects_lose_no_output_on_a_current_thread_runtime() {
    dropped_group_expects_lose_no_output().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_group_expects_lose_no_output_on_a_multi_thread_runtime() {
    dropped_group_expects_lose_no_output().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_group_expect_leaves_its_output_for_the_next() {
    let mut group = AsyncGroup::new();
    group.set_timeout(Some(LONG));
    let a = group.add_named("a", sh("echo one; read x; echo two-$x"));
    let b = group.add_named("b", sh("read x; echo three-$x"));
    // `one` is read by the dropped call (it waits for `two`, which cannot come).
    let lost = tokio::time::timeout(Duration::from_millis(300), group.expect_any("two")).await;
    assert!(lost.is_err(), "`two` cannot come before we send");
    let hit = group.expect_any("one\r\n").await.unwrap();
    assert_eq!((hit.id(), hit.before()), (a, &b""[..]));
    // select! between a group call and something else; the group call loses, then wins.
    tokio::select! {
        _ = group.expect_any("three") => panic!("`three` cannot come before we send"),
        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
    }
    group[b].send_line("x").await.unwrap();
    let hit = group.expect_any("three-x").await.unwrap();
    assert_eq!(hit.id(), b);
}

/// A session's own calls wait with other wakers; the group must still hear it after.
async fn sessions_used_on_their_own_between_group_calls() {
    let (mut group, ids) = group_of(3);
    let idle = group
        .expect_timeout([(Target::All, "x")], Some(Duration::from_millis(50)))
        .await
        .unwrap_err();
    assert!(idle.is_timeout());
    for round in 0..3 {
        let own = format!("own-{round}");
        group[ids[1]].send_line(&own).await.unwrap();
        group[ids[1]].expect(own.as_str()).await.unwrap();
        // Now a line for the group, from that same session.
        group[ids[1]].send_line("group").await.unwrap();
        let hit = group.expect_any("group").await.unwrap();
        assert_eq!(hit.id(), ids[1]);
    }
    // A session removed and another added in its place.
    let old = group.remove(ids[0]).unwrap();
    let new = group.add_named("new", cat());
    assert_eq!(group.get(ids[0]).map(|_| ()), None);
    group[new].send_line("fresh").await.unwrap();
    assert_eq!(group.expect_any("fresh").await.unwrap().id(), new);
    let mut old = old;
    old.send_eof().await.unwrap();
    old.expect(Pattern::eof()).await.unwrap();
    close_all(&mut group).await;
}

#[tokio::test(flavor = "current_thread")]
async fn sessions_used_on_their_own_between_group_calls_on_a_current_thread_runtime() {
    sessions_used_on_their_own_between_group_calls().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_used_on_their_own_between_group_calls_on_a_multi_thread_runtime() {
    sessions_used_on_their_own_between_group_calls().await;
}

/// Output that arrives, untouched by us, on a session the group watched before but the
/// current call does not name: a later call naming it finds it.
async fn output_of_a_session_not_named_is_found_later() {
    let dir = std::env::temp_dir().join(format!("ptychat-agroup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join(format!("fifo-{:?}", std::thread::current().id()).replace(['(', ')'], ""));
    let _ = std::fs::remove_file(&fifo);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let (mut group, ids) = group_of(1);
    let pinger = ids[0];
    // It prints what comes through the fifo: output we cause without touching the session.
    let fed = group.add_named("fed", sh(&format!("cat '{}'; read x", fifo.display())));
    // Every session watched, nothing there: both wait with the group's wakers.
    let idle = group
        .expect_timeout([(Target::All, "x")], Some(Duration::from_millis(50)))
        .await
        .unwrap_err();
    assert!(idle.is_timeout());
    std::fs::write(&fifo, "late\n").unwrap();
    // Wait until `fed`'s line is in its terminal, without reading it.
    {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let master = group[fed].transport().master();
        let mut fds = [PollFd::new(master, PollFlags::POLLIN)];
        let n = poll(
            &mut fds,
            PollTimeout::try_from(LONG.as_millis() as i32).unwrap(),
        )
        .unwrap();
        assert_eq!(n, 1, "`fed` never printed");
    }
    // A call that does not name `fed` (its wake, if it comes now, is not for this call).
    group[pinger].send_line("ping").await.unwrap();
    assert_eq!(group.expect([(pinger, "ping")]).await.unwrap().id(), pinger);
    let hit = group.expect([(fed, "late")]).await.unwrap();
    assert_eq!(hit.id(), fed);
    std::fs::remove_file(&fifo).unwrap();
    let _ = std::fs::remove_dir(&dir);
}

#[tokio::test(flavor = "current_thread")]
async fn output_of_a_session_not_named_is_found_later_on_a_current_thread_runtime() {
    output_of_a_session_not_named_is_found_later().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_of_a_session_not_named_is_found_later_on_a_multi_thread_runtime() {
    output_of_a_session_not_named_is_found_later().await;
}

#[tokio::test(flavor = "current_thread")]
async fn bad_calls_are_errors() {
    let (mut group, ids) = group_of(2);
    let gone = ids[0];
    group.remove(gone).unwrap();
    let err = group.expect([(gone, "x")]).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let err = group
        .expect([(ids[1], Vec::<Pattern>::new())])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`cat-1` has no pattern"), "{err}");
    let err = group
        .expect([(Target::Sessions(vec![]), "x")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no session left"), "{err}");
    let mut empty: AsyncGroup<Pty> = AsyncGroup::new();
    let err = empty.expect_any("x").await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    close_all(&mut group).await;
}

/// Raises this process's soft limit of open files to the hard one: 250 sessions hold a
/// pty, a pidfd and a registered duplicate each.
fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    }
}

/// A line to each of 250 shells, then one group call per answer: each answer names the
/// session it came from. (The shells stay until a second line: a call naming a session
/// whose output ended fails, as a `Group`'s does.)
async fn round_trip_through_many_sessions() {
    raise_open_file_limit();
    let n = 250;
    let mut group = AsyncGroup::new();
    group.set_timeout(Some(LONG));
    let ids: Vec<SessionId> = (0..n)
        .map(|_| {
            group.add(spawn(
                Command::shell("read x; echo got-$x; read x").echo(false),
            ))
        })
        .collect();
    for (i, &id) in ids.iter().enumerate() {
        group[id].send_line(i.to_string()).await.unwrap();
    }
    let answer = Pattern::regex(r"got-(\d+)\r\n").unwrap();
    let mut seen = vec![false; n];
    for _ in 0..n {
        let hit = group.expect_any(&answer).await.unwrap();
        let i: usize = hit.group_str(1).unwrap().parse().unwrap();
        assert_eq!(hit.id(), ids[i]);
        assert!(!std::mem::replace(&mut seen[i], true), "{i} answered twice");
    }
    for id in ids {
        let mut s = group.remove(id).unwrap();
        s.send_line("bye").await.unwrap();
        s.expect(Pattern::eof()).await.unwrap();
        assert!(s.wait().await.unwrap().success());
    }
}

#[tokio::test(flavor = "current_thread")]
async fn round_trip_through_250_sessions_on_a_current_thread_runtime() {
    round_trip_through_many_sessions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_through_250_sessions_on_a_multi_thread_runtime() {
    round_trip_through_many_sessions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_call_can_be_spawned() {
    let (mut group, ids) = group_of(2);
    group[ids[1]].send_line("spawned").await.unwrap();
    let task = tokio::spawn(async move {
        let hit = group.expect_any("spawned").await.unwrap();
        (group, hit.id())
    });
    let (mut group, id) = task.await.unwrap();
    assert_eq!(id, ids[1]);
    close_all(&mut group).await;
}
