//! Scripts with several named programs at once (`spawn -n NAME`, `-i NAME`, `expect -i
//! a,b`, branches with `-i`, `use`, `abort_on -i`), run through the `ptychat` binary with
//! real programs. Which program answers first is decided by what the script sends, never
//! by timing; every deadline is far above what a run needs.
#![cfg(feature = "cli")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

use common::{assert_success, require, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_ptychat");

/// Runs `ptychat ARGS` in the crate's directory with empty standard input.
fn ptychat(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ptychat binary runs");
    child.stdin.take().unwrap().flush().unwrap();
    child.wait_with_output().unwrap()
}

/// Writes `source` to a new script file and returns its path.
fn script(source: &str) -> String {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let path: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("many-{}-{n}.ptychat", std::process::id()));
    std::fs::write(&path, source).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs a script given as text; returns the output and the script's path.
fn run_script(source: &str) -> (Output, String) {
    let path = script(source);
    (ptychat(&["run", &path]), path)
}

/// Two programs that each answer only when the script types to them: the one typed to
/// first is matched first, the other second, whatever order the expect names them in.
#[test]
fn the_program_that_answers_second_is_matched_second() {
    let (output, _) = run_script(concat!(
        "set timeout 30\n",
        "set echo off\n",
        "spawn -n a sh -c 'read x; echo \"a got $x\"; read y'\n",
        "spawn -n b sh -c 'read x; echo \"b got $x\"; read y'\n",
        "sendline -i b one\n",
        "expect -i a,b /(.) got (\\w+)\\r\\n/\n",
        "print \"first: $program ($1 got $2)\"\n",
        "sendline -i a two\n",
        "expect -i a,b /(.) got (\\w+)\\r\\n/\n",
        "print \"second: $program ($1 got $2)\"\n",
        "sendline -i a; sendline -i b\n",
        "assert_exit -i a 0; assert_exit -i b 0\n",
    ));
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        "first: b (b got one)\nsecond: a (a got two)\n"
    );
    assert_eq!(stderr(&output), "");
}

/// The example of docs/SCRIPTS.md: bc and python3 at once, each answer matched from
/// whichever program gives it.
#[test]
fn bc_and_python_answer_in_one_expect() {
    require("bc");
    require("python3");
    let (output, _) = run_script(concat!(
        "set env TERM dumb\n",
        "set env PYTHON_BASIC_REPL 1\n",
        "set echo off\n",
        "set timeout 30\n",
        "spawn -n bc bc -q\n",
        "spawn -n py python3 -q\n",
        "expect -i py \">>> \"\n",
        "sendline -i bc \"6 * 7\"\n",
        "expect {\n",
        "    -i bc /(\\d+)\\r\\n/   print \"bc: $1\"\n",
        "    -i py \"never\"      fail \"python spoke first\"\n",
        "}\n",
        "sendline -i py \"print(6 * 8)\"\n",
        "expect -i bc,py /(\\d+)\\r\\n/\n",
        "print \"$program: $1\"\n",
        "sendline -i bc quit\n",
        "sendline -i py \"exit(3)\"\n",
        "assert_exit -i bc 0\n",
        "assert_exit -i py 3\n",
        "print \"python's status: $status\"\n",
    ));
    assert_success(&output);
    assert_eq!(stdout(&output), "bc: 42\npy: 48\npython's status: 3\n");
}

/// The first script of the "Several programs" section of docs/SCRIPTS.md runs and prints
/// what the text after it shows (its last two lines in either order).
#[test]
fn the_several_programs_example_of_the_docs_runs() {
    require("bc");
    require("python3");
    let docs = include_str!("../docs/SCRIPTS.md");
    let section = &docs[docs.find("## Several programs").expect("the section")..];
    let start = section.find("```sh\n").expect("an example") + "```sh\n".len();
    let example = &section[start..];
    let example = &example[..example.find("```").expect("its end")];
    let (output, _) = run_script(example);
    assert_success(&output);
    let out = stdout(&output);
    let mut lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"python checked bc: True, 20 digits"),
        "{out}"
    );
    lines[1..].sort();
    assert_eq!(
        lines,
        [
            "python checked bc: True, 20 digits",
            "bc answered: 42",
            "py answered: 5050"
        ]
    );
    let shown = "$ ptychat run two.ptychat\npython checked bc: True, 20 digits\nbc answered: 42\n\
                 py answered: 5050\n";
    assert!(section.contains(shown), "the docs show another output");
}

/// An expect block whose branches name their programs runs the branch of the program that
/// matched; `continue` waits on all of them again; `use` changes the current program.
#[test]
fn an_expect_block_over_several_programs() {
    let (output, _) = run_script(concat!(
        "set timeout 30\n",
        "set echo off\n",
        "spawn -n left cat\n",
        "spawn -n right cat\n",
        "sendline -i left L1\n",
        "let seen 0\n",
        "expect {\n",
        "    -i left  /L(\\d)\\r\\n/   print \"left $1\"; sendline -i right R$1; continue\n",
        "    -i right /R(\\d)\\r\\n/   print \"right $1\"; sendline -i left done\n",
        "}\n",
        "expect -i left,right done\n",
        "print \"done came from $program\"\n",
        "use right\n",
        "sendline bye\n",
        "expect -i right,left bye\n",
        "print \"bye came from $program\"\n",
        "sendeof -i left; sendeof\n",
        "expect -i left eof; expect -i right eof\n",
    ));
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        "left 1\nright 1\ndone came from left\nbye came from right\n"
    );
}

