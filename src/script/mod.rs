//! Expect scripts: a small line-oriented language for driving a program, run by
//! `ptychat run SCRIPT`. Available with the default `cli` feature.
//!
//! ```text
//! # Ask bc for a result and check it.
//! set env TERM dumb
//! set echo off
//! spawn bc -q
//! sendline "6 * 7"
//! expect /(\d+)\r\n/
//! print "bc says 6 * 7 = $1"
//! sendline quit
//! expect eof
//! assert_exit 0
//! ```
//!
//! The whole language is described in `docs/SCRIPTS.md`: one command per line (or several
//! separated by `;`), `#` comments, shell-like words with `"double-quoted"` strings
//! (escapes and `$variables`) and `'single-quoted'` literal ones, `/regex/` patterns, and
//! `expect { ... }` blocks with one branch per pattern. Several programs can run at once
//! under names (`spawn -n NAME`, `send -i NAME`, `expect -i a,b`), driven as one
//! [`Group`](crate::Group).
//!
//! A script is parsed completely before it runs, so a mistake on any line is reported (as
//! a [`ScriptError`] with the file and line) before a program is started. When a command
//! fails while running, the error is also a [`ScriptError`] naming the command's line; when
//! the library failed (a timeout, the end of the output...) it holds that [`Error`], whose
//! text for a timeout shows the patterns, the deadline and the escaped tail of the output.
//!
//! ```
//! use ptychat::Shared;
//! use ptychat::script::{RunOptions, Script};
//! let script = Script::parse("demo", "spawn echo hello\nexpect /h(el+)o/\nprint \"got $1\"")?;
//! let out = Shared::new(Vec::new());
//! let code = script.run_with(&[], &RunOptions::default(), out.clone(), std::io::sink())?;
//! assert_eq!((code, out.lock().as_slice()), (0, &b"got ell\n"[..]));
//!
//! let err = Script::parse("demo", "spawn echo hi\nexpect 'unclosed").unwrap_err();
//! assert_eq!(err.to_string(),
//!            "demo:2: unterminated single-quoted string (a closing ' is missing)");
//! # Ok::<(), ptychat::script::ScriptError>(())
//! ```
//!
//! Owns: the lexer, parser and runner of the script language, the script's own error type
//! ([`ScriptError`], wrapping the crate's [`Error`]) and the logs a script opens. It sits at
//! the top of the crate: it uses the public API (and `logging`), and nothing else names it.

mod error;
mod lex;
pub(crate) mod logs;
mod parse;
mod run;
pub(crate) mod value;

pub use error::ScriptError;

// Only for the `ptychat` binary (`chat -t SECONDS`), which reads durations like scripts do:
// it is a separate crate target and can use only public items. Not part of the API.
#[doc(hidden)]
pub use value::seconds as parse_seconds;

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::logging::Shared;

/// How [`Script::run`] reports what happens, besides the script's own `print`s.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Copy the program's output to the log as it is read.
    pub verbose: bool,
    /// Write each command to the log (`+ FILE:LINE: COMMAND`) before running it.
    pub trace: bool,
    /// Log what the programs write and what is sent to them to this file (`--log`),
    /// as the script command `log_file PATH` does; secrets show as `[secret: N bytes]`.
    pub log: Option<PathBuf>,
    /// Log only what the programs write to this file (`--log-output`).
    pub log_output: Option<PathBuf>,
    /// Record the programs' output to this asciicast v2 file (`--record`), as the
    /// script command `record PATH` does.
    pub record: Option<PathBuf>,
    /// Give every program a screen and print the screens of the programs still open when
    /// the script ends (`--screen`), framed with the cursor marked.
    pub screen: bool,
}

/// A parsed script, ready to run.
#[derive(Debug, Clone)]
pub struct Script {
    file: String,
    stmts: Vec<parse::Stmt>,
}

impl Script {
    /// Parses `source`; `file` is the name that error messages show. A mistake is a
    /// [`ScriptError::Message`] naming its line.
    pub fn parse(file: impl Into<String>, source: &str) -> Result<Script, ScriptError> {
        let file = file.into();
        let stmts = parse::parse(&file, source)?;
        Ok(Script { file, stmts })
    }

