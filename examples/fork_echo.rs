//! Talking to yourself (perlipc, "Bidirectional Communication with Yourself"): fork a child
//! that runs a closure, and drive it with the expect engine.
//!
//! First over a socketpair, with a child that upper-cases lines; then on a pseudo-terminal,
//! with a child that reads `std::io::stdin()` and answers with `println!`.
//!
//! ```text
//! cargo run --example fork_echo
//! ```

use std::io::{BufRead, BufReader, Write};

use ptychat::{Pattern, fork};

fn main() -> ptychat::Result<()> {
    // Fork first thing, while the process has a single thread.
    let mut child = fork::socketpair_child(|stream| {
        let mut out = &stream;
        for line in BufReader::new(&stream).lines() {
            let line = line.expect("reading from the parent");
            writeln!(out, "child {}: {}", std::process::id(), line.to_uppercase())
                .expect("writing to the parent");
        }
        0 // the child's exit code
    })?;
    println!("parent {} forked child {}", std::process::id(), child.pid());
    let line = Pattern::regex(r"(?m)^child \d+: (.*)\n")?;
    for word in ["hello", "bidirectional", "world"] {
        child.send_line(word)?;
        let m = child.expect(&line)?;
        println!(
            "sent {word:?}, got {:?}",
            String::from_utf8_lossy(m.group(1).unwrap())
        );
    }
    child.close_input()?; // the child's loop sees end of file
    child.expect(Pattern::eof())?;
    println!("socketpair child: {}", child.wait()?);

    // The same on a pseudo-terminal: the closure's stdio is the terminal.
    let mut child = fork::pty_child(|| {
        println!("What is your name?");
        let mut name = String::new();
        std::io::stdin()
            .read_line(&mut name)
            .expect("reading the terminal");
        println!(
            "Hello, {}! (stdin is a terminal: {})",
            name.trim(),
            is_tty()
        );
        3
    })?;
    child.expect("What is your name?")?;
    child.send_line("ptychat")?;
    let m = child.expect(Pattern::regex(r"Hello, .*\r\n")?)?;
    print!(
        "pty child said: {}",
        String::from_utf8_lossy(m.matched()).replace('\r', "")
    );
    child.expect(Pattern::eof())?;
    println!("pty child: {}", child.wait()?);
    Ok(())
}

fn is_tty() -> bool {
    nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
}
