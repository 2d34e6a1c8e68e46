//! The file-test harness itself, through its API (not `cargo test` and `PTYCHAT_BLESS`):
//! diffs of failing files, failure logs kept only while a test fails, bless mode, the
//! libtest-like runner's filters and summary. Each test works in a directory of its own.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};

use ptychat::harness::{Harness, Outcome};

/// A new empty directory for one test, and a harness over it whose failure logs go to
/// its `failures/`.
fn setup(name: &str) -> (PathBuf, Harness) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("harness-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    let harness = Harness::new(dir.join("tests"))
        .bless(false)
        .failure_dir(dir.join("failures"));
    (dir, harness)
}

/// Writes `text` to `path`.
fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where the harness keeps the failure log of `test`.
fn log_of(dir: &Path, test: &Path) -> PathBuf {
    let relative = test.strip_prefix("/").unwrap();
    dir.join("failures")
        .join(format!("{}.log", relative.display()))
}

fn failed(outcome: Outcome) -> String {
    match outcome {
        Outcome::Failed(report) => report,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn a_failing_file_shows_a_diff_and_keeps_its_run_until_it_passes() {
    let (dir, harness) = setup("diff");
    let test = dir.join("tests/greet.ptychat");
    write(
        &test,
        "spawn printf 'hello\\nworld\\n'\nexpect world\nprint \"saw $0\"\nexpect eof\n",
    );
    write(&dir.join("tests/greet.out"), "hello\nthere\n");
    let report = failed(harness.run_file(&test));
    let log = log_of(&dir, &test);
    assert_eq!(
        report,
        format!(
            "the output differs from {} (- stored, + this run):\n\
             @@ line 1 @@\n hello\n-there\n+world\n\nthe run's log: {}",
            dir.join("tests/greet.out").display(),
            log.display()
        )
    );
    let text = read(&log);
    assert!(text.starts_with("the output differs from "), "{text}");
    let spawn = format!("+ {}:1: spawn printf 'hello\\nworld\\n'\n", test.display());
    assert!(text.contains(&spawn), "{text}");
    assert!(
        text.contains("--- what the script printed ---\nsaw world\n"),
        "{text}"
    );
    assert!(
        text.ends_with("--- the output ---\nhello\nworld\n\n"),
        "{text}"
    );

    // Fixed: the test passes and its failure log goes.
    write(&dir.join("tests/greet.out"), "hello\nworld\n");
    assert_eq!(harness.run_file(&test), Outcome::Passed);
    assert!(!log.exists());
    // Passing without a log to remove is fine too.
    assert_eq!(harness.run_file(&test), Outcome::Passed);
}

#[test]
fn bless_writes_the_stored_output_and_keeps_wildcards_that_match() {
    let (dir, harness) = setup("bless");
    let test = dir.join("tests/ids.ptychat");
    let out = dir.join("tests/ids.out");
    write(
        &test,
        "spawn sh -c 'echo pid $$; echo version 2'\nexpect eof\nassert_exit 0\n",
    );
    let report = failed(harness.run_file(&test));
    assert!(
        report.starts_with(&format!(
            "no stored output {} (run with PTYCHAT_BLESS=1 to record it)\n",
            out.display()
        )),
        "{report}"
    );
    assert!(log_of(&dir, &test).exists());

    let blessing = harness.clone().bless(true);
    assert_eq!(
        blessing.run_file(&test),
        Outcome::Blessed(vec![out.clone()])
    );
    let stored = read(&out);
    assert!(stored.starts_with("pid ") && stored.ends_with("\nversion 2\n"));
    assert!(!log_of(&dir, &test).exists());

    // The pid differs on every run: a wildcard matches it, and blessing keeps it while
    // rewriting the line that changed.
    write(&out, "pid [..]\nversion 1\n");
    let report = failed(harness.run_file(&test));
    assert!(
        report.contains(" pid [..]\n-version 1\n+version 2\n"),
        "{report}"
    );
    assert_eq!(
        blessing.run_file(&test),
        Outcome::Blessed(vec![out.clone()])
    );
    assert_eq!(read(&out), "pid [..]\nversion 2\n");
    assert_eq!(blessing.run_file(&test), Outcome::Blessed(vec![]));
    assert_eq!(harness.run_file(&test), Outcome::Passed);

    // A line `...` stands for any number of lines.
    write(&out, "...\nversion 2\n");
    assert_eq!(harness.run_file(&test), Outcome::Passed);
}

#[test]
fn a_script_that_fails_fails_the_test_and_is_not_blessed() {
    let (dir, harness) = setup("script-fails");
    let blessing = harness.clone().bless(true);
    let test = dir.join("tests/eof.ptychat");
    write(&test, "spawn echo hi\nexpect bye\n");
    let report = failed(blessing.run_file(&test));
    let first = report.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "the script failed: {}:2: end of output after ",
            test.display()
        )) && first.ends_with("ending with: \"hi\\r\\n\""),
        "{report}"
    );
    assert!(!dir.join("tests/eof.out").exists());

    let test = dir.join("tests/exit.ptychat");
    write(&test, "spawn echo hi\nexpect eof\nexit 3\n");
    write(&dir.join("tests/exit.out"), "hi\n");
    let report = failed(harness.run_file(&test));
    assert!(
        report.starts_with("the script ended with exit code 3\nthe run's log: "),
        "{report}"
    );

    let test = dir.join("tests/bad.ptychat");
    write(&test, "spawn echo hi\nexpct eof\n");
    let report = failed(harness.run_file(&test));
    assert!(
        report.starts_with(&format!("the script failed: {}:2: ", test.display())),
        "{report}"
    );
}

