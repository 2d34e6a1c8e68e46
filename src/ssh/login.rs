//! The login itself: spawn `ssh`, answer it until the marker shows, set the prompt.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{HostKeyPolicy, SshLogin, SshProblem};
use crate::deadline::Deadline;
use crate::engine::output::Stream;
use crate::engine::pattern::Pattern;
use crate::engine::session::ERROR_TAIL;
use crate::error::{Error, Result};
use crate::escape::escape_tail;
use crate::transport::command::Command;
use crate::transport::pty::PtySession;

/// A random 16-hex-digit nonce: std's randomly keyed hasher over the time, the process
/// and a counter (no crate needed for a value that only has to be unguessable by chance
/// output).
pub(super) fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    format!("{:016x}", hasher.finish())
}

/// The patterns watched until the server accepts the login, by index.
mod before_login {
    pub(super) const QUESTION: usize = 0;
    pub(super) const CHANGED: usize = 1;
    pub(super) const UNKNOWN: usize = 2;
    pub(super) const DENIED: usize = 3;
    pub(super) const PASSWORD: usize = 4;
    pub(super) const PASSPHRASE: usize = 5;
    pub(super) const REFUSED: usize = 6;
    pub(super) const NOT_FOUND: usize = 7;
    pub(super) const MARKER: usize = 8;
    pub(super) const EOF: usize = 9;
}

fn login_patterns(marker: &str) -> Result<Vec<Pattern>> {
    Ok(vec![
        Pattern::regex(r"Are you sure you want to continue connecting \([^)\r\n]*\)\? ")?,
        Pattern::exact("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        Pattern::regex(r"No \S+ host key is known for|Host key verification failed\.")?,
        Pattern::regex(r"Permission denied[ ,(]|Too many authentication failures")?,
        // ssh's own prompt (`user@host's password: `) and PAM's (`Password: `, or
        // `(user@host) Password: `); the space after the colon keeps a banner's prose out.
        Pattern::regex(r"[Pp]assword[^\r\n]{0,100}: ")?,
        Pattern::regex(r"Enter passphrase for [^\r\n]{0,300}: ")?,
        Pattern::exact("Connection refused"),
        Pattern::exact("Could not resolve hostname"),
        Pattern::exact(marker),
        Pattern::eof(),
    ])
}

/// Runs the login described by `ssh` within `deadline`.
pub(super) fn run(ssh: &SshLogin, mut deadline: Deadline) -> Result<PtySession> {
    let args = ssh.args()?;
    let mut command = Command::new(&ssh.program);
    command.args(&args).env("TERM", "dumb").timeout(ssh.timeout);
    let mut session = command.spawn()?;
    let mut login = Login {
        ssh,
        session: &mut session,
        seen: Vec::new(),
    };
    login.until_accepted(&mut deadline)?;
    login.set_prompt(&mut deadline)?;
    Ok(session)
}

struct Login<'a> {
    ssh: &'a SshLogin,
    session: &'a mut PtySession,
    /// What ssh printed so far and the login took out of the buffer, for error tails.
    seen: Vec<u8>,
}

