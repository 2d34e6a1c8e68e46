//! A line-oriented "Command? " server, after the interactive TCP server in perlipc(1)
//! ("Internet TCP Clients and Servers"), to try ptychat's stream sessions against.
//!
//! ```text
//! cargo run --example command_server                  # TCP on 127.0.0.1:9000
//! cargo run --example command_server 127.0.0.1:0      # any free port (printed)
//! cargo run --example command_server --unix /tmp/cmd.sock
//! ```
//!
//! Each client gets a welcome line and the prompt `Command? `, and then one answer and a
//! new prompt per line it sends:
//!
//! - `date` or `time`: the current time in UTC, like Perl's `scalar gmtime`;
//! - `who`: the output of `who` (empty on machines nobody is logged in to);
//! - `motd`: `/etc/motd`, or a fixed message when there is none;
//! - `quit` or `exit`: the server closes the connection;
//! - blank lines are ignored; anything else gets the list of commands.
//!
//! Clients are served concurrently, one thread each. `tests/streams.rs` includes this file
//! as a module to run the server in-process.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::time::{SystemTime, UNIX_EPOCH};

/// The prompt sent before each command is read.
pub const PROMPT: &str = "Command? ";

/// The message of the day when `/etc/motd` is missing or empty.
pub const DEFAULT_MOTD: &str = "Welcome to the ptychat command server. Be nice.\n";

/// The help line, sent for a command the server does not know.
pub const HELP: &str = "Commands: quit date who motd\n";

/// Accepts TCP clients forever, serving each on a thread of its own.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    for client in listener.incoming() {
        let client = client?;
        std::thread::spawn(move || {
            let reader = client.try_clone()?;
            handle(reader, client)
        });
    }
    Ok(())
}

/// Accepts Unix-domain clients forever, serving each on a thread of its own.
pub fn serve_unix(listener: UnixListener) -> io::Result<()> {
    for client in listener.incoming() {
        let client = client?;
        std::thread::spawn(move || {
            let reader = client.try_clone()?;
            handle(reader, client)
        });
    }
    Ok(())
}

/// Runs the conversation with one client until it says `quit` or hangs up.
pub fn handle(reader: impl Read, mut writer: impl Write) -> io::Result<()> {
    writer.write_all(b"Welcome to the command server; type help for the command list.\n")?;
    writer.write_all(PROMPT.as_bytes())?;
    writer.flush()?;
    for line in BufReader::new(reader).lines() {
        let line = line?;
        let command = line.trim().to_ascii_lowercase();
        let answer = match command.as_str() {
            "" => String::new(),
            "quit" | "exit" => break,
            "date" | "time" => format!("{}\n", gmtime(SystemTime::now())),
            "who" => who(),
            "motd" => motd(),
            _ => HELP.to_owned(),
        };
        writer.write_all(answer.as_bytes())?;
        writer.write_all(PROMPT.as_bytes())?;
        writer.flush()?;
    }
    // Dropping the connection is the client's end of file.
    Ok(())
}

/// The message of the day: `/etc/motd` if it has something to say, else [`DEFAULT_MOTD`].
pub fn motd() -> String {
    match std::fs::read_to_string("/etc/motd") {
        Ok(text) if !text.trim().is_empty() => {
            if text.ends_with('\n') {
                text
            } else {
                text + "\n"
            }
        }
        _ => DEFAULT_MOTD.to_owned(),
    }
}

/// Who is logged in, as `who` says (errors included, as perlipc's `who 2>&1` does).
fn who() -> String {
    match std::process::Command::new("who").output() {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            text
        }
        Err(e) => format!("who: {e}\n"),
    }
}

/// `time` in UTC in the format of C's `asctime` (and Perl's `scalar gmtime`), without the
/// newline: `Sun Sep  9 01:46:40 2001`.
pub fn gmtime(time: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        year
    )
}

/// The (year, month 1-12, day 1-31) of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for dates from 1970 on).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, path] if flag == "--unix" => {
            let _ = std::fs::remove_file(path);
            let listener = UnixListener::bind(path)?;
            eprintln!("command server listening on {path}");
            serve_unix(listener)
        }
        [] | [_] => {
            let address = args.first().map_or("127.0.0.1:9000", String::as_str);
            let listener = TcpListener::bind(address)?;
            eprintln!("command server listening on {}", listener.local_addr()?);
            serve(listener)
        }
        _ => {
            eprintln!("usage: command_server [ADDRESS:PORT | --unix PATH]");
            std::process::exit(2);
        }
    }
}