/// `send -i NAME` goes to that program only; a spawn without a name is the program `main`,
/// which commands without `-i` address until another program is spawned.
#[test]
fn sends_go_to_the_named_program_and_main_is_the_unnamed_one() {
    let (output, path) = run_script(concat!(
        "set timeout 30\n",
        "set echo off\n",
        "spawn cat\n",
        "spawn -n other cat\n",
        "sendline -i main for-main\n",
        "sendline for-other\n",
        "sendline -i main marker\n",
        "expect -i main marker\n",
        "print \"main had: [$before]\"\n",
        "expect -i other for-other\n",
        "print \"other had it, from $program\"\n",
        "use main\n",
        "spawn cat\n",
    ));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        "main had: [for-main\r\n]\nother had it, from other\n"
    );
    assert_eq!(
        stderr(&output),
        format!(
            "ptychat: {path}:13: a program is already running; `close` it or `wait` for it \
             before spawning another\n"
        )
    );
}

/// `abort_on -i NAME` watches that program only; `abort_on` without a name watches all.
/// The failure names the program and the line of the expect.
#[test]
fn abort_on_per_program_fires_only_there() {
    let (output, path) = run_script(concat!(
        "set timeout 30\n",
        "set echo off\n",
        "spawn -n calm cat\n",
        "spawn -n touchy cat\n",
        "abort_on -i touchy ERROR\n",
        "sendline -i calm \"ERROR is fine here\"\n",
        "expect -i calm,touchy here\n",
        "print \"calm said $0\"\n",
        "sendline -i touchy \"an ERROR\"\n",
        "expect -i calm,touchy never\n",
    ));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "calm said here\n");
    assert_eq!(
        stderr(&output),
        format!(
            "ptychat: {path}:10: session `touchy`: the output matched abort_on pattern \
             \"ERROR\"; it ended with: \"an ERROR\"\n"
        )
    );

    // A global abort_on watches every program, in one-program expects too; clearing the
    // program's own list leaves the global one.
    let (output, path) = run_script(concat!(
        "set timeout 30\n",
        "set echo off\n",
        "spawn -n a cat\n",
        "abort_on -i a OOPS\n",
        "abort_on FATAL\n",
        "spawn -n b cat\n",
        "abort_on -i a\n",
        "sendline -i a OOPS; sendline -i a ok\n",
        "expect -i a ok\n",
        "sendline -i b FATAL\n",
        "expect -i b never\n",
    ));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "ptychat: {path}:11: session `b`: the output matched abort_on pattern \
             \"FATAL\"; it ended with: \"FATAL\"\n"
        )
    );
}

/// Names are checked before anything runs: a program used before any spawn of it is a
/// mistake at its line, for `ptychat check` and `ptychat run` alike.
#[test]
fn unknown_names_are_reported_with_line_numbers() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "spawn -n a cat\nsend -i b x\n",
            2,
            "no program named `b` is spawned before this line (`spawn -n b PROGRAM` starts one)",
        ),
        (
            "print hi\nexpect -i a,b x\nspawn -n a cat\nspawn -n b cat\n",
            2,
            "no program named `a` is spawned before this line",
        ),
        (
            "spawn -n a cat\nexpect {\n  -i a x\n  -i c y\n}\n",
            4,
            "no program named `c` is spawned before this line",
        ),
        (
            "spawn -n a cat\nuse main\n",
            2,
            "no program named `main` is spawned before this line (`spawn PROGRAM` without -n \
             starts it)",
        ),
        (
            "spawn cat\nabort_on -i x ERROR\n",
            2,
            "no program named `x` is spawned before this line",
        ),
        (
            "spawn -n a cat\nexpect -i a,a x\n",
            2,
            "expect -i names `a` twice",
        ),
        (
            "spawn -n a cat\nsend -i a,b x\n",
            2,
            "send -i takes one program name, not a list (`a,b`)",
        ),
        (
            "spawn -n 9 cat\n",
            1,
            "spawn -n needs a name for the program",
        ),
        (
            "spawn -n a cat\nwait -i\n",
            2,
            "wait -i needs the name of a program",
        ),
        (
            "spawn -n a cat\nexpect {\n  -i a\n}\n",
            3,
            "a branch with -i NAME,... needs a pattern after the names",
        ),
    ];
    for (source, line, message) in cases {
        let path = script(source);
        for command in ["check", "run"] {
            let output = ptychat(&[command, &path]);
            assert_eq!(output.status.code(), Some(1), "{source}");
            assert_eq!(stdout(&output), "");
            let err = stderr(&output);
            assert!(
                err.starts_with(&format!("ptychat: {path}:{line}: {message}")),
                "{command} of {source:?}: {err}"
            );
        }
    }
    // Spawned in a branch before the line: known, and the program runs.
    let path = script(concat!(
        "spawn sh -c 'echo go; exec cat'\n",
        "expect {\n",
        "  go  spawn -n late cat\n",
        "}\n",
        "sendline -i late hi\n",
        "expect -i late hi\n",
    ));
    let output = ptychat(&["run", &path]);
    assert_success(&output);
}

