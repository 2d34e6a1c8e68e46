//! Automating bc, the calculator, with the library: `cargo run --example bc`.
//!
//! The same conversation as `scripts/bc.ptychat`, written in Rust. Each step types a line
//! the way a person would and waits for bc's answer, with a deadline, so a bc that hangs
//! or answers something else fails with an error showing what it did print.

use std::time::Duration;

use ptychat::{Command, Pattern};

fn main() -> Result<(), ptychat::Error> {
    let mut bc = Command::new("bc")
        .args(["-q", "-l"]) // no banner; the math library, for a() (arctangent)
        .env("TERM", "dumb") // no bracketed-paste or colour sequences from readline
        .echo(false) // don't echo what we type: all we read is bc's answers
        .timeout(Some(Duration::from_secs(10)))
        .spawn()?;
    println!("Talking to bc (pid {}):", bc.pid());

    // An answer is a line of digits (perhaps with a point) ending in the terminal's \r\n.
    let answer = Pattern::regex(r"(-?[0-9.]+)\r\n")?;
    let mut ask = |question: &str| -> Result<String, ptychat::Error> {
        bc.send_line(question)?;
        let m = bc.expect(&answer)?;
        let value = String::from_utf8_lossy(m.group(1).unwrap_or_default()).into_owned();
        println!("  typed: {question:<22} bc answered: {value}");
        Ok(value)
    };

    let product = ask("6 * 7")?;
    ask(&format!("{product} * 1000"))?;
    ask("2 ^ 100")?;
    ask("scale = 20; 4 * a(1)")?;

    // When one of several things can happen, expect them all and see which came first.
    bc.send_line("1 / 0")?;
    let m = bc.expect([
        Pattern::regex(r"(?i)divide by zero[^\n]*\n")?,
        answer.clone(),
    ])?;
    match m.index() {
        0 => println!("  typed: 1 / 0                  bc refused: divide by zero"),
        _ => println!(
            "  typed: 1 / 0                  bc answered {}?!",
            m.matched_str()
        ),
    }

    bc.send_line("quit")?;
    bc.expect(Pattern::eof())?;
    let status = bc.wait()?;
    println!("  typed: quit                   bc exited with {status}");
    assert!(status.success(), "bc failed: {status}");
    Ok(())
}