    /// Reads and parses the script at `path`; `-` reads standard input. A file that cannot
    /// be read is a [`ScriptError::File`] (its text is `reading the script: PATH: ...`).
    pub fn load(path: impl AsRef<Path>) -> Result<Script, ScriptError> {
        let path = path.as_ref();
        let name = path.to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        let read = if name == "-" {
            io::stdin().lock().read_to_end(&mut bytes).map(drop)
        } else {
            std::fs::read(path).map(|b| bytes = b)
        };
        if let Err(e) = read {
            return Err(ScriptError::File {
                error: Box::new(Error::Io {
                    context: "reading the script",
                    source: io::Error::new(e.kind(), format!("{name}: {e}")),
                }),
                file: name,
            });
        }
        match String::from_utf8(bytes) {
            Ok(source) => Script::parse(name, &source),
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                Err(ScriptError::message_at(
                    &name,
                    line,
                    "the script is not valid UTF-8 (write raw bytes as \\xNN in double quotes)",
                ))
            }
        }
    }

    /// What the script does that is legal but probably not what was meant, one
    /// `FILE:LINE: warning: ...` line each: for now, exact text that starts or ends with
    /// `*` (a glob in Tcl Expect, here a literal asterisk). `ptychat check` and `ptychat
    /// run` print them.
    ///
    /// ```
    /// use ptychat::script::Script;
    /// let script = Script::parse("login", "spawn sh\nexpect \"*assword*\"\nexpect -gl \"*\\$ \"")?;
    /// assert_eq!(script.warnings(), [
    ///     "login:2: warning: the pattern \"*assword*\" is exact text and waits for a literal \
    ///      `*`; for a glob as in Tcl Expect write -gl \"*assword*\"",
    /// ]);
    /// # Ok::<(), ptychat::script::ScriptError>(())
    /// ```
    pub fn warnings(&self) -> Vec<String> {
        parse::warnings(&self.file, &self.stmts)
    }

    /// The file name given when the script was parsed.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Runs the script with `args` as `$arg1`, `$arg2`... (`$argc` is their number).
    /// `print` (and `log_user on`) writes to standard output, `--verbose` and `--trace`
    /// output (and warnings about logs that could not be written) to standard error.
    /// Returns the script's exit code: 0 at its end, or the code given to `exit`.
    ///
    /// A program still running when the script ends is ended (hung up, then signalled).
    ///
    /// A command that fails stops the script with a [`ScriptError`] naming its line; a log
    /// of `options` that cannot be opened is a [`ScriptError::File`].
    pub fn run(&self, args: &[OsString], options: &RunOptions) -> Result<i32, ScriptError> {
        self.run_with(args, options, io::stdout(), io::stderr())
    }

    /// Like [`run`](Script::run), writing `print` output to `out` and the verbose and
    /// trace log to `log`. The program's output is copied to them while it is read, so
    /// they are owned; to look at what was written, pass a [`Shared`] buffer.
    pub fn run_with(
        &self,
        args: &[OsString],
        options: &RunOptions,
        out: impl Write + Send + 'static,
        log: impl Write + Send + 'static,
    ) -> Result<i32, ScriptError> {
        let out = Shared::new(Box::new(out) as Box<dyn Write + Send>);
        let log = Shared::new(Box::new(log) as Box<dyn Write + Send>);
        run::Runner::new(&self.file, args, options, out, log).run(&self.stmts)
    }

    /// Runs the script as [`run_with`](Script::run_with) does, with `vars` set before it
    /// starts; also returns the text of each program's virtual terminal (`set screen on`)
    /// when the script ended, by program name. For the test harness.
    pub(crate) fn run_capturing(
        &self,
        vars: &[(String, Vec<u8>)],
        options: &RunOptions,
        out: impl Write + Send + 'static,
        log: impl Write + Send + 'static,
    ) -> (Result<i32, ScriptError>, Vec<(String, String)>) {
        let out = Shared::new(Box::new(out) as Box<dyn Write + Send>);
        let log = Shared::new(Box::new(log) as Box<dyn Write + Send>);
        let mut runner = run::Runner::new(&self.file, &[], options, out, log);
        runner.preset(vars);
        let result = runner.run(&self.stmts);
        (result, runner.screens().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `source`; returns the exit code (or the error text) and what it printed.
    fn run(source: &str, args: &[&str]) -> (std::result::Result<i32, String>, String) {
        let script = Script::parse("t", source).unwrap_or_else(|e| panic!("{e}"));
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let out = Shared::new(Vec::new());
        let result = script
            .run_with(&args, &RunOptions::default(), out.clone(), io::sink())
            .map_err(|e| e.to_string());
        let out = out.lock().clone();
        (result, String::from_utf8(out).unwrap())
    }

    #[test]
    fn interpolates_captures_arguments_and_variables() {
        let (result, out) = run(
            concat!(
                "spawn printf 'id=42 name=ann\\n'\n",
                "expect /id=(\\d+) name=(?<name>\\w+)/\n",
                "print \"$0|$1|${2}|$name|$before|$argc|$arg1|$script\"\n",
                "let kept $1\n",
                "expect \"\\n\"\n",
                "print \"$0|$kept|${env:PTYCHAT_TEST_HOME}\" 'not $interpolated'\n",
            ),
            &["first"],
        );
        assert_eq!(
            result,
            Err("t:6: environment variable PTYCHAT_TEST_HOME is not set".into())
        );
        assert_eq!(out, "id=42 name=ann|42|ann|ann||1|first|t\n");
        let (result, out) = run(
            "spawn printf 'ab\\n'\nexpect /a(b)/\nexpect b\nprint $1\n",
            &[],
        );
        assert_eq!(out, "");
        let err = result.unwrap_err();
        assert!(err.starts_with("t:3: end of output after"), "{err}");
        let (result, _) = run(
            "spawn printf ab\nexpect /a(x)?b/\nprint \"[$1]\"\nprint $2",
            &[],
        );
        assert_eq!(
            result,
            Err("t:4: $2 is not set: the last expect matched no group 2".into())
        );
    }

    #[test]
    fn branches_continue_exit_and_abort() {
        let (result, out) = run(
            concat!(
                "spawn printf 'item 1\\nitem 2\\nitem 3\\ndone\\n'\n",
                "expect {\n",
                "  /item (\\d)\\r\\n/  print \"got $1\"; continue\n",
                "  done              print finished; exit 7\n",
                "}\n",
                "print unreachable\n",
            ),
            &[],
        );
        assert_eq!(
            (result, out.as_str()),
            (Ok(7), "got 1\ngot 2\ngot 3\nfinished\n")
        );
        let (result, _) = run(
            "abort_on BUSY /NO (CARRIER)/\nspawn printf 'dialing\\nNO CARRIER\\nCONNECT'\nexpect CONNECT",
            &[],
        );
        assert_eq!(
            result,
            Err(
                "t:3: the output matched abort_on pattern /NO (CARRIER)/; it ended with: \
                 \"dialing\\r\\nNO CARRIER\""
                    .into()
            )
        );
        let (result, out) = run(
            "spawn sh -c 'echo hi; exec sleep 30'\nexpect -t 0.1 { \n nothing\n timeout print late\n}",
            &[],
        );
        assert_eq!((result, out.as_str()), (Ok(0), "late\n"));
    }

    #[test]
    fn waits_and_checks_exit_status() {
        let (result, out) = run(
            "spawn sh -c 'exit 3'\nwait\nprint $status\nassert_exit 3",
            &[],
        );
        assert_eq!((result, out.as_str()), (Ok(0), "3\n"));
        let (result, _) = run("spawn sh -c 'echo oops; exit 3'\nassert_exit 0", &[]);
        assert_eq!(
            result,
            Err(
                "t:2: assert_exit: expected the program to end with exit code 0, but it ended \
                 with exit code 3; 6 unmatched bytes buffered, ending with: \"oops\\r\\n\""
                    .into()
            )
        );
        let (result, out) = run(
            "spawn sleep 30\nkill TERM\nwait\nassert_exit SIGTERM\nprint $status",
            &[],
        );
        assert_eq!((result, out.as_str()), (Ok(0), "143\n"));
        let (result, out) = run(
            "spawn sleep 30\nclose\nprint $status\nspawn true\nwait",
            &[],
        );
        assert_eq!((result, out.as_str()), (Ok(0), "129\n"));
    }

    #[test]
    fn a_timeout_keeps_the_library_error_and_the_line() {
        let script = Script::parse(
            "t.pcs",
            "set timeout 0.2\nspawn cat\nsendline hello\nexpect never\nprint unreachable",
        )
        .unwrap();
        let out = Shared::new(Vec::new());
        let err = script
            .run_with(&[], &RunOptions::default(), out.clone(), io::sink())
            .unwrap_err();
        assert!(out.lock().is_empty());
        assert_eq!((err.file(), err.line()), ("t.pcs", Some(4)));
        let ScriptError::Error { error, .. } = &err else {
            panic!("expected a library error, got {err:?}");
        };
        assert!(error.is_timeout(), "{error}");
        assert!(err.error().is_some_and(Error::is_timeout));
        let source = std::error::Error::source(&err).expect("a source");
        assert!(
            source
                .downcast_ref::<Error>()
                .is_some_and(Error::is_timeout)
        );
        let text = err.to_string();
        assert_eq!(text, format!("t.pcs:4: {error}"));
        assert!(
            text.starts_with("t.pcs:4: timed out after ")
                && text.contains("(deadline 200ms) waiting for \"never\""),
            "{text}"
        );
        assert_eq!(format!("{err:?}"), text);
    }

    #[test]
    fn located_messages_and_file_level_failures() {
        let err = Script::parse("t.pcs", "spawn cat\nfrobnicate").unwrap_err();
        assert!(
            matches!(&err, ScriptError::Message { line: 2, .. }),
            "{err}"
        );
        assert_eq!((err.line(), err.error().is_none()), (Some(2), true));
        assert!(std::error::Error::source(&err).is_none());

        let (result, _) = run("fail \"custom\" message", &[]);
        assert_eq!(result, Err("t:1: custom message".into()));

        let missing = Path::new("/nonexistent/ptychat/script.pcs");
        let err = Script::load(missing).unwrap_err();
        assert_eq!((err.file(), err.line()), (missing.to_str().unwrap(), None));
        assert!(matches!(err.error(), Some(Error::Io { .. })), "{err}");
        assert!(
            err.to_string()
                .starts_with("reading the script: /nonexistent/ptychat/script.pcs: "),
            "{err}"
        );

        let script = Script::parse("t.pcs", "print hi").unwrap();
        let options = RunOptions {
            log: Some("/nonexistent/ptychat/x.log".into()),
            ..RunOptions::default()
        };
        let err = script
            .run_with(&[], &options, io::sink(), io::sink())
            .unwrap_err();
        assert!(matches!(err, ScriptError::File { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("opening a log: /nonexistent/ptychat/x.log: "),
            "{err}"
        );
    }

    #[test]
    fn reports_misuse_while_running() {
        let (result, _) = run("send x", &[]);
        assert_eq!(
            result,
            Err("t:1: no program is running (start one with spawn)".into())
        );
        let (result, _) = run("spawn sleep 30\nspawn sleep 30", &[]);
        assert!(
            result
                .unwrap_err()
                .starts_with("t:2: a program is already running")
        );
        let (result, _) = run("print $1", &[]);
        assert_eq!(
            result,
            Err("t:1: $1 is not set: no expect has matched yet".into())
        );
        let (result, _) = run("print $nope", &[]);
        assert_eq!(result, Err("t:1: $nope is not set".into()));
        let (result, _) = run("let t soon\ntimeout $t", &[]);
        assert_eq!(
            result,
            Err("t:2: expected seconds (like 5 or 0.5) or `none`, found `soon`".into())
        );
        let (result, _) = run("fail \"custom\" message", &[]);
        assert_eq!(result, Err("t:1: custom message".into()));
    }

    /// Scripts of valid commands over several programs, in a random order (a fixed seed),
    /// run to an end or a located error, never a panic.
    #[test]
    fn shuffled_commands_over_several_programs_never_panic() {
        const LINES: &[&str] = &[
            "spawn -n a cat",
            "spawn -n b sh -c 'echo hi; exit 2'",
            "spawn true",
            "sendline -i a x",
            "sendline -i b x",
            "sendline x",
            "sendeof -i a",
            "expect -t 0.01 -i a,b x",
            "expect -t 0.01 -i main,a { \n -i a x print $program\n -i main eof\n timeout\n}",
            "expect -t 0.01 -i b { \n eof continue\n -i a timeout\n}",
            "wait -i b",
            "assert_exit -i b 2",
            "close -i a",
            "close",
            "kill -i a",
            "use a",
            "use main",
            "abort_on -i a x",
            "abort_on hi",
            "abort_on",
            "print $program $status",
            "set timeout 0.05",
        ];
        let mut seed: u64 = 0xab07;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        for _ in 0..40 {
            // Every name is spawned first, so the script parses.
            let mut source =
                String::from("set timeout 0.05\nspawn true\nspawn -n a cat\nspawn -n b cat\n");
            for _ in 0..8 {
                source.push_str(LINES[next(LINES.len())]);
                source.push('\n');
            }
            let script = Script::parse("t", &source).unwrap_or_else(|e| panic!("{e}"));
            match script.run_with(&[], &RunOptions::default(), io::sink(), io::sink()) {
                Ok(_) => {}
                Err(e) => assert!(e.line().is_some(), "{source}\n{e}"),
            }
        }
    }
}
