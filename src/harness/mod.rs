//! Interactive tests as files: each ptychat script under a directory is one test, which
//! passes when the script runs to its end and the programs' output (and screen) equal
//! the output stored beside it. `PTYCHAT_BLESS=1` records the stored files from a run.
//! Available with the default `cli` feature (it runs [`script`](crate::script)s).
//!
//! A test target with `harness = false` runs them from `cargo test`, one named test per
//! file, in parallel, with `cargo test`'s filters:
//!
//! ```toml
//! # Cargo.toml
//! [[test]]
//! name = "interactive"
//! harness = false
//! ```
//!
//! ```no_run
//! // tests/interactive.rs
//! fn main() -> std::process::ExitCode {
//!     ptychat::harness::run_dir("tests/interactive")
//! }
//! ```
//!
//! For a file `NAME.ptychat` the harness keeps:
//!
//! - `NAME.out`, beside it: what the programs wrote to their terminals (not what the
//!   script `print`s), with `\r\n` written as `\n` and other control characters as
//!   escapes (`\r`, `\e`, `\xNN`). In the stored file, `[..]` matches any text within a
//!   line and a line `...` any number of lines, as in snapbox and trycmd. Blessing keeps
//!   a stored file that still matches, wildcards and all, and in one that does not, the
//!   lines that still match (a `...` line is replaced by what it stood for).
//! - `NAME.screen`, beside it, when the script turns on a virtual terminal (`set screen
//!   on`, feature `screen`): the final screen's text ([`Screen::text`](crate::Screen)),
//!   each program's under a `== NAME ==` line when several have one. Without the
//!   feature, a test with a `.screen` file is reported as ignored.
//! - `target/ptychat-failures/PATH.log`, only while the test fails: why, the run's
//!   commands interleaved with the output as it was read, what the script printed, the
//!   whole output and the screen. A passing run removes it.
//!
//! A test fails when the script fails (a timeout, an end of output, `fail`, a failed
//! `assert_exit`...), ends with an exit code other than 0 (`exit 3`), or its output or
//! screen differ from the stored ones; the message shows a line diff.
//!
//! Output is read while a command waits (`expect`, `wait`): end the script with `expect
//! eof` (or an `expect` of the last thing the program prints) so that the stored output
//! is the same on every run. Several programs' output is stored in the order it was read,
//! which is only deterministic when they take turns.
//!
//! `docs/TESTING.md` is the guide.

mod diff;

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use crate::logging::Shared;
use crate::script::{RunOptions, Script};

/// The extension of test files: they are ptychat scripts.
pub const EXTENSION: &str = "ptychat";

/// The environment variable that turns bless mode on (any value but empty or `0`).
pub const BLESS_VAR: &str = "PTYCHAT_BLESS";

/// Runs the tests under `dir` as [`Harness::main`] does: the whole `main` of a
/// `harness = false` test target.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     ptychat::harness::run_dir("tests/interactive")
/// }
/// ```
pub fn run_dir(dir: impl Into<PathBuf>) -> ExitCode {
    Harness::new(dir).main()
}

/// How one test file ended ([`Harness::run_file`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The script ran to its end and the output (and screen) equal the stored ones.
    Passed,
    /// Bless mode: the script ran to its end, and these stored files were written (none
    /// if the stored ones still matched).
    Blessed(Vec<PathBuf>),
    /// The test failed; the text says why, with a diff, and where the run's log is.
    Failed(String),
    /// The test cannot run here; the text says why (a `.screen` file without the
    /// `screen` feature).
    Ignored(String),
}

/// The counts of a run of [`Harness::run_args`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Tests that passed (blessed ones included).
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
    /// Tests reported as ignored.
    pub ignored: usize,
    /// Tests left out by the filters.
    pub filtered_out: usize,
}

/// The test files of a directory and how to run them. Built by value:
/// `Harness::new(dir).var(...).main()`.
#[derive(Debug, Clone)]
pub struct Harness {
    dir: PathBuf,
    vars: Vec<(String, Vec<u8>)>,
    bless: bool,
    failures: PathBuf,
}