#[test]
fn variables_reach_the_scripts() {
    let (dir, harness) = setup("vars");
    let test = dir.join("tests/var.ptychat");
    write(&test, "spawn $program $greeting\nexpect eof\n");
    write(&dir.join("tests/var.out"), "hi there\n");
    let harness = harness.var("program", "echo").var("greeting", "hi there");
    assert_eq!(harness.run_file(&test), Outcome::Passed);
}

#[test]
fn the_runner_filters_lists_runs_in_parallel_and_sums_up() {
    let (dir, harness) = setup("runner");
    std::fs::create_dir_all(dir.join("tests/sub")).unwrap();
    for name in ["one", "two", "sub/three"] {
        write(
            &dir.join(format!("tests/{name}.ptychat")),
            "spawn echo same\nexpect eof\n",
        );
        write(&dir.join(format!("tests/{name}.out")), "same\n");
    }
    write(&dir.join("tests/two.out"), "different\n");
    write(&dir.join("tests/notes.txt"), "not a test\n");
    let name = |n: &str| dir.join(format!("tests/{n}.ptychat")).display().to_string();
    let run = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let mut out = Vec::new();
        let summary = harness.run_args(&args, &mut out);
        (summary, String::from_utf8(out).unwrap())
    };

    let (_, out) = run(&["--list"]);
    assert_eq!(
        out,
        format!(
            "{}: test\n{}: test\n{}: test\n\n3 tests, 0 benchmarks\n",
            name("one"),
            name("sub/three"),
            name("two")
        )
    );
    let (_, out) = run(&["--list", "--format", "terse", "--exact", &name("one")]);
    assert_eq!(out, format!("{}: test\n", name("one")));

    let (summary, out) = run(&["--test-threads=3"]);
    assert_eq!(
        (
            summary.passed,
            summary.failed,
            summary.ignored,
            summary.filtered_out
        ),
        (2, 1, 0, 0),
        "{out}"
    );
    assert!(out.starts_with("\nrunning 3 tests\n"), "{out}");
    for line in [
        format!("test {} ... ok\n", name("one")),
        format!("test {} ... ok\n", name("sub/three")),
        format!("test {} ... FAILED\n", name("two")),
        format!(
            "\nfailures:\n\n---- {} ----\nthe output differs from ",
            name("two")
        ),
        format!("\nfailures:\n    {}\n", name("two")),
        "\ntest result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; \
         finished in "
            .to_owned(),
    ] {
        assert!(out.contains(&line), "missing {line:?} in:\n{out}");
    }

    let (summary, out) = run(&["sub", "one", "--skip", "three"]);
    assert_eq!((summary.passed, summary.filtered_out), (1, 2), "{out}");
    assert!(
        out.contains("test result: ok. 1 passed; 0 failed;"),
        "{out}"
    );
    let (summary, _) = run(&["--ignored"]);
    assert_eq!((summary.passed, summary.filtered_out), (0, 3));
}

#[cfg(feature = "screen")]
#[test]
fn the_final_screen_is_stored_and_compared() {
    let (dir, harness) = setup("screen");
    let test = dir.join("tests/draw.ptychat");
    let screen = dir.join("tests/draw.screen");
    write(
        &test,
        "set rows 3\nset cols 12\nset screen on\n\
         spawn printf '\\033[2;3Hmiddle\\033[1;1Htop'\nexpect eof\n",
    );
    let blessing = harness.clone().bless(true);
    assert_eq!(
        blessing.run_file(&test),
        Outcome::Blessed(vec![dir.join("tests/draw.out"), screen.clone()])
    );
    assert_eq!(read(&screen), "top\n  middle\n\n");
    assert_eq!(
        read(&dir.join("tests/draw.out")),
        "\\e[2;3Hmiddle\\e[1;1Htop"
    );
    write(&screen, "top\n  centre\n\n");
    let report = failed(harness.run_file(&test));
    assert!(
        report.starts_with(&format!(
            "the screen differs from {} (- stored, + this run):\n\
             @@ line 1 @@\n top\n-  centre\n+  middle\n \n\n\
             the final screen:\ntop\n  middle\n\n\nthe run's log: ",
            screen.display()
        )),
        "{report}"
    );
    let log = read(&log_of(&dir, &test));
    assert!(
        log.ends_with("--- the final screen ---\ntop\n  middle\n\n"),
        "{log}"
    );

    // Several programs with screens: one section each.
    let test = dir.join("tests/two.ptychat");
    write(
        &test,
        "set rows 2\nset cols 5\nset screen on\nspawn -n a echo A\nexpect eof\n\
         spawn -n b echo B\nexpect -i b eof\n",
    );
    assert!(matches!(blessing.run_file(&test), Outcome::Blessed(_)));
    assert_eq!(
        read(&dir.join("tests/two.screen")),
        "== a ==\nA\n\n== b ==\nB\n\n"
    );
}

#[cfg(not(feature = "screen"))]
#[test]
fn a_stored_screen_needs_the_screen_feature() {
    let (dir, harness) = setup("no-screen");
    let test = dir.join("tests/draw.ptychat");
    write(&test, "set screen on\nspawn echo hi\nexpect eof\n");
    write(&dir.join("tests/draw.screen"), "hi\n");
    assert!(matches!(harness.run_file(&test), Outcome::Ignored(_)));
    std::fs::remove_file(dir.join("tests/draw.screen")).unwrap();
    let report = failed(harness.run_file(&test));
    assert!(
        report.contains("set screen: ptychat was built without"),
        "{report}"
    );
}
