//! Many sessions at once: one expect over bc, python3, cat and friends, group background
//! patterns, action loops over a group with sessions joining and leaving.

mod common;

use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{LONG, spawn};
use ptychat::{
    ChildTransport, Command, Error, Group, GroupActions, Pattern, Restart, Session, StderrMode,
    Step, Target, Transport,
};

fn bc() -> ptychat::PtySession {
    spawn(Command::new("bc").arg("-q").env("TERM", "dumb"))
}

fn python_repl() -> ptychat::PtySession {
    let mut repl = Command::new("python3");
    repl.args(["-q", "-i"])
        .env("TERM", "dumb")
        .env("PYTHON_BASIC_REPL", "1")
        .timeout(Some(LONG));
    spawn(&mut repl)
}

/// An answer on a line of its own.
fn answer() -> Pattern {
    Pattern::regex(r"(?m)^(\d+)\r$").unwrap()
}

#[test]
fn the_session_that_answers_first_is_matched_first_whatever_its_place() {
    let mut group: Group = Group::new();
    group.set_timeout(Some(LONG));
    let bc = group.add_named("bc", bc().boxed());
    let py = group.add_named("python", python_repl().boxed());
    let cat = group.add_named("cat", spawn(&mut Command::new("cat")).boxed());
    group.expect([(py, ">>> ")]).unwrap();

    // Only cat, listed last, has anything to say.
    group[cat].send_line("meow").unwrap();
    let waits = |answer: &Pattern| {
        [
            (bc, vec![answer.clone()]),
            (py, vec![answer.clone()]),
            (cat, vec![Pattern::exact("meow\r\nmeow\r\n")]),
        ]
    };
    let hit = group.expect(waits(&answer())).unwrap();
    assert_eq!(group.name(hit.id()), Some("cat"));

    // Then python, listed second: it answers first.
    group[py].send_line("6 * 8").unwrap();
    let hit = group.expect(waits(&answer())).unwrap();
    assert_eq!(hit.id(), py);
    assert_eq!(hit.group_str(1).unwrap(), "48");

    // Then bc, asked second, is matched second.
    group[bc].send_line("6 * 7").unwrap();
    let hit = group.expect(waits(&answer())).unwrap();
    assert_eq!(hit.id(), bc);
    assert_eq!(hit.group_str(1).unwrap(), "42");
    assert_eq!(hit.index(), 0);
}

#[test]
fn when_several_have_answered_the_first_named_wins_and_the_rest_stay_buffered() {
    let mut group = Group::new();
    let a = group.add(spawn(&mut Command::new("cat")));
    let b = group.add(spawn(&mut Command::new("cat")));
    for id in [a, b] {
        group[id].send_line("hi").unwrap();
    }
    // Both have answered before the calls.
    for id in [a, b] {
        common::wait_until_buffered(&mut group[id], |b| b.ends_with(b"hi\r\nhi\r\n"));
    }
    let first = group.expect([(b, "hi\r\nhi"), (a, "hi\r\nhi")]).unwrap();
    assert_eq!(first.id(), b);
    let second = group.expect([(b, "hi\r\nhi"), (a, "hi\r\nhi")]).unwrap();
    assert_eq!(second.id(), a);
}

#[test]
fn sessions_of_every_transport_share_a_group() {
    let mut group: Group<Box<dyn Transport + Send>> = Group::new();
    group.set_timeout(Some(LONG));
    let pty = group.add_named("pty", spawn(&mut Command::new("cat")).boxed());
    let pipes = group.add_named(
        "pipes",
        Command::new("cat")
            .spawn_piped(StderrMode::Null)
            .unwrap()
            .boxed(),
    );
    let (ours, theirs) = UnixStream::pair().unwrap();
    let stream = group.add_named("stream", Session::from_stream(ours).unwrap().boxed());
    group[pty].send_line("over the pty").unwrap();
    group[pipes].send_line("over the pipes").unwrap();
    std::io::Write::write_all(&mut &theirs, b"over the socket\n").unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let hit = group
            .expect([
                (pty, "over the pty\r\nover the pty\r\n"),
                (pipes, "over the pipes\n"),
                (stream, "over the socket\n"),
            ])
            .unwrap();
        seen.push(group.name(hit.id()).unwrap().to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["pipes", "pty", "stream"]);
}