impl Login<'_> {
    /// Waits for `patterns`, keeping what they consume for error tails.
    fn expect(&mut self, patterns: &[Pattern], deadline: &mut Deadline) -> Result<usize> {
        let m = self
            .session
            .expect_until(Stream::Main, patterns.into(), deadline, None)?;
        self.seen.extend_from_slice(m.before());
        self.seen.extend_from_slice(m.matched());
        Ok(m.index())
    }

    /// Answers ssh until the server accepts the login (the marker shows).
    fn until_accepted(&mut self, deadline: &mut Deadline) -> Result<()> {
        use before_login::*;
        let patterns = login_patterns(&self.ssh.marker())?;
        let mut password_sent = false;
        loop {
            match self.expect(&patterns, deadline)? {
                QUESTION => {
                    // Only if a config forced the question despite our option.
                    let answer = match self.ssh.host_keys {
                        HostKeyPolicy::AcceptNew => "yes",
                        HostKeyPolicy::RequireKnown => "no",
                    };
                    self.session.send_line(answer)?;
                }
                CHANGED => {
                    self.read_to_end(deadline);
                    let (known_hosts, line) = offending_key(&self.seen);
                    return Err(self.fail(SshProblem::HostKeyChanged { known_hosts, line }));
                }
                UNKNOWN => {
                    self.read_to_end(deadline);
                    return Err(self.fail(SshProblem::UnknownHostKey));
                }
                DENIED => return Err(self.fail(SshProblem::PermissionDenied)),
                PASSWORD => {
                    let Some(password) = &self.ssh.password else {
                        return Err(self.fail(SshProblem::PasswordRequired));
                    };
                    if password_sent {
                        // Asked again without a `Permission denied` line: still a refusal.
                        return Err(self.fail(SshProblem::PermissionDenied));
                    }
                    self.wait_for_echo_off(deadline)?;
                    let mut line = password.clone().into_bytes();
                    line.push(b'\r');
                    self.session.send_secret(line)?;
                    password_sent = true;
                }
                PASSPHRASE => return Err(self.fail(SshProblem::PassphraseRequired)),
                REFUSED => {
                    self.read_to_end(deadline);
                    return Err(self.fail(SshProblem::ConnectionRefused));
                }
                NOT_FOUND => {
                    self.read_to_end(deadline);
                    return Err(self.fail(SshProblem::HostNotFound));
                }
                MARKER => return Ok(()),
                EOF => {
                    let code = self.exit_code(deadline);
                    return Err(self.fail(SshProblem::Exited { code }));
                }
                _ => unreachable!("a pattern index out of the list"),
            }
        }
    }

    /// Sets the prompt and waits for it: the banner, MOTD and startup files come first.
    fn set_prompt(&mut self, deadline: &mut Deadline) -> Result<()> {
        let nonce = &self.ssh.nonce;
        self.session.send_line(format!(
            " unset PROMPT_COMMAND; PS1='[ptychat-{nonce}]''$ '"
        ))?;
        let patterns = [Pattern::exact(self.ssh.prompt()), Pattern::eof()];
        if self.expect(&patterns, deadline)? == 1 {
            let code = self.exit_code(deadline);
            return Err(self.fail(SshProblem::ClosedAfterLogin { code }));
        }
        Ok(())
    }

    /// Waits until ssh has turned the terminal's echo off for the password, so it is not
    /// echoed into the output (OpenSSH turns it off before it prints the prompt; this
    /// is for clients that do not).
    fn wait_for_echo_off(&mut self, deadline: &Deadline) -> Result<()> {
        if self.session.wait_for_echo_off(deadline.remaining())? {
            return Ok(());
        }
        Err(Error::Timeout {
            patterns: "the terminal's echo to be off before sending the password".into(),
            timeout: deadline.timeout().unwrap_or_default(),
            waited: deadline.elapsed(),
            buffered: self.session.buffer().len(),
            discarded: 0,
            tail: escape_tail(&self.seen, ERROR_TAIL),
            hint: String::new(),
        })
    }

    /// Reads what ssh prints until it exits (it is about to: it said why it fails), for
    /// the error's tail; gives up quietly at the deadline, or after a few seconds.
    fn read_to_end(&mut self, deadline: &Deadline) {
        let mut until = deadline.within(Duration::from_secs(5));
        let _ = self.expect(&[Pattern::eof()], &mut until);
    }

    /// ssh's exit code, once its output has ended.
    fn exit_code(&mut self, deadline: &Deadline) -> Option<i32> {
        let wait = deadline.remaining().map_or(Duration::from_secs(5), |left| {
            left.min(Duration::from_secs(5))
        });
        match self.session.wait_timeout(Some(wait)) {
            Ok(Some(status)) => status.code(),
            _ => None,
        }
    }

    /// The error for `problem`, with the tail of what ssh printed (unconsumed output
    /// included).
    fn fail(&mut self, problem: SshProblem) -> Error {
        self.seen.extend_from_slice(self.session.buffer());
        Error::Ssh {
            destination: self.ssh.destination(),
            problem,
            tail: escape_tail(&self.seen, ERROR_TAIL),
        }
    }
}

/// The known_hosts file and line of the recorded key from ssh's `Offending ... key in
/// FILE:LINE` line.
fn offending_key(output: &[u8]) -> (Option<PathBuf>, Option<u32>) {
    let text = String::from_utf8_lossy(output);
    let Some(start) = text.find("Offending ") else {
        return (None, None);
    };
    let line = text[start..].lines().next().unwrap_or_default().trim_end();
    let Some((_, location)) = line.split_once(" key in ") else {
        return (None, None);
    };
    match location.rsplit_once(':') {
        Some((path, number)) => match number.parse() {
            Ok(number) => (Some(PathBuf::from(path)), Some(number)),
            Err(_) => (Some(PathBuf::from(location)), None),
        },
        None => (Some(PathBuf::from(location)), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_differ() {
        let (a, b) = (nonce(), nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn offending_key_is_parsed() {
        let output = b"Add correct host key in /tmp/k h/known to get rid of this message.\r\r\n\
                       Offending ED25519 key in /tmp/k h/known:3\r\r\n  remove with:\r\r\n";
        assert_eq!(
            offending_key(output),
            (Some(PathBuf::from("/tmp/k h/known")), Some(3))
        );
        assert_eq!(offending_key(b"nothing"), (None, None));
    }
}
