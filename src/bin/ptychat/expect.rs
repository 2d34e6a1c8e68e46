//! `ptychat expect [-c CMD]... [-d] [-i] [-n] [-N] [--strict] [--trace] [--log FILE]
//! [--record FILE] [-f FILE | -b FILE | FILE] [--] [ARGS...]`: runs a Tcl Expect script
//! with the real Tcl interpreter and Expect's commands on ptychat's engine. The flags mean
//! what they mean to Expect (docs/TCL.md says how ours differ); `--strict`, `--trace`,
//! `--log` and `--record` are ptychat's own.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use ptychat::tcl::{ExpectOptions, run_expect};

use crate::{Failure, is_option, unknown_option};

pub(crate) fn main(mut args: &[OsString]) -> Result<i32, Failure> {
    let mut commands = Vec::new();
    let mut strict = false;
    let mut flags = Flags::default();
    let mut file: Option<PathBuf> = None;
    let (mut log, mut record) = (None, None);
    while let Some((arg, rest)) = args.split_first() {
        if !is_option(arg) {
            break;
        }
        args = rest;
        let value = |args: &mut &[OsString], flag: &str| -> Result<OsString, Failure> {
            let Some((value, rest)) = args.split_first() else {
                return Err(Failure::Usage(format!("expect: {flag} needs a value")));
            };
            *args = rest;
            Ok(value.clone())
        };
        match arg.to_str().unwrap_or("") {
            "-c" => commands.push(value(&mut args, "-c")?.to_string_lossy().into_owned()),
            "-f" => {
                file = Some(PathBuf::from(value(&mut args, "-f")?));
                break;
            }
            "--strict" => strict = true,
            "--log" => log = Some(PathBuf::from(value(&mut args, "--log")?)),
            "--record" => record = Some(PathBuf::from(value(&mut args, "--record")?)),
            "--" => break,
            "-b" => {
                file = Some(PathBuf::from(value(&mut args, "-b")?));
                flags.buffered = true;
                break;
            }
            flag @ ("-d" | "-i" | "-n" | "-N" | "--trace") => flags.set(flag),
            "-D" => {
                return Err(Failure::Usage(
                    "expect: -D (Expect's interactive debugger) is not supported by ptychat \
                     expect; --trace shows each Expect command with its line (see docs/TCL.md)"
                        .into(),
                ));
            }
            "-v" => {
                println!(
                    "ptychat expect (Expect {} commands)",
                    ptychat::tcl::EXPECT_VERSION
                );
                return Ok(0);
            }
            _ => return Err(unknown_option("expect", arg)),
        }
    }
    // As in Expect, -i takes no script from the arguments (they all go to argv).
    if file.is_none() && !flags.interactive {
        if let Some((path, rest)) = args.split_first() {
            file = Some(PathBuf::from(path));
            args = rest;
        }
    }
    // Neither a script nor -c: as in Expect, -i on a terminal, else standard input is the
    // script.
    if file.is_none() && commands.is_empty() && !flags.interactive {
        if std::io::stdin().is_terminal() {
            flags.interactive = true;
        } else {
            file = Some(PathBuf::from("-"));
        }
    }
    let mut options = ExpectOptions::new(commands, strict);
    options.log = log;
    options.record = record;
    flags.apply(&mut options);
    Ok(run_expect(file.as_deref(), args, &options)?)
}

/// Expect's `-d`, `-i`, `-b` (and ptychat's `--trace`); `-n` and `-N` are accepted and
/// change nothing: ptychat expect reads no `~/.expect.rc` nor global rc file.
#[derive(Default)]
struct Flags {
    diagnostics: bool,
    interactive: bool,
    buffered: bool,
    trace: bool,
}

impl Flags {
    fn set(&mut self, flag: &str) {
        match flag {
            "-d" => self.diagnostics = true,
            "-i" => self.interactive = true,
            "--trace" => self.trace = true,
            _ => {}
        }
    }

    fn apply(&self, options: &mut ExpectOptions) {
        options.diagnostics = self.diagnostics;
        options.interactive = self.interactive;
        options.buffered = self.buffered;
        options.trace = self.trace;
    }
}
