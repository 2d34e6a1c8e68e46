//! [`SshProblem`]: why an ssh login failed, as [`Error::Ssh`](crate::Error::Ssh) says.

use std::fmt;
use std::path::PathBuf;

/// Why an ssh login ([`SshLogin::login`](crate::SshLogin::login)) failed, found in what
/// `ssh` printed. Carried by [`Error::Ssh`](crate::Error::Ssh) with ssh's own words.
///
/// A deadline that passes during the login is not one of these: it is the usual
/// [`Error::Timeout`](crate::Error::Timeout), naming what the login waited for and the
/// escaped tail of what arrived. `ssh` missing is [`Error::Spawn`](crate::Error::Spawn).
///
/// ```
/// use ptychat::SshProblem;
/// assert_eq!(
///     SshProblem::ConnectionRefused.to_string(),
///     "the connection was refused (nothing listens on that port)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SshProblem {
    /// The server refused the login (`Permission denied`): a wrong password, or no key
    /// it accepts. The login stops at the first refusal; it never tries a password twice.
    PermissionDenied,
    /// The server asked for a password and none was given
    /// ([`SshLogin::password`](crate::SshLogin::password)).
    PasswordRequired,
    /// `ssh` asked for the passphrase of an encrypted key. Logins take unencrypted keys,
    /// or keys held by an `ssh-agent`.
    PassphraseRequired,
    /// The server's host key differs from the one recorded in known_hosts (`REMOTE HOST
    /// IDENTIFICATION HAS CHANGED`): someone may be in the middle, or the server was
    /// reinstalled. Never accepted, whatever the [`HostKeyPolicy`](crate::HostKeyPolicy).
    HostKeyChanged {
        /// The known_hosts file with the recorded key, as ssh named it.
        known_hosts: Option<PathBuf>,
        /// The line of that key in the file.
        line: Option<u32>,
    },
    /// The server's host key is not in known_hosts and the policy is
    /// [`HostKeyPolicy::RequireKnown`](crate::HostKeyPolicy::RequireKnown).
    UnknownHostKey,
    /// Nothing listens on that address and port (`Connection refused`).
    ConnectionRefused,
    /// The host name could not be resolved.
    HostNotFound,
    /// The connection closed after the login was accepted and before the remote shell
    /// took the prompt: the account has no shell (`/bin/false`, `nologin`), a forced
    /// command ran, or the shell exited at once.
    ClosedAfterLogin {
        /// ssh's exit code, if it exited normally.
        code: Option<i32>,
    },
    /// `ssh` ended before the login finished, for a reason not listed above (a network
    /// error, the server closing the connection, a bad option...): ssh's words are in the
    /// error's tail.
    Exited {
        /// ssh's exit code, if it exited normally (255 for ssh's own errors).
        code: Option<i32>,
    },
}

impl fmt::Display for SshProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SshProblem::PermissionDenied => write!(
                f,
                "permission denied (a wrong password, or no key the server accepts)"
            ),
            SshProblem::PasswordRequired => {
                write!(f, "the server asked for a password and none was given")
            }
            SshProblem::PassphraseRequired => write!(
                f,
                "ssh asked for the passphrase of an encrypted key (use an unencrypted key or \
                 an ssh-agent)"
            ),
            SshProblem::HostKeyChanged { known_hosts, line } => {
                write!(
                    f,
                    "the server's host key has CHANGED from the one in known_hosts"
                )?;
                if let Some(path) = known_hosts {
                    write!(f, " ({}", path.display())?;
                    if let Some(line) = line {
                        write!(f, ", line {line}")?;
                    }
                    write!(f, ")")?;
                }
                write!(
                    f,
                    "; someone may be intercepting the connection, or the server was \
                     reinstalled"
                )
            }
            SshProblem::UnknownHostKey => write!(
                f,
                "the server's host key is not in known_hosts, and the policy requires a \
                 known key"
            ),
            SshProblem::ConnectionRefused => {
                write!(
                    f,
                    "the connection was refused (nothing listens on that port)"
                )
            }
            SshProblem::HostNotFound => write!(f, "the host name could not be resolved"),
            SshProblem::ClosedAfterLogin { code } => write!(
                f,
                "the connection closed after the login, before the remote shell showed the \
                 prompt (no shell for the account, or a forced command?){}",
                code_text(*code)
            ),
            SshProblem::Exited { code } => {
                write!(f, "ssh ended before the login finished{}", code_text(*code))
            }
        }
    }
}

fn code_text(code: Option<i32>) -> String {
    code.map_or(String::new(), |code| format!(" (exit code {code})"))
}