/// Waits, exit codes and `close` per program; errors name the program; `$status` is the
/// last program's.
#[test]
fn exit_statuses_and_errors_per_program() {
    let (output, path) = run_script(concat!(
        "set timeout 30\n",
        "spawn -n three sh -c 'exit 3'\n",
        "spawn -n sleeper sleep 100\n",
        "spawn -n four sh -c 'exit 4'\n",
        "assert_exit -i three 3\n",
        "wait\n",
        "print \"current: $status\"\n",
        "close -i sleeper\n",
        "print \"closed: $status\"\n",
        "wait -i three\n",
        "print \"three again: $status\"\n",
        "assert_exit -i four 0\n",
    ));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "current: 4\nclosed: 129\nthree again: 3\n");
    assert_eq!(
        stderr(&output),
        format!(
            "ptychat: {path}:12: assert_exit: expected program `four` to end with exit code 0, \
             but it ended with exit code 4; 0 unmatched bytes buffered, ending with: \"\"\n"
        )
    );

    let (output, path) = run_script(concat!(
        "spawn -n a cat\n",
        "close -i a\n",
        "sendline -i a x\n",
    ));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "ptychat: {path}:3: program `a` is not running: `close` ended it (`spawn -n a` \
             starts it again)\n"
        )
    );

    // A timeout on one program names it; on several, each program's patterns and output.
    let (output, path) = run_script(concat!(
        "set echo off\n",
        "spawn -n a cat\n",
        "spawn -n b cat\n",
        "sendline -i a hello\n",
        "expect -i a hello\n",
        "expect -i a -t 0.2 never\n",
    ));
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.starts_with(&format!("ptychat: {path}:6: session `a`: timed out after")),
        "{err}"
    );
    let (output, path) = run_script(concat!(
        "set echo off\n",
        "spawn -n a cat\n",
        "spawn -n b cat\n",
        "sendline -i b hello\n",
        "expect -i b hello\n",
        "expect -t 0.2 -i a,b never\n",
    ));
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.starts_with(&format!("ptychat: {path}:6: timed out after")),
        "{err}"
    );
    for part in [
        "deadline 200ms",
        "waiting on 2 sessions: `a` for \"never\"",
        "`b` for \"never\"",
    ] {
        assert!(err.contains(part), "missing {part:?} in {err}");
    }
}

/// Every program still running when the script ends is ended and reaped, named or not,
/// whether the script ends normally or fails.
#[test]
fn every_program_is_reaped_at_the_end() {
    for ending in ["print done", "fail stop"] {
        let (output, _) = run_script(&format!(
            "set timeout 30\n\
             spawn sh -c 'echo pid=$$; exec sleep 100'\n\
             expect /pid=(\\d+)/\n\
             print $1\n\
             spawn -n a sh -c 'echo pid=$$; exec sleep 100'\n\
             expect /pid=(\\d+)/\n\
             print $1\n\
             spawn_shell -n b \"trap '' HUP; echo pid=\\$\\$; exec sleep 100\"\n\
             expect /pid=(\\d+)/\n\
             print $1\n\
             {ending}\n"
        ));
        let out = stdout(&output);
        let pids: Vec<&str> = out.lines().filter(|l| *l != "done").collect();
        assert_eq!(pids.len(), 3, "{out}\n{}", stderr(&output));
        for pid in pids {
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists(),
                "process {pid} outlived the script"
            );
        }
    }
}

/// Logs cover every program: those running when the log opens and those spawned later;
/// `-v` shows every program's output.
#[test]
fn logs_cover_every_program() {
    let log =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("many-{}.log", std::process::id()));
    let log = log.to_str().unwrap();
    let path = script(&format!(
        "set echo off\n\
         set timeout 30\n\
         spawn -n a cat\n\
         log_file -o '{log}'\n\
         sendline -i a from-a\n\
         expect -i a from-a\n\
         spawn -n b cat\n\
         sendline -i b from-b\n\
         expect -i a,b from-b\n\
         close -i a\n\
         sendline -i b again\n\
         expect -i b again\n\
         log_file\n"
    ));
    let output = ptychat(&["run", "-v", &path]);
    assert_success(&output);
    assert_eq!(stderr(&output), "from-a\r\nfrom-b\r\nagain\r\n");
    assert_eq!(
        std::fs::read_to_string(log).unwrap(),
        "from-a\r\nfrom-b\r\nagain\r\n"
    );
}
