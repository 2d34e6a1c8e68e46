//! `ptychat chat [-t SECONDS] [-v] [--] EXPECT SEND ... -- PROGRAM [ARGS...]`: a
//! dialogue in the style of chat(8), held with a program on a pseudo-terminal.
//!
//! The strings alternate: wait for EXPECT, then type SEND followed by Enter (`\r`, left
//! out if SEND ends in `\c`). An empty EXPECT (`''`) waits for nothing. The pairs
//! `ABORT TEXT` (fail if TEXT appears while expecting) and `TIMEOUT SECONDS` (the deadline
//! of the following expects) are keywords, as in chat(8). After the last pair, ptychat
//! waits for the program's output to end and for it to exit, and exits with its status.
//!
//! Unlike chat(8), failures exit with 1 (not 3 for a timeout or 4+ for an ABORT): the
//! message tells which.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use ptychat::script::parse_seconds;
use ptychat::{Command, DEFAULT_TIMEOUT, Pattern, escape};

use crate::{Failure, is_option};

/// One expect-send pair, or a keyword pair.
#[derive(Debug, PartialEq)]
enum Step {
    /// Wait for `expect` (unless empty), then type `send`.
    Exchange {
        expect: Vec<u8>,
        send: Option<Vec<u8>>,
    },
    /// `ABORT TEXT`
    Abort(Vec<u8>),
    /// `TIMEOUT SECONDS`
    Timeout(Option<Duration>),
}

#[derive(Debug)]
struct Chat {
    timeout: Option<Duration>,
    verbose: bool,
    steps: Vec<Step>,
    program: Vec<OsString>,
}

pub(crate) fn main(args: &[OsString]) -> Result<i32, Failure> {
    match parse(args).map_err(|m| Failure::Usage(format!("chat: {m}")))? {
        Some(chat) => run(&chat),
        None => {
            print!("{}", crate::HELP);
            Ok(0)
        }
    }
}

/// Parses the command line; `None` asks for help.
fn parse(args: &[OsString]) -> Result<Option<Chat>, String> {
    let mut timeout = Some(DEFAULT_TIMEOUT);
    let mut verbose = false;
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        if !is_option(arg) {
            break;
        }
        i += 1;
        match arg.to_str().unwrap_or("") {
            "--" => break,
            "-v" | "--verbose" => verbose = true,
            "-t" | "--timeout" => {
                let value = args.get(i).ok_or("-t needs SECONDS")?;
                timeout = parse_seconds(value.as_bytes())?;
                i += 1;
            }
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unknown option `{}`", arg.to_string_lossy())),
        }
    }
    let rest = &args[i..];
    let Some(split) = rest.iter().position(|a| a == "--") else {
        return Err("put `--` between the dialogue and the program".into());
    };
    let (dialogue, program) = (&rest[..split], &rest[split + 1..]);
    if program.is_empty() {
        return Err("missing PROGRAM after `--`".into());
    }
    let mut steps = Vec::new();
    for (n, pair) in dialogue.chunks(2).enumerate() {
        let expect = pair[0].as_bytes();
        let send = pair.get(1).map(|s| s.as_bytes());
        let at = |m: String| format!("pair {} ({:?}): {m}", n + 1, pair[0]);
        let step = match (expect, send) {
            (b"ABORT", Some(text)) => Step::Abort(decode(text, false).map_err(at)?.0),
            (b"TIMEOUT", Some(value)) => Step::Timeout(parse_seconds(value).map_err(at)?),
            (b"ABORT" | b"TIMEOUT", None) => return Err(at("the keyword needs a value".into())),
            (expect, send) => Step::Exchange {
                expect: decode(expect, false).map_err(at)?.0,
                send: match send {
                    Some(send) => {
                        let (mut bytes, enter) = decode(send, true).map_err(at)?;
                        if enter {
                            bytes.push(b'\r');
                        }
                        Some(bytes)
                    }
                    None => None,
                },
            },
        };
        steps.push(step);
    }
    Ok(Some(Chat {
        timeout,
        verbose,
        steps,
        program: program.to_vec(),
    }))
}