#[test]
fn a_group_timeout_names_every_session_its_patterns_and_tail() {
    let mut group = Group::new();
    let a = group.add_named(
        "first",
        spawn(Command::new("sh").args(["-c", "echo partial; sleep 30"])),
    );
    let b = group.add_named("second", spawn(&mut Command::new("cat")));
    common::wait_until_buffered(&mut group[a], |b| b.ends_with(b"partial\r\n"));
    let err = group
        .expect_timeout(
            [(a, "complete"), (b, "never")],
            Some(Duration::from_millis(100)),
        )
        .unwrap_err();
    assert!(err.is_timeout());
    let text = err.to_string();
    assert!(text.starts_with("timed out after"), "{text}");
    assert!(
        text.contains(
            r#"waiting on 2 sessions: `first` for "complete" (9 unmatched bytes, ending with: "partial\r\n"); `second` for "never" (0 unmatched bytes"#
        ),
        "{text}"
    );
}

#[test]
fn a_timeout_pattern_belongs_to_the_first_session_that_has_one() {
    let mut group = Group::new();
    let a = group.add(spawn(&mut Command::new("cat")));
    let b = group.add(spawn(&mut Command::new("cat")));
    let hit = group
        .expect_timeout(
            [
                (a, vec![Pattern::exact("never")]),
                (b, vec![Pattern::exact("never"), Pattern::timeout()]),
            ],
            Some(Duration::from_millis(50)),
        )
        .unwrap();
    assert_eq!(hit.id(), b);
    assert_eq!(hit.index(), 1);
    assert!(hit.is_timeout());
}

#[test]
fn the_end_of_one_sessions_output_ends_the_call_naming_it_unless_it_has_an_eof_pattern() {
    let mut group = Group::new();
    let quitter = group.add_named(
        "quitter",
        spawn(Command::new("sh").args(["-c", "echo bye"])),
    );
    let cat = group.add_named("cat", spawn(&mut Command::new("cat")));
    let err = group
        .expect([(quitter, "never"), (cat, "never")])
        .unwrap_err();
    assert!(err.is_eof(), "{err}");
    assert!(
        err.to_string()
            .starts_with("session `quitter`: end of output"),
        "{err}"
    );

    let mut group = Group::new();
    let quitter = group.add(spawn(Command::new("sh").args(["-c", "echo bye"])));
    let cat = group.add(spawn(&mut Command::new("cat")));
    let hit = group
        .expect([
            (quitter, vec![Pattern::exact("never"), Pattern::eof()]),
            (cat, vec![Pattern::exact("never")]),
        ])
        .unwrap();
    assert_eq!(hit.id(), quitter);
    assert!(hit.is_eof());
    assert_eq!(hit.before(), b"bye\r\n");
}

