//! `ptychat expect [-c CMD]... [--strict] [--log FILE] [--record FILE] [-f FILE | FILE]
//! [--] [ARGS...]`: runs a Tcl Expect script with the real Tcl interpreter and Expect's
//! commands on ptychat's engine. The flags mean what they mean to Expect; `--strict`,
//! `--log` and `--record` are ptychat's own.

use std::ffi::OsString;
use std::path::PathBuf;

use ptychat::tcl::{ExpectOptions, run_expect};

use crate::{Failure, is_option, unknown_option};

pub(crate) fn main(mut args: &[OsString]) -> Result<i32, Failure> {
    let mut commands = Vec::new();
    let mut strict = false;
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
            "-d" | "-D" | "-i" | "-b" | "-n" | "-N" => {
                return Err(Failure::Usage(format!(
                    "expect: {} is not supported by ptychat expect (see docs/TCL.md)",
                    arg.to_string_lossy()
                )));
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
    if file.is_none() {
        if let Some((path, rest)) = args.split_first() {
            file = Some(PathBuf::from(path));
            args = rest;
        }
    }
    if file.is_none() && commands.is_empty() {
        return Err(Failure::Usage(
            "expect: missing SCRIPT (ptychat expect has no interactive mode)".into(),
        ));
    }
    let mut options = ExpectOptions::new(commands, strict);
    options.log = log;
    options.record = record;
    Ok(run_expect(file.as_deref(), args, &options)?)
}
