//! REPL sessions on real bash, dash, python3 and sqlite3: output without echo and prompt,
//! exit statuses, multi-line commands, recovery after a timeout, the REPL's exit.

mod common;

use std::time::Duration;

use common::LONG;
use ptychat::{Command, Error, Repl, ReplKind};

/// A deadline that `sleep 1000` always overruns, however fast the machine.
const SHORT: Duration = Duration::from_millis(200);

fn bash() -> Repl {
    Repl::spawn(
        Command::new("bash")
            .args(["--norc", "--noprofile", "--noediting"])
            .env("TERM", "dumb")
            .timeout(Some(LONG)),
        ReplKind::bash(),
    )
    .unwrap_or_else(|e| panic!("starting bash: {e}"))
}

fn dash() -> Repl {
    Repl::spawn(
        Command::new("dash").env("TERM", "dumb").timeout(Some(LONG)),
        ReplKind::sh(),
    )
    .unwrap_or_else(|e| panic!("starting dash: {e}"))
}

fn python() -> Repl {
    Repl::spawn(
        Command::new("python3")
            .arg("-q")
            .env("TERM", "dumb")
            .env("PYTHON_BASIC_REPL", "1")
            .env_remove("PYTHONSTARTUP")
            .timeout(Some(LONG)),
        ReplKind::python(),
    )
    .unwrap_or_else(|e| panic!("starting python3: {e}"))
}

fn sqlite() -> Repl {
    Repl::spawn(
        Command::new("sqlite3")
            .env("TERM", "dumb")
            .timeout(Some(LONG)),
        ReplKind::custom(".prompt '{prompt}' '{continuation}'").no_op("-- nothing"),
    )
    .unwrap_or_else(|e| panic!("starting sqlite3: {e}"))
}