impl Harness {
    /// The tests under `dir` (searched recursively for `*.ptychat`), relative to the
    /// current directory, which is the package's root under `cargo test`. Bless mode is
    /// on when [`BLESS_VAR`] is set (not empty, not `0`); failure logs go to
    /// `ptychat-failures` in the target directory (`CARGO_TARGET_DIR`, else the
    /// directory with cargo's `CACHEDIR.TAG` above the test binary, else `target`).
    ///
    /// ```
    /// let harness = ptychat::harness::Harness::new("tests/interactive");
    /// assert!(harness.tests()?.iter().any(|t| t.ends_with("bc.ptychat")));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let bless = std::env::var_os(BLESS_VAR).is_some_and(|v| !v.is_empty() && v != "0");
        Harness {
            dir: dir.into(),
            vars: Vec::new(),
            bless,
            failures: target_dir().join("ptychat-failures"),
        }
    }

    /// Sets the script variable `$name` to `value` in every test, before it runs: the
    /// path of a binary of the crate under test, say, which an integration test target
    /// gets as `env!("CARGO_BIN_EXE_<name>")` (this crate's `tests/interactive.rs` passes
    /// `.var("ptychat", env!("CARGO_BIN_EXE_ptychat"))`, and its scripts `spawn $ptychat`).
    ///
    /// ```no_run
    /// fn main() -> std::process::ExitCode {
    ///     ptychat::harness::Harness::new("tests/interactive")
    ///         .var("tool", "/usr/bin/bc")                        // spawn $tool ...
    ///         .main()
    /// }
    /// ```
    pub fn var(mut self, name: impl Into<String>, value: impl AsRef<OsStr>) -> Self {
        let value = value.as_ref().as_bytes().to_vec();
        self.vars.push((name.into(), value));
        self
    }

    /// Turns bless mode on or off, whatever [`BLESS_VAR`] says: a run that reaches the
    /// script's end writes the stored files that do not match it.
    pub fn bless(mut self, on: bool) -> Self {
        self.bless = on;
        self
    }

    /// Where failure logs go (`PATH.log` for the test file at PATH).
    pub fn failure_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.failures = dir.into();
        self
    }

    /// The test files, sorted: every `*.ptychat` under the directory, at any depth.
    pub fn tests(&self) -> io::Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        let mut dirs = vec![self.dir.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension() == Some(OsStr::new(EXTENSION)) {
                    found.push(path);
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// Runs the test file at `path`: its script, then the comparisons (or, in bless
    /// mode, the recording) of the stored files. Writes the failure log of a failed run;
    /// removes the one of an earlier failure otherwise.
    ///
    /// ```
    /// use ptychat::harness::{Harness, Outcome};
    /// let dir = std::env::temp_dir().join(format!("ptychat-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let test = dir.join("echo.ptychat");
    /// std::fs::write(&test, "spawn echo hello\nexpect eof\n")?;
    /// let harness = Harness::new(&dir).failure_dir(dir.join("failures"));
    /// // Nothing stored yet: bless records it, and then the test passes.
    /// assert!(matches!(harness.run_file(&test), Outcome::Failed(_)));
    /// assert_eq!(harness.clone().bless(true).run_file(&test),
    ///            Outcome::Blessed(vec![dir.join("echo.out")]));
    /// assert_eq!(std::fs::read_to_string(dir.join("echo.out"))?, "hello\n");
    /// assert_eq!(harness.run_file(&test), Outcome::Passed);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn run_file(&self, path: &Path) -> Outcome {
        let out_path = path.with_extension("out");
        let screen_path = path.with_extension("screen");
        let log_path = self.log_path(path);
        if cfg!(not(feature = "screen")) && screen_path.exists() {
            return Outcome::Ignored(format!(
                "{} needs ptychat's `screen` feature",
                screen_path.display()
            ));
        }
        let run = match self.run_script(path) {
            Ok(run) => run,
            Err(problem) => return self.failed(&log_path, vec![problem], None),
        };
        let mut problems = Vec::new();
        match &run.result {
            Ok(0) => {}
            Ok(code) => problems.push(format!("the script ended with exit code {code}")),
            Err(e) => problems.push(format!("the script failed: {e}")),
        }
        let bless = self.bless && problems.is_empty();
        let mut written = Vec::new();
        let mut compare = |stored: &Path, actual: &str, what: &str| {
            let expected = match std::fs::read_to_string(stored) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => {
                    problems.push(format!("reading {}: {e}", stored.display()));
                    return;
                }
            };
            if expected
                .as_deref()
                .is_some_and(|e| diff::matches(e, actual))
            {
                return;
            }
            if bless {
                let text = match &expected {
                    Some(expected) => diff::bless(expected, actual),
                    None => actual.to_owned(),
                };
                match std::fs::write(stored, text) {
                    Ok(()) => written.push(stored.to_owned()),
                    Err(e) => problems.push(format!("writing {}: {e}", stored.display())),
                }
                return;
            }
            problems.push(match expected {
                None => format!(
                    "no stored {what} {} (run with {BLESS_VAR}=1 to record it)",
                    stored.display()
                ),
                Some(expected) => format!(
                    "the {what} differs from {} (- stored, + this run):\n{}",
                    stored.display(),
                    diff::diff(&expected, actual)
                ),
            });
        };
        compare(&out_path, &run.transcript, "output");
        match &run.screen {
            Some(screen) => compare(&screen_path, screen, "screen"),
            None if screen_path.exists() => problems.push(format!(
                "{} is stored but the script turned on no screen (`set screen on`)",
                screen_path.display()
            )),
            None => {}
        }
        if !problems.is_empty() {
            return self.failed(&log_path, problems, Some(&run));
        }
        match std::fs::remove_file(&log_path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                let problem = format!("removing the old failure log {}: {e}", log_path.display());
                return Outcome::Failed(problem);
            }
            _ => {}
        }
        if self.bless {
            Outcome::Blessed(written)
        } else {
            Outcome::Passed
        }
    }

    /// Where the failure log of the test at `path` goes: its path (without `/`, `..`)
    /// under the failure directory, `.log` added.
    fn log_path(&self, path: &Path) -> PathBuf {
        let mut log = self.failures.clone();
        for part in path.components() {
            if let std::path::Component::Normal(part) = part {
                log.push(part);
            }
        }
        let mut log = log.into_os_string();
        log.push(".log");
        log.into()
    }

    /// Runs the script at `path`, capturing what it printed, the output and the screens.
    fn run_script(&self, path: &Path) -> Result<Run, String> {
        let script = Script::load(path).map_err(|e| format!("the script failed: {e}"))?;
        let transcript = TempFile::new();
        let options = RunOptions {
            verbose: true,
            trace: true,
            log_output: Some(transcript.0.clone()),
            ..RunOptions::default()
        };
        let printed = Shared::new(Vec::new());
        let log = Shared::new(Vec::new());
        let (result, screens) =
            script.run_capturing(&self.vars, &options, printed.clone(), log.clone());
        let output = std::fs::read(&transcript.0).unwrap_or_default();
        let screen = match screens.as_slice() {
            [] => None,
            [(_, text)] => Some(text.clone()),
            several => Some(
                several
                    .iter()
                    .map(|(name, text)| format!("== {name} ==\n{text}"))
                    .collect(),
            ),
        };
        let printed = String::from_utf8_lossy(&printed.lock()).into_owned();
        let log = diff::normalise(&log.lock());
        Ok(Run {
            result: result.map_err(|e| e.to_string()),
            transcript: diff::normalise(&output),
            screen,
            printed,
            log,
        })
    }

    /// Writes the failure log and returns the failure's report.
    fn failed(&self, log_path: &Path, problems: Vec<String>, run: Option<&Run>) -> Outcome {
        let mut report = problems.join("\n");
        let mut log = format!("{report}\n");
        if let Some(run) = run {
            if let Some(screen) = &run.screen {
                report.push_str(&format!("\nthe final screen:\n{screen}"));
            }
            log.push_str(&format!(
                "\n--- the run: commands (+) and output as it was read ---\n{}\n\
                 --- what the script printed ---\n{}\n--- the output ---\n{}\n",
                run.log, run.printed, run.transcript
            ));
            if let Some(screen) = &run.screen {
                log.push_str(&format!("--- the final screen ---\n{screen}"));
            }
        }
        let written = log_path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(log_path, log));
        match written {
            Ok(()) => report.push_str(&format!("\nthe run's log: {}", log_path.display())),
            Err(e) => report.push_str(&format!(
                "\n(writing the run's log {} failed: {e})",
                log_path.display()
            )),
        }
        Outcome::Failed(report)
    }

    /// Runs the tests as `cargo test` runs a test target (see [`run_args`]), with the
    /// process's arguments, printing to standard output; the exit code is 101 if a test
    /// failed, as libtest's.
    ///
    /// [`run_args`]: Harness::run_args
    pub fn main(self) -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let summary = self.run_args(&args, &mut io::stdout());
        if summary.failed > 0 {
            ExitCode::from(101)
        } else {
            ExitCode::SUCCESS
        }
    }

    /// Runs the tests the way libtest does, given its command-line arguments: `FILTER...`
    /// (run the tests whose name contains one), `--exact` (names equal to a filter),
    /// `--skip FILTER`, `--list`, `--test-threads N` (else `RUST_TEST_THREADS`, else one
    /// per core), `--ignored` (runs none: no test is ignored before it runs); other
    /// libtest options are accepted and ignored. Prints `test NAME ... ok` lines, the
    /// failures' reports and a summary to `out`. A test's name is its file's path.
    ///
    /// ```
    /// let harness = ptychat::harness::Harness::new("tests/interactive");
    /// let mut out = Vec::new();
    /// let args = ["--list".to_owned(), "bc".to_owned()];
    /// harness.run_args(&args, &mut out);
    /// assert!(String::from_utf8(out).unwrap().contains("tests/interactive/bc.ptychat: test\n"));
    /// ```
    pub fn run_args(&self, args: &[String], out: &mut dyn Write) -> Summary {
        let cli = Cli::parse(args);
        let mut summary = Summary::default();
        let all = match self.tests() {
            Ok(all) => all,
            Err(e) => {
                let _ = writeln!(out, "error: listing {}: {e}", self.dir.display());
                summary.failed = 1;
                return summary;
            }
        };
        let tests: Vec<PathBuf> = all
            .iter()
            .filter(|t| cli.selects(&t.display().to_string()))
            .cloned()
            .collect();
        summary.filtered_out = all.len() - tests.len();
        if cli.list {
            for test in &tests {
                let _ = writeln!(out, "{}: test", test.display());
            }
            if !cli.terse {
                let _ = writeln!(out, "\n{} tests, 0 benchmarks", tests.len());
            }
            return summary;
        }
        let start = Instant::now();
        let _ = writeln!(out, "\nrunning {} tests", tests.len());
        let mut failures = Vec::new();
        let threads = cli.threads.clamp(1, tests.len().max(1));
        let next = AtomicUsize::new(0);
        let (send, receive) = mpsc::channel();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let send = send.clone();
                let (next, tests) = (&next, &tests);
                scope.spawn(move || {
                    while let Some(test) = tests.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let outcome = self.run_file(test);
                        if send.send((test.display().to_string(), outcome)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(send);
            for (name, outcome) in receive {
                let line = match outcome {
                    Outcome::Passed => {
                        summary.passed += 1;
                        "ok".to_owned()
                    }
                    Outcome::Blessed(written) => {
                        summary.passed += 1;
                        if written.is_empty() {
                            "ok (blessed: the stored files match)".to_owned()
                        } else {
                            let written: Vec<String> =
                                written.iter().map(|p| p.display().to_string()).collect();
                            format!("ok (blessed: wrote {})", written.join(", "))
                        }
                    }
                    Outcome::Ignored(why) => {
                        summary.ignored += 1;
                        format!("ignored, {why}")
                    }
                    Outcome::Failed(report) => {
                        summary.failed += 1;
                        failures.push((name.clone(), report));
                        "FAILED".to_owned()
                    }
                };
                let _ = writeln!(out, "test {name} ... {line}");
            }
        });
        if !failures.is_empty() {
            failures.sort();
            let _ = writeln!(out, "\nfailures:\n");
            for (name, report) in &failures {
                let _ = writeln!(out, "---- {name} ----\n{report}\n");
            }
            let _ = writeln!(out, "\nfailures:");
            for (name, _) in &failures {
                let _ = writeln!(out, "    {name}");
            }
        }
        let _ = writeln!(
            out,
            "\ntest result: {}. {} passed; {} failed; {} ignored; 0 measured; {} filtered out; \
             finished in {:.2}s\n",
            if failures.is_empty() { "ok" } else { "FAILED" },
            summary.passed,
            summary.failed,
            summary.ignored,
            summary.filtered_out,
            start.elapsed().as_secs_f64()
        );
        let _ = out.flush();
        summary
    }
}

