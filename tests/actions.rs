//! Action loops and background patterns on one session, against real programs.

mod common;

use std::time::Duration;

use common::{LONG, python, spawn};
use ptychat::{Actions, BackgroundList, Command, Error, Pattern, Restart, Step};

/// A program that asks between 1 and 9 questions (chosen at random), then says how many
/// it asked.
fn questioner() -> ptychat::PtySession {
    spawn(&mut python(
        "import random\n\
         n = random.randint(1, 9)\n\
         for i in range(n):\n    input(f'Question {i + 1}? ')\n\
         print(f'asked {n}')",
    ))
}

#[test]
fn a_loop_answers_a_random_number_of_questions() {
    let mut s = questioner();
    let mut answered = 0;
    let asked: usize = Actions::new()
        .on(Pattern::regex(r"Question \d+\? ").unwrap(), |s, _| {
            answered += 1;
            s.send_line("42")?;
            Ok(Step::Continue)
        })
        .on(Pattern::regex(r"asked (\d+)").unwrap(), |_, m| {
            Ok(Step::Done(m.group_str(1).unwrap().parse().unwrap()))
        })
        .run(&mut s)
        .unwrap();
    assert_eq!(answered, asked);
    assert!((1..=9).contains(&asked));
}

#[test]
fn a_background_pattern_fires_in_the_middle_of_a_loop() {
    let mut s = spawn(&mut python(
        "for i in range(3):\n    input(f'Question {i + 1}? ')\n\
         print('ERROR: the third answer was wrong')\n\
         input('Question 4? ')",
    ));
    s.expect_before(Pattern::regex(r"ERROR: (.*)\r\n").unwrap());
    let mut answered = 0;
    let err = Actions::new()
        .on(Pattern::regex(r"Question \d+\? ").unwrap(), |s, _| {
            answered += 1;
            s.send_line("yes")?;
            Ok(Step::Continue)
        })
        .on("Goodbye", |_, _| Ok(Step::Done(())))
        .run(&mut s)
        .unwrap_err();
    assert_eq!(answered, 3);
    let Error::Background {
        list, index, found, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((*list, *index), (BackgroundList::Before, 0));
    assert_eq!(found.group_str(1).unwrap(), "the third answer was wrong");
    // The program goes on; so can we.
    s.expect("Question 4? ").unwrap();
}

#[test]
fn restart_never_keeps_one_deadline_for_the_whole_loop() {
    // Five questions 300 ms apart: 1.5 s in all, never more than 0.3 s without a match.
    let program = || {
        spawn(Command::new("sh").args([
            "-c",
            "for i in 1 2 3 4 5; do sleep 0.3; printf 'Q%d? ' $i; read a; done; echo fin",
        ]))
    };
    let run = |restart: Restart| {
        Actions::new()
            .on(Pattern::regex(r"Q\d\? ").unwrap(), |s, _| {
                s.send_line("a")?;
                Ok(Step::Continue)
            })
            .on("fin", |_, _| Ok(Step::Done(())))
            .timeout(Some(Duration::from_millis(1000)))
            .restart(restart)
            .run(&mut program())
    };
    run(Restart::OnMatch).unwrap();
    let err = run(Restart::Never).unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[test]
fn restart_on_data_waits_through_steady_output() {
    let program = || {
        spawn(Command::new("sh").args([
            "-c",
            "i=0; while [ $i -lt 20 ]; do echo working; sleep 0.15; i=$((i+1)); done; echo fin",
        ]))
    };
    let run = |restart: Restart| {
        Actions::new()
            .on("fin", |_, _| Ok(Step::Done(())))
            .timeout(Some(Duration::from_millis(1500)))
            .restart(restart)
            .run(&mut program())
    };
    run(Restart::OnData).unwrap();
    let err = run(Restart::OnMatch).unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[test]
fn a_timeout_action_can_continue_and_the_deadline_starts_again() {
    let mut s = spawn(&mut Command::new("cat"));
    let mut nudges = 0;
    let done = Actions::new()
        .on(Pattern::timeout(), |s, _| {
            nudges += 1;
            if nudges == 3 {
                s.send_line("wake up")?;
            }
            Ok(Step::Continue)
        })
        .on("wake up\r\nwake up\r\n", |_, _| Ok(Step::Done("awake")))
        .timeout(Some(Duration::from_millis(30)))
        .restart(Restart::Never)
        .run(&mut s)
        .unwrap();
    assert_eq!(done, "awake");
    assert_eq!(nudges, 3);
}

#[test]
fn continuing_after_the_end_of_output_is_an_error_not_a_spin() {
    let mut s = spawn(Command::new("echo").arg("bye"));
    let err = Actions::<_, ()>::new()
        .on(Pattern::eof(), |_, _| Ok(Step::Continue))
        .run(&mut s)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(
        err.to_string().contains("after the end of the output"),
        "{err}"
    );
}

#[test]
fn an_action_error_ends_the_loop_with_it() {
    let mut s = spawn(Command::new("echo").arg("unexpected"));
    let err = Actions::<_, ()>::new()
        .on("unexpected", |_, m| {
            Err(Error::InvalidArgument(format!(
                "did not want {}",
                m.matched_str()
            )))
        })
        .run(&mut s)
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid argument: did not want unexpected");
}

#[test]
fn before_wins_a_tie_with_the_calls_pattern_and_after_loses_it() {
    let mut s = spawn(Command::new("echo").arg("alarm bells"));
    s.expect_before(Pattern::exact("alarm"));
    let err = s.expect("alarm bells").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Background {
                list: BackgroundList::Before,
                ..
            }
        ),
        "{err}"
    );

    let mut s = spawn(Command::new("echo").arg("alarm bells"));
    s.expect_after(Pattern::exact("alarm"));
    let m = s.expect("alarm bells").unwrap();
    assert_eq!(m.index(), 0);

    // An earlier match wins whatever its list.
    let mut s = spawn(Command::new("echo").arg("warning: then done"));
    s.expect_after(Pattern::exact("warning"));
    let err = s.expect("done").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Background {
                list: BackgroundList::After,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_after_eof_pattern_turns_an_unexpected_end_into_a_background_error() {
    let mut s = spawn(Command::new("echo").arg("bye"));
    s.expect_after(Pattern::eof());
    let err = s.expect("never").unwrap_err();
    let Error::Background { found, .. } = &err else {
        panic!("{err}");
    };
    assert!(found.is_eof());
    assert_eq!(found.before(), b"bye\r\n");
    assert!(
        err.to_string().ends_with("(the end of the output)"),
        "{err}"
    );
    // Clearing the lists restores the plain end-of-output error.
    let mut s = spawn(Command::new("echo").arg("bye"));
    s.expect_after(Pattern::eof());
    s.expect_after(Vec::<Pattern>::new());
    assert!(s.expect("never").unwrap_err().is_eof());
    let (before, after) = s.background();
    assert!(before.is_empty() && after.is_empty());
}

#[test]
fn background_patterns_do_not_watch_stderr() {
    let mut s = Command::shell("echo oops >&2; echo fine")
        .timeout(Some(LONG))
        .spawn_piped(ptychat::StderrMode::Separate)
        .unwrap();
    s.expect_before("oops");
    s.stderr().expect("oops\n").unwrap();
    s.expect("fine").unwrap();
}