fn shells() -> [(&'static str, Repl); 2] {
    [("bash", bash()), ("dash", dash())]
}

fn run(repl: &mut Repl, command: &str) -> String {
    repl.run(command)
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"))
        .text()
}

#[test]
fn shell_output_has_no_echo_and_no_prompt() {
    for (name, mut sh) in shells() {
        let out = sh.run("echo hello").unwrap();
        assert_eq!(out.bytes(), b"hello\r\n", "{name}");
        assert_eq!(out.text(), "hello\n", "{name}");
        assert_eq!(run(&mut sh, "true"), "", "{name}");
        assert_eq!(run(&mut sh, ""), "", "{name}");
        assert_eq!(run(&mut sh, "echo a; echo b >&2"), "a\nb\n", "{name}");
    }
}

#[test]
fn output_that_looks_like_a_prompt() {
    for (name, mut sh) in shells() {
        // The prompt's fixed part, a prompt of another nonce, the unexpanded setting.
        let text = "[ptychat-0123456789abcdef:0]$ >>> $ # [ptychat-";
        assert_eq!(
            run(&mut sh, &format!("echo '{text}'")),
            format!("{text}\n"),
            "{name}"
        );
        let ps1 = run(&mut sh, "echo \"$PS1\"");
        assert!(ps1.starts_with("[ptychat-"), "{name}: {ps1}");
        assert!(ps1.ends_with(":$?]$ \n"), "{name}: {ps1}");
    }
    let mut py = python();
    assert_eq!(
        run(&mut py, "print('>>> ... [ptychat-x]>>> ')"),
        ">>> ... [ptychat-x]>>> \n"
    );
}

#[test]
fn output_without_a_final_newline() {
    for (name, mut sh) in shells() {
        assert_eq!(run(&mut sh, "printf x"), "x", "{name}");
        assert_eq!(run(&mut sh, "printf 'a\\nb'"), "a\nb", "{name}");
        assert_eq!(run(&mut sh, "echo next"), "next\n", "{name}");
    }
    let mut py = python();
    assert_eq!(run(&mut py, "import sys; sys.stdout.write('x')"), "x1\n");
}

#[test]
fn large_output() {
    for (name, mut sh) in shells() {
        let out = sh.run("seq 100000").unwrap();
        assert_eq!(out.discarded(), 0);
        let text = out.text();
        let expected: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
        assert!(
            text == expected,
            "{name}: {} bytes, not {}",
            text.len(),
            expected.len()
        );
        assert_eq!(out.status(), Some(0));
        assert_eq!(run(&mut sh, "echo after"), "after\n", "{name}");
    }
}

#[test]
fn multi_line_commands() {
    for (name, mut sh) in shells() {
        let out = sh.run("for i in 1 2 3\ndo\n  echo \"i=$i\"\ndone").unwrap();
        assert_eq!(out.text(), "i=1\ni=2\ni=3\n", "{name}");
        assert_eq!(out.status(), Some(0), "{name}");
        // Two commands: the output of both, the status of the last.
        let out = sh.run("echo one\nfalse\n").unwrap();
        assert_eq!(out.text(), "one\n", "{name}");
        assert_eq!(out.status(), Some(1), "{name}");
        assert_eq!(
            run(&mut sh, "cat <<EOF\nhere\ndoc\nEOF"),
            "here\ndoc\n",
            "{name}"
        );
    }
    let mut py = python();
    assert_eq!(
        run(&mut py, "def f(x):\n    y = x * 2\n    return y + 1"),
        ""
    );
    assert_eq!(run(&mut py, "f(20)"), "41\n");
    assert_eq!(
        run(&mut py, "for i in range(3):\n    print(i)\n\n"),
        "0\n1\n2\n"
    );
    assert_eq!(run(&mut py, "(1 +\n 2)"), "3\n");
}

#[test]
fn an_incomplete_command_is_interrupted() {
    for (name, mut sh) in shells() {
        let err = sh.run("echo 'unclosed").unwrap_err();
        assert!(
            err.to_string().contains("the command is incomplete"),
            "{name}: {err}"
        );
        assert!(sh.is_in_sync(), "{name}");
        assert_eq!(run(&mut sh, "echo fine"), "fine\n", "{name}");
    }
}

#[test]
fn exit_status() {
    for (name, mut sh) in shells() {
        assert_eq!(sh.last_status(), None, "{name}");
        assert_eq!(sh.run("true").unwrap().status(), Some(0), "{name}");
        assert_eq!(sh.run("false").unwrap().status(), Some(1), "{name}");
        assert_eq!(sh.last_status(), Some(1), "{name}");
        assert_eq!(sh.run("(exit 3)").unwrap().status(), Some(3), "{name}");
        assert_eq!(
            sh.run("sh -c 'exit 255'").unwrap().status(),
            Some(255),
            "{name}"
        );
        assert_eq!(
            sh.run("no-such-command-here 2>/dev/null").unwrap().status(),
            Some(127)
        );
        assert_eq!(sh.last_status(), Some(127), "{name}");
    }
    let mut py = python();
    assert_eq!(py.run("1").unwrap().status(), None);
    assert_eq!(py.last_status(), None);
}

#[test]
fn overrun_interrupt_and_still_usable() {
    for (name, mut sh) in shells() {
        let err = sh
            .run_timeout("echo started; sleep 1000", Some(SHORT))
            .unwrap_err();
        assert!(err.is_timeout(), "{name}: {err}");
        let Error::ReplCommand {
            command,
            output,
            recovery,
            source,
        } = &err
        else {
            panic!("{name}: {err}")
        };
        assert_eq!(command, "echo started; sleep 1000");
        // Whatever had arrived when the deadline passed: on a slow machine, maybe not all.
        assert!(b"started\r\n".starts_with(output), "{name}: {output:?}");
        assert!(recovery.contains("interrupted"), "{name}: {recovery}");
        let message = err.to_string();
        assert!(
            message.starts_with("REPL command \"echo started; sleep 1000\": timed out after"),
            "{name}: {message}"
        );
        // The timeout's tail is the output at the deadline; the error's output may have
        // more, read just before the interrupt.
        let Error::Timeout { tail, .. } = &**source else {
            panic!("{name}: {source}")
        };
        assert!(
            ptychat::escape(output).starts_with(tail.as_str()),
            "{name}: {message}"
        );
        assert!(
            message.contains(&format!("ending with: \"{tail}\"")),
            "{name}: {message}"
        );
        assert!(sh.is_in_sync(), "{name}");
        // Interrupted while running: 130. (On a slow machine the Ctrl-C may come before
        // the shell read the line, which the terminal then discards; dash leaves `$?`
        // alone at an idle prompt.)
        if output.as_slice() == b"started\r\n" {
            assert_eq!(sh.last_status(), Some(130), "{name}");
        }
        assert_eq!(run(&mut sh, "echo ok"), "ok\n", "{name}");
        assert_eq!(sh.run("true").unwrap().status(), Some(0), "{name}");

        // Twice in a row, and within a multi-line command.
        let err = sh
            .run_timeout("for i in 1\ndo sleep 1000\ndone", Some(SHORT))
            .unwrap_err();
        assert!(err.is_timeout(), "{name}: {err}");
        assert_eq!(run(&mut sh, "echo again"), "again\n", "{name}");
    }

    let mut py = python();
    let err = py
        .run_timeout("print('busy', flush=True)\nwhile True: pass", Some(SHORT))
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let Error::ReplCommand { output, .. } = &err else {
        panic!("{err}")
    };
    assert!(b"busy\r\n".starts_with(output), "{output:?}");
    assert_eq!(run(&mut py, "'ok'"), "'ok'\n");
}

#[test]
fn python_exception_text() {
    let mut py = python();
    let text = run(&mut py, "1 / 0");
    assert!(
        text.starts_with("Traceback (most recent call last):\n"),
        "{text}"
    );
    assert!(
        text.ends_with("ZeroDivisionError: division by zero\n"),
        "{text}"
    );
    let text = run(
        &mut py,
        "def g():\n    raise ValueError('bad value')\n\ng()",
    );
    assert!(text.ends_with("ValueError: bad value\n"), "{text}");
    let text = run(&mut py, "x = )");
    assert!(text.contains("SyntaxError"), "{text}");
    assert_eq!(run(&mut py, "print('still here')"), "still here\n");
}

#[test]
fn the_repl_exiting_is_a_clear_error() {
    for (name, mut sh) in shells() {
        run(&mut sh, "echo before");
        let err = sh.run("exit 3").unwrap_err();
        assert!(err.is_eof(), "{name}: {err}");
        let message = err.to_string();
        assert!(
            message.starts_with("REPL command \"exit 3\": end of output"),
            "{name}: {message}"
        );
        assert!(message.contains("the REPL has ended"), "{name}: {message}");
        // Later commands fail too, naming themselves.
        let err = sh.run("echo after").unwrap_err();
        assert!(
            err.to_string().starts_with("REPL command \"echo after\""),
            "{err}"
        );
        let mut session = sh.into_session();
        assert_eq!(session.wait().unwrap().code(), Some(3), "{name}");
    }
    let mut py = python();
    let err = py.run("raise SystemExit(4)").unwrap_err();
    assert!(err.is_eof(), "{err}");
    assert!(
        err.to_string()
            .starts_with("REPL command \"raise SystemExit(4)\"")
    );
    assert_eq!(py.into_session().wait().unwrap().code(), Some(4));
}

#[test]
fn any_repl_by_its_prompt_change_command() {
    let mut db = sqlite();
    assert_eq!(run(&mut db, "select 6 * 7;"), "42\n");
    run(&mut db, "create table t(x);");
    assert_eq!(
        run(
            &mut db,
            "insert into t values (1), (2);\nselect sum(x)\nfrom t;"
        ),
        "3\n"
    );
    let out = run(&mut db, "select 'sqlite> ' || '...> ';");
    assert_eq!(out, "sqlite> ...> \n");
    let err = run(&mut db, "select nope;");
    assert!(err.contains("no such column: nope"), "{err}");
    // Overrun: a query that runs until interrupted.
    let forever = "with recursive c(x) as (select 1 union all select x + 1 from c) \
                   select count(*) from c;";
    let err = db.run_timeout(forever, Some(SHORT)).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(run(&mut db, "select 'ok';"), "ok\n");
    // Ctrl-C at its idle prompt brings no new prompt in sqlite3: the prompt change does.
    db.interrupt().unwrap();
    assert_eq!(run(&mut db, "select 'ok';"), "ok\n");
    // A REPL that never shows the new prompt: the set-up fails, naming its line.
    let session = Command::new("sleep")
        .arg("1000")
        .echo(false)
        .timeout(Some(SHORT))
        .spawn()
        .unwrap();
    let err = Repl::from_session(session, ReplKind::custom("prompt {prompt}")).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(
        err.to_string().starts_with("REPL command \"prompt [pc"),
        "{err}"
    );
    assert!(err.to_string().contains("could not be set up"), "{err}");
    // A prompt-change command without a place for the prompt.
    let session = Command::new("sqlite3").timeout(Some(LONG)).spawn().unwrap();
    let err = Repl::from_session(session, ReplKind::custom(".prompt x")).unwrap_err();
    assert!(err.to_string().contains("{prompt}"), "{err}");
}

#[test]
fn a_session_that_echoes_is_stripped() {
    // A shell whose terminal keeps echoing (`stty` is made to fail): the echo of each
    // line is found at set-up and removed.
    let session = Command::new("/bin/bash")
        .args(["--norc", "--noprofile", "--noediting"])
        .env("TERM", "dumb")
        .env("PATH", "/nonexistent")
        .timeout(Some(LONG))
        .spawn()
        .unwrap();
    let mut sh = Repl::from_session(session, ReplKind::bash()).unwrap();
    assert!(sh.session().echo().unwrap());
    assert_eq!(run(&mut sh, "echo hello"), "hello\n");
    assert_eq!(run(&mut sh, "for i in 1 2\ndo echo $i\ndone"), "1\n2\n");
    assert_eq!(run(&mut sh, "printf x"), "x");
    assert_eq!(run(&mut sh, ""), "");
}

#[test]
fn from_a_logged_in_session() {
    // As after a login: a banner, the user's own prompt, some unread output.
    let session = Command::new("bash")
        .args(["--norc", "--noprofile"])
        .env("TERM", "dumb")
        .env("PS1", "user@host:~$ ")
        .env("PROMPT_COMMAND", "echo prompting")
        .timeout(Some(LONG))
        .spawn()
        .unwrap();
    let mut sh = Repl::from_session(session, ReplKind::bash()).unwrap();
    assert_eq!(run(&mut sh, "echo hi"), "hi\n");
    assert_eq!(sh.run("(exit 5)").unwrap().status(), Some(5));
}

#[test]
fn interrupting_a_command_that_reads_input() {
    // The recovery's prompt change must reach the REPL, not the interrupted command.
    for (name, mut sh) in shells() {
        let err = sh.run_timeout("read line", Some(SHORT)).unwrap_err();
        assert!(err.is_timeout(), "{name}: {err}");
        assert_eq!(run(&mut sh, "echo ok"), "ok\n", "{name}");
        sh.session_mut().send_line("cat").unwrap();
        sh.interrupt().unwrap();
        assert_eq!(run(&mut sh, "echo ok"), "ok\n", "{name}");
    }
    let mut py = python();
    let err = py.run_timeout("x = input()", Some(SHORT)).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(run(&mut py, "'ok'"), "'ok'\n");
    py.interrupt().unwrap();
    assert_eq!(run(&mut py, "'ok'"), "'ok'\n");
}

#[test]
fn python_on_a_terminal_that_echoes() {
    // Python's line editor echoes as the terminal says: on here until the set-up turns
    // it off.
    let session = Command::new("python3")
        .arg("-q")
        .env("TERM", "dumb")
        .env("PYTHON_BASIC_REPL", "1")
        .env_remove("PYTHONSTARTUP")
        .timeout(Some(LONG))
        .spawn()
        .unwrap();
    assert!(session.echo().unwrap());
    let mut py = Repl::from_session(session, ReplKind::python()).unwrap();
    assert!(!py.session().echo().unwrap());
    assert_eq!(run(&mut py, "print('hi')"), "hi\n");
    assert_eq!(run(&mut py, "'pass'"), "'pass'\n");
    assert_eq!(run(&mut py, "for c in 'ab':\n    print(c)"), "a\nb\n");
}

#[test]
fn lines_longer_than_the_terminal_is_wide() {
    let words: Vec<String> = (0..60).map(|i| format!("w{i}")).collect();
    let words = words.join(" ");
    for (name, mut sh) in shells() {
        assert_eq!(
            run(&mut sh, &format!("echo {words}")),
            format!("{words}\n"),
            "{name}"
        );
    }
    let mut py = python();
    assert_eq!(
        run(&mut py, &format!("print('{words}')")),
        format!("{words}\n")
    );
    let session = Command::new("python3")
        .arg("-q")
        .env("TERM", "dumb")
        .env("PYTHON_BASIC_REPL", "1")
        .env_remove("PYTHONSTARTUP")
        .timeout(Some(LONG))
        .spawn()
        .unwrap();
    let mut echoing = Repl::from_session(session, ReplKind::python()).unwrap();
    assert_eq!(
        run(&mut echoing, &format!("print('{words}')")),
        format!("{words}\n")
    );
}