/// What a run of one test file produced.
struct Run {
    /// The script's exit code, or its error's text.
    result: Result<i32, String>,
    /// The programs' output, normalised.
    transcript: String,
    /// The final screen(s), if the script turned a screen on.
    screen: Option<String>,
    /// What the script printed.
    printed: String,
    /// The trace of commands and the output as it was read, normalised.
    log: String,
}

/// A file name in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let name = format!("ptychat-harness-{}-{n}.out", std::process::id());
        TempFile(std::env::temp_dir().join(name))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The target directory: `CARGO_TARGET_DIR`, else the one holding cargo's `CACHEDIR.TAG`
/// above the running binary, else `target`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return dir.into();
    }
    let exe = std::env::current_exe().ok();
    exe.as_deref()
        .and_then(|exe| exe.ancestors().find(|d| d.join("CACHEDIR.TAG").is_file()))
        .map_or_else(|| PathBuf::from("target"), Path::to_owned)
}

/// The libtest arguments the harness understands.
struct Cli {
    filters: Vec<String>,
    skip: Vec<String>,
    exact: bool,
    list: bool,
    terse: bool,
    ignored: bool,
    threads: usize,
}

impl Cli {
    fn parse(args: &[String]) -> Cli {
        let threads = std::env::var("RUST_TEST_THREADS")
            .ok()
            .and_then(|n| n.parse().ok())
            .or_else(|| std::thread::available_parallelism().ok().map(Into::into))
            .unwrap_or(1);
        let mut cli = Cli {
            filters: Vec::new(),
            skip: Vec::new(),
            exact: false,
            list: false,
            terse: false,
            ignored: false,
            threads,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
                _ => (arg.as_str(), None),
            };
            let mut value = || inline.clone().or_else(|| args.next().cloned());
            match flag {
                "--exact" => cli.exact = true,
                "--list" => cli.list = true,
                "--ignored" => cli.ignored = true,
                "--skip" => cli.skip.extend(value()),
                "--test-threads" => {
                    if let Some(n) = value().and_then(|n| n.parse().ok()) {
                        cli.threads = n;
                    }
                }
                "--format" => cli.terse = value().as_deref() == Some("terse"),
                "--color" | "--logfile" | "-Z" | "--shuffle-seed" => drop(value()),
                flag if flag.starts_with('-') => {}
                filter => cli.filters.push(filter.to_owned()),
            }
        }
        cli
    }

    fn selects(&self, name: &str) -> bool {
        let hit = |filter: &String| {
            if self.exact {
                name == filter
            } else {
                name.contains(filter.as_str())
            }
        };
        !self.ignored
            && (self.filters.is_empty() || self.filters.iter().any(hit))
            && !self.skip.iter().any(hit)
    }
}
