//! open3: a program's stdin, stdout and stderr as three pipes, with stdout and stderr kept
//! apart, like Perl's `IPC::Open3`.
//!
//! ```text
//! cargo run --example open3
//! ```
//!
//! First a one-shot command whose output and errors are collected separately, then a
//! conversation with a shell where each answer is awaited on the stream it comes on.

use std::time::Duration;

use ptychat::{Command, Pattern, StderrMode};

fn main() -> ptychat::Result<()> {
    // One shot: `ls` lists what exists on stdout and complains about the rest on stderr.
    let mut ls = Command::new("ls")
        .args(["-d", "/", "/no/such/path"])
        .env("LC_ALL", "C")
        .spawn_piped(StderrMode::Separate)?;
    // Collect each output to its end. Waiting on one drains the other too, so a program
    // that writes a lot to the stream we are not reading yet never blocks.
    let out = ls.expect(Pattern::eof())?;
    let err = ls.stderr().expect(Pattern::eof())?;
    let status = ls.wait()?;
    println!("ls stdout: {:?}", out.before_str());
    println!("ls stderr: {:?}", err.before_str());
    println!("ls ended with {status}");

    // A conversation: a shell reading commands from its stdin pipe. A shell writes each
    // line as it goes, so the answers come at once even though these are pipes, not a
    // terminal (with a block-buffering program, use a pty instead: `Command::spawn`).
    let mut sh = Command::new("sh")
        .env("LC_ALL", "C")
        .timeout(Some(Duration::from_secs(10)))
        .spawn_piped(StderrMode::Separate)?;

    sh.send_line("echo hello from stdout")?;
    let m = sh.expect("\n")?;
    println!("stdout said: {:?}", m.before_str());

    sh.send_line("echo hello from stderr >&2")?;
    let m = sh.stderr().expect("\n")?;
    println!("stderr said: {:?}", m.before_str());

    // A failing command: its complaint is on stderr; stdout only gets our marker after it.
    sh.send_line("cat /no/such/file; echo \"status $?\"")?;
    let complaint = sh.stderr().expect("\n")?;
    let status = sh.expect(Pattern::regex(r"status (\d+)\n")?)?;
    println!(
        "cat failed with status {}, saying {:?}",
        String::from_utf8_lossy(status.group(1).unwrap_or_default()),
        complaint.before_str()
    );

    // End of input: the shell reads end of file and exits.
    sh.close_input()?;
    sh.expect(Pattern::eof())?;
    sh.stderr().expect(Pattern::eof())?;
    println!("sh ended with {}", sh.wait()?);
    Ok(())
}