/// Decodes chat(8) escapes. Returns the bytes and whether Enter should follow (false if
/// a send string ends in `\c`).
fn decode(text: &[u8], send: bool) -> Result<(Vec<u8>, bool), String> {
    let mut out = Vec::with_capacity(text.len());
    let mut enter = true;
    let mut bytes = text.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'\\' => match bytes.next() {
                Some(b'r') => out.push(b'\r'),
                Some(b'n') => out.push(b'\n'),
                Some(b't') => out.push(b'\t'),
                Some(b's') => out.push(b' '),
                Some(b'\\') => out.push(b'\\'),
                Some(b'^') => out.push(b'^'),
                Some(b'c') if send && bytes.peek().is_none() => enter = false,
                Some(b'c') if send => return Err("\\c must end the string".into()),
                Some(other) => {
                    return Err(format!("unknown escape \\{}", char::from(other)));
                }
                None => return Err("the string ends with a lone \\".into()),
            },
            b'^' => match bytes.next() {
                Some(c @ (b'a'..=b'z' | b'A'..=b'Z')) => out.push(c.to_ascii_uppercase() - b'@'),
                Some(c @ (b'@' | b'[' | b'\\' | b']' | b'^' | b'_')) => out.push(c - b'@'),
                Some(b'?') => out.push(0x7f),
                _ => {
                    return Err(
                        "^ must be followed by a letter or @ [ \\ ] ^ _ ? (write \\^ for ^)".into(),
                    );
                }
            },
            b => out.push(b),
        }
    }
    Ok((out, enter))
}

fn run(chat: &Chat) -> Result<i32, Failure> {
    let mut session = Command::new(&chat.program[0])
        .args(&chat.program[1..])
        .timeout(chat.timeout)
        .spawn()?;
    let echo = |bytes: &[u8]| {
        if chat.verbose {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(bytes);
            let _ = stderr.flush();
        }
    };
    let mut aborts: Vec<Vec<u8>> = Vec::new();
    let mut timeout = chat.timeout;
    for step in &chat.steps {
        match step {
            Step::Abort(text) => aborts.push(text.clone()),
            Step::Timeout(t) => timeout = *t,
            Step::Exchange { expect, send } => {
                if !expect.is_empty() {
                    let mut patterns = vec![Pattern::exact(expect)];
                    patterns.extend(aborts.iter().map(Pattern::exact));
                    let m = session.expect_timeout(&patterns, timeout).map_err(|e| {
                        Failure::Failed(format!("chat: expecting \"{}\": {e}", escape(expect)))
                    })?;
                    echo(m.before());
                    echo(m.matched());
                    if m.index() > 0 {
                        return Err(Failure::Failed(format!(
                            "chat: ABORT string \"{}\" appeared while expecting \"{}\"",
                            escape(m.matched()),
                            escape(expect)
                        )));
                    }
                }
                if let Some(send) = send {
                    session.send(send)?;
                }
            }
        }
    }
    // Wait for the program, not for the end of its output: a background job of its may
    // hold the terminal open. What it wrote meanwhile is shown.
    let status = session.wait_timeout(timeout)?.ok_or_else(|| {
        Failure::Failed(format!(
            "chat: the program did not exit within {:?}",
            timeout.unwrap_or_default()
        ))
    })?;
    session.read_available()?;
    echo(&session.take_buffer());
    Ok(status.shell_code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os_args as args;

    #[test]
    fn parses_pairs_keywords_and_program() {
        let chat = parse(&args(&[
            "-t", "5", "--", "", "hi", "ABORT", "BUSY", "ok", "bye\\c", "TIMEOUT", "none", "x",
            "--", "cat", "-u",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(chat.timeout, Some(Duration::from_secs(5)));
        assert_eq!(chat.program, args(&["cat", "-u"]));
        assert_eq!(
            chat.steps,
            vec![
                Step::Exchange {
                    expect: vec![],
                    send: Some(b"hi\r".to_vec())
                },
                Step::Abort(b"BUSY".to_vec()),
                Step::Exchange {
                    expect: b"ok".to_vec(),
                    send: Some(b"bye".to_vec())
                },
                Step::Timeout(None),
                Step::Exchange {
                    expect: b"x".to_vec(),
                    send: None
                },
            ]
        );
    }

    #[test]
    fn decodes_escapes() {
        assert_eq!(
            decode(br"a\sb\t^C\^\\", true),
            Ok((b"a b\t\x03^\\".to_vec(), true))
        );
        assert_eq!(decode(br"x\c", true), Ok((b"x".to_vec(), false)));
        assert!(decode(br"\c", false).is_err());
        assert!(decode(br"\cx", true).is_err());
        assert!(decode(b"^1", true).is_err());
        assert!(decode(br"\q", true).is_err());
    }

    #[test]
    fn rejects_bad_command_lines() {
        assert!(
            parse(&args(&["a", "b", "cat"]))
                .unwrap_err()
                .contains("put `--`")
        );
        assert!(
            parse(&args(&["a", "b", "--"]))
                .unwrap_err()
                .contains("missing PROGRAM")
        );
        assert!(parse(&args(&["-t"])).unwrap_err().contains("-t needs"));
        assert!(parse(&args(&["-t", "x", "--", "--", "cat"])).is_err());
        assert!(
            parse(&args(&["-q", "--", "cat"]))
                .unwrap_err()
                .contains("unknown option")
        );
        assert!(
            parse(&args(&["ABORT", "--", "cat"]))
                .unwrap_err()
                .contains("needs a value")
        );
    }
}