#[test]
fn group_background_patterns_catch_an_error_in_any_session() {
    let mut group = Group::new();
    group.set_timeout(Some(LONG));
    let worker = group.add_named(
        "worker",
        spawn(Command::new("sh").args(["-c", "read x; echo 'FATAL: out of cheese'; sleep 30"])),
    );
    let idle = group.add_named("idle", spawn(&mut Command::new("cat")));
    group.expect_before(Pattern::regex(r"FATAL: (.*)\r\n").unwrap());
    group[worker].send_line("go").unwrap();
    let err = group
        .expect([(worker, "done"), (idle, "done")])
        .unwrap_err();
    let Error::InSession { session, source } = &err else {
        panic!("{err}");
    };
    assert_eq!(session, "worker");
    let Error::Background { found, .. } = source.as_ref() else {
        panic!("{err}");
    };
    assert_eq!(found.group_str(1).unwrap(), "out of cheese");
    assert!(
        err.to_string()
            .starts_with(r#"session `worker`: background pattern /FATAL: (.*)\r\n/ (expect_before #0) matched: "FATAL: out of cheese\r\n""#),
        "{err}"
    );
}

#[test]
fn an_action_loop_over_a_group_with_sessions_joining_and_leaving() {
    let mut group = Group::new();
    group.set_timeout(Some(LONG));
    let first = group.add(spawn(&mut Command::new("cat")));
    group[first].send_line("ping-0").unwrap();
    let mut pongs = Vec::new();
    let finished = GroupActions::new()
        .on(
            Target::All,
            Pattern::regex(r"ping-(\d+)\r\nping-\d+\r\n").unwrap(),
            |group, id, m| {
                let n: usize = m.group_str(1).unwrap().parse().unwrap();
                pongs.push(n);
                // The session that answered leaves; a new one joins and is pinged.
                drop(group.remove(id));
                if n == 4 {
                    return Ok(Step::Done(group.len()));
                }
                let next = group.add(Command::new("cat").timeout(Some(LONG)).spawn()?);
                group[next].send_line(format!("ping-{}", n + 1))?;
                Ok(Step::Continue)
            },
        )
        .run(&mut group)
        .unwrap();
    assert_eq!(pongs, [0, 1, 2, 3, 4]);
    assert_eq!(finished, 0);
}

#[test]
fn an_action_can_talk_to_another_session_and_the_loop_sees_what_it_left() {
    // A program talking to two others: what bc says goes to python and back.
    let mut group: Group = Group::new();
    group.set_timeout(Some(LONG));
    let bc = group.add_named("bc", bc().boxed());
    let py = group.add_named("python", python_repl().boxed());
    group.expect([(py, ">>> ")]).unwrap();
    group[bc].send_line("2 + 3").unwrap();
    let result = GroupActions::new()
        .on(bc, answer(), |group, _, m| {
            let n = m.group_str(1).unwrap().into_owned();
            // The action's own expect on python may leave more output buffered there
            // (the next prompt): the loop must find it without new data arriving.
            group[py].send_line(format!("print({n} * 100); print('done')"))?;
            group[py].expect("print(")?;
            Ok(Step::Continue)
        })
        .on(
            py,
            Pattern::regex(r"(?m)^(\d+)\r\ndone\r\n").unwrap(),
            |_, _, m| Ok(Step::Done(m.group_str(1).unwrap().into_owned())),
        )
        .run(&mut group)
        .unwrap();
    assert_eq!(result, "500");
}

#[test]
fn group_loop_deadline_modes() {
    // A session that prints a line every 150 ms for 3 s, then "end".
    let ticker = || {
        spawn(Command::new("sh").args([
            "-c",
            "i=0; while [ $i -lt 20 ]; do echo tick; sleep 0.15; i=$((i+1)); done; echo end",
        ]))
    };
    let run = |restart: Restart| {
        let mut group = Group::new();
        group.add(ticker());
        GroupActions::new()
            .on(Target::All, "end", |_, _, _| Ok(Step::Done(())))
            .timeout(Some(Duration::from_millis(1500)))
            .restart(restart)
            .run(&mut group)
    };
    // Output keeps coming: restarting on data never times out.
    run(Restart::OnData).unwrap();
    // Nothing matches for 3 s: a deadline that restarts only on matches passes.
    let err = run(Restart::OnMatch).unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[test]
fn boxed_child_sessions_keep_process_control_in_a_group() {
    let mut group: Group<Box<dyn ChildTransport + Send>> = Group::new();
    let ok = group.add(
        Command::new("sh")
            .args(["-c", "exit 0"])
            .spawn()
            .unwrap()
            .boxed_child(),
    );
    let three = group.add(
        Command::new("sh")
            .args(["-c", "exit 3"])
            .spawn_piped(StderrMode::Null)
            .unwrap()
            .boxed_child(),
    );
    group[ok].expect_exit(0).unwrap();
    group[three].expect_exit(3).unwrap();
    assert!(group[three].pid() > 0);
}

#[test]
fn ids_of_removed_sessions_find_nothing() {
    let mut group = Group::new();
    let a = group.add(spawn(&mut Command::new("cat")));
    assert!(group.remove(a).is_some());
    let b = group.add(spawn(&mut Command::new("cat")));
    assert_ne!(a, b);
    assert!(group.get(a).is_none());
    assert!(group.remove(a).is_none());
    let err = group.expect([(a, "x")]).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let err = group.expect([(b, "x"), (b, "y")]).unwrap_err();
    assert!(err.to_string().contains("named twice"), "{err}");
}

#[test]
fn sessions_and_groups_can_move_to_another_thread() {
    fn assert_send<T: Send>(_: &T) {}
    let mut group = Group::new();
    let id = group.add(spawn(&mut Command::new("cat")));
    assert_send(&group);
    let mut group = std::thread::spawn(move || {
        group[id].send_line("from a thread").unwrap();
        group
            .expect([(id, "from a thread\r\nfrom a thread\r\n")])
            .unwrap();
        group
    })
    .join()
    .unwrap();
    let session = group.remove(id).unwrap();
    assert_send(&session);
}

/// `n` sessions over socket pairs (no processes), with the other ends.
fn socket_sessions(group: &mut Group, n: usize) -> (Vec<ptychat::SessionId>, Vec<UnixStream>) {
    (0..n)
        .map(|_| {
            let (ours, theirs) = UnixStream::pair().unwrap();
            (
                group.add(Session::from_stream(ours).unwrap().boxed()),
                theirs,
            )
        })
        .unzip()
}

#[test]
fn one_expect_per_session_still_waited_on_over_hundreds_of_sessions() {
    // The way Tcl's `expect -i $pending` is used: each call names every session still
    // waited on, with its own pattern (a branch each). Every session has answered before
    // the first call, so each call matches the first session it names.
    let mut group = Group::new();
    group.set_timeout(Some(LONG));
    let (ids, peers) = socket_sessions(&mut group, 300);
    for (i, peer) in peers.iter().enumerate().rev() {
        std::io::Write::write_all(&mut &*peer, format!("ready-{i}\n").as_bytes()).unwrap();
    }
    let patterns: Vec<Pattern> = (0..ids.len())
        .map(|i| Pattern::exact(format!("ready-{i}\n")))
        .collect();
    let mut pending: Vec<(ptychat::SessionId, &Pattern)> =
        ids.iter().copied().zip(&patterns).collect();
    let mut order = Vec::new();
    while !pending.is_empty() {
        let hit = group.expect(pending.iter().copied()).unwrap();
        let at = pending.iter().position(|(id, _)| *id == hit.id()).unwrap();
        assert_eq!(hit.index(), 0);
        assert_eq!(
            hit.matched(),
            format!(
                "ready-{}\n",
                ids.iter().position(|id| *id == hit.id()).unwrap()
            )
            .as_bytes()
        );
        order.push(pending.remove(at).0);
    }
    assert_eq!(order, ids);
}

#[test]
fn a_session_named_by_several_branches_gets_their_patterns_in_branch_order() {
    // b and a are named by a list (b twice), then by `All`; c by `All` only. For the
    // same text, the first branch naming a session wins in it; sessions with a match
    // buffered are taken in the order the branches first name them: b, a, c.
    let mut group = Group::new();
    group.set_timeout(Some(LONG));
    let (ids, peers) = socket_sessions(&mut group, 3);
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    for peer in &peers {
        std::io::Write::write_all(&mut &*peer, b"x").unwrap();
    }
    let seen = std::cell::RefCell::new(Vec::new());
    let record = |branch: usize| {
        let seen = &seen;
        move |_: &mut Group, id, _: &ptychat::Match| {
            seen.borrow_mut().push((branch, id));
            Ok(if seen.borrow().len() == 3 {
                Step::Done(())
            } else {
                Step::Continue
            })
        }
    };
    GroupActions::new()
        .on(Target::Sessions(vec![b, a, b]), "x", record(0))
        .on(Target::All, "x", record(1))
        .run(&mut group)
        .unwrap();
    assert_eq!(seen.into_inner(), [(0, b), (0, a), (1, c)]);
}

/// An action that reads another session's output itself (its own `expect`) leaves the
/// rest in that session's buffer, with nothing more to come on its fd: the loop still
/// looks at that session again (it skips only sessions nothing could have changed).
#[test]
fn an_action_that_reads_another_session_makes_the_loop_look_at_it_again() {
    let mut group: Group = Group::new();
    group.set_timeout(Some(LONG));
    let a = group.add(common::sh("stty -echo; read line; echo a-mark; exec sleep 60").boxed());
    let b = group.add(
        common::sh("stty -echo; echo b-start; read line; echo 'z then y-mark'; exec sleep 60")
            .boxed(),
    );
    let order = std::cell::RefCell::new(Vec::new());
    GroupActions::new()
        .on(
            Target::Session(b),
            "b-start",
            |group: &mut Group, _, _: &ptychat::Match| {
                order.borrow_mut().push("b-start");
                group[a].send_line("go")?;
                Ok(Step::Continue)
            },
        )
        .on(
            Target::Session(a),
            "a-mark",
            |group: &mut Group, _, _: &ptychat::Match| {
                order.borrow_mut().push("a-mark");
                group[b].send_line("go")?;
                group[b].expect("z")?;
                Ok(Step::Continue)
            },
        )
        .on(
            Target::Session(b),
            "y-mark",
            |_: &mut Group, _, m: &ptychat::Match| {
                order.borrow_mut().push("y-mark");
                assert_eq!(m.before(), b" then ");
                Ok(Step::Done(()))
            },
        )
        .run(&mut group)
        .unwrap();
    let order = order.into_inner();
    assert_eq!(order, ["b-start", "a-mark", "y-mark"]);
}
