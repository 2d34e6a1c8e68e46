//! ssh logins: [`SshLogin`] (the builder, whose documentation is the guide), the login's
//! steps (`login.rs`) and [`SshProblem`] (`problem.rs`).

mod login;
mod problem;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::engine::session::DEFAULT_TIMEOUT;
use crate::error::{Error, Result};
use crate::transport::pty::PtySession;

pub use problem::SshProblem;

/// What a login does with the server's host key. Whatever the policy, a key that differs
/// from the recorded one fails the login with
/// [`SshProblem::HostKeyChanged`](SshProblem::HostKeyChanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HostKeyPolicy {
    /// A host not in known_hosts yet is accepted and its key recorded there (ssh's
    /// `StrictHostKeyChecking=accept-new`; pexpect's pxssh likewise answers "yes"). The
    /// default.
    #[default]
    AcceptNew,
    /// A host not in known_hosts is rejected with
    /// [`SshProblem::UnknownHostKey`](SshProblem::UnknownHostKey)
    /// (`StrictHostKeyChecking=yes`); nothing is recorded.
    RequireKnown,
}

impl HostKeyPolicy {
    /// The value of `StrictHostKeyChecking` for this policy.
    fn strict_host_key_checking(self) -> &'static str {
        match self {
            HostKeyPolicy::AcceptNew => "accept-new",
            HostKeyPolicy::RequireKnown => "yes",
        }
    }
}

/// The options the login sets itself (see [`SshLogin`]'s documentation), lower-case.
const OWN_OPTIONS: [&str; 7] = [
    "stricthostkeychecking",
    "userknownhostsfile",
    "permitlocalcommand",
    "localcommand",
    "controlpath",
    "controlmaster",
    "escapechar",
];

/// An ssh login to build and run: spawns `ssh` on a pty (an argument vector, no shell),
/// answers its questions, and returns the remote shell with a unique prompt set.
///
/// Built through `&mut self` like [`Command`](crate::Command); [`login`](SshLogin::login)
/// takes `&self`, so [`prompt`](SshLogin::prompt) stays at hand and one builder can log
/// in several times (with the same prompt).
///
/// ```no_run
/// use std::time::Duration;
/// use ptychat::{Error, SshLogin, SshProblem};
///
/// let mut ssh = SshLogin::new("10.0.0.7");
/// ssh.port(2222).user("admin").password("hunter2").timeout(Some(Duration::from_secs(20)));
/// match ssh.login() {
///     Ok(mut shell) => {
///         shell.send_line("id -un")?;
///         shell.expect(ssh.prompt())?;
///     }
///     Err(Error::Ssh { problem: SshProblem::PermissionDenied, .. }) => eprintln!("wrong password"),
///     Err(e) => return Err(e),
/// }
/// # Ok::<(), ptychat::Error>(())
/// ```
///
/// A key login, the host key required to be known already:
///
/// ```no_run
/// use ptychat::{HostKeyPolicy, SshLogin};
///
/// let mut ssh = SshLogin::new("build.example.org");
/// ssh.user("ci")
///     .identity_file("/home/ci/.ssh/id_ed25519")
///     .host_key_policy(HostKeyPolicy::RequireKnown);
/// let mut shell = ssh.login()?;
/// shell.send_line("uname -r")?;
/// let m = shell.expect(ssh.prompt())?;
/// println!("kernel: {}", m.before_str()); // the echoed command, then its output
/// shell.send_line("exit")?;
/// # Ok::<(), ptychat::Error>(())
/// ```
///
/// ## How the login is synchronised
///
/// pexpect's `pxssh` guesses when the remote shell is ready by timing how fast its first
/// prompts come back, which fails on slow servers ("could not synchronize with original
/// prompt", pexpect issues 7 and 803), and watches for the word "password" also after the
/// login, where a MOTD may contain it. Here nothing is timed:
///
/// - `ssh` runs a local marker command once the server has accepted the login
///   (`-o PermitLocalCommand=yes -o LocalCommand=echo <marker>`, with a random marker):
///   until it shows, the login watches for ssh's questions and failures; after it, no
///   password prompt can come, so nothing typed later can end up as a password.
/// - Then it sends ` unset PROMPT_COMMAND; PS1='[ptychat-<nonce>]''$ '` (the quotes keep
///   the prompt itself out of the echo; the leading space keeps it out of shells'
///   history) and waits for that prompt, however long the banner, MOTD or the remote
///   startup files take. [`SshLogin::prompt`] is the prompt; everything up to it has
///   been consumed.
///
/// The remote login shell must be a POSIX-like shell (sh, dash, bash, ksh, zsh): `PS1` is
/// set with shell syntax. For a device with a menu or a shell of its own (pexpect issues
/// 228 and 245), spawn `ssh` with [`Command`](crate::Command) and expect its prompt.
///
/// ## Errors
///
/// Each failure has its own [`SshProblem`] in [`Error::Ssh`](crate::Error::Ssh), with the
/// escaped tail of what ssh printed: a wrong password or refused key
/// ([`PermissionDenied`](SshProblem::PermissionDenied)), a changed host key
/// ([`HostKeyChanged`](SshProblem::HostKeyChanged)), an unknown one under
/// [`HostKeyPolicy::RequireKnown`] ([`UnknownHostKey`](SshProblem::UnknownHostKey)), a
/// refused connection ([`ConnectionRefused`](SshProblem::ConnectionRefused)), and more. A
/// deadline that passes is the usual [`Error::Timeout`](crate::Error::Timeout), and `ssh`
/// not installed is [`Error::Spawn`](crate::Error::Spawn).
///
/// ## Options the login sets, and why
///
/// Given on the command line, they come before the user's `-o` options and ssh's config
/// files (ssh keeps the first value it sees), so the login behaves the same whatever
/// `~/.ssh/config` says; [`SshLogin::option`] refuses to set them again.
///
/// - `StrictHostKeyChecking=accept-new` or `yes`, from the [`HostKeyPolicy`], rather than
///   answering the "Are you sure you want to continue connecting" question: a config that
///   says `no` would otherwise let a changed key through with only a warning, and the
///   option needs no parsing of a question whose wording changes between versions (if
///   the question comes anyway, it is answered as the policy says). OpenSSH 7.6 or newer.
/// - `UserKnownHostsFile=<file>` when [`SshLogin::known_hosts`] is given.
/// - `PermitLocalCommand=yes`, `LocalCommand=echo <marker>`: the synchronisation above.
/// - `ControlPath=none`: a connection through an existing master runs no local command.
/// - `-e none` (no escape character): a line sent to the session that starts with `~`
///   reaches the remote shell instead of being taken by ssh (`~.` would disconnect).
/// - `IdentitiesOnly=yes` with [`SshLogin::identity_file`]: only that key is offered, so
///   an agent full of keys cannot exhaust the server's attempts first.
/// - `TERM=dumb` in ssh's environment, which ssh passes to the remote terminal: no
///   colours or title escapes in the output.
#[derive(Clone)]
pub struct SshLogin {
    host: String,
    port: Option<u16>,
    user: Option<String>,
    options: Vec<(String, String)>,
    identity: Option<PathBuf>,
    password: Option<String>,
    host_keys: HostKeyPolicy,
    known_hosts: Option<PathBuf>,
    config_file: Option<PathBuf>,
    program: OsString,
    timeout: Option<Duration>,
    nonce: String,
}

impl SshLogin {
    /// A login to `host` (a name or an address), as the current user, on port 22 unless
    /// ssh's config says otherwise, with [`HostKeyPolicy::AcceptNew`] and the crate's
    /// default deadline ([`DEFAULT_TIMEOUT`]).
    ///
    /// ```
    /// let ssh = ptychat::SshLogin::new("example.org");
    /// assert!(ssh.prompt().starts_with("[ptychat-"));
    /// ```
    pub fn new(host: impl Into<String>) -> Self {
        SshLogin {
            host: host.into(),
            port: None,
            user: None,
            options: Vec::new(),
            identity: None,
            password: None,
            host_keys: HostKeyPolicy::default(),
            known_hosts: None,
            config_file: None,
            program: "ssh".into(),
            timeout: Some(DEFAULT_TIMEOUT),
            nonce: login::nonce(),
        }
    }

    /// The port (`-p`).
    pub fn port(&mut self, port: u16) -> &mut Self {
        self.port = Some(port);
        self
    }

    /// The remote user (`-l`).
    pub fn user(&mut self, user: impl Into<String>) -> &mut Self {
        self.user = Some(user.into());
        self
    }

    /// The password, sent when the server asks for one (with
    /// [`send_secret`](crate::Session::send_secret), once ssh has turned the terminal's
    /// echo off: it reaches no transcript, trace or log). Without one, a password prompt
    /// fails the login with [`SshProblem::PasswordRequired`].
    pub fn password(&mut self, password: impl Into<String>) -> &mut Self {
        self.password = Some(password.into());
        self
    }

    /// The private key to log in with (`-i`, and `-o IdentitiesOnly=yes`). It must not
    /// need a passphrase ([`SshProblem::PassphraseRequired`]); keys held by an
    /// `ssh-agent` need no identity file.
    pub fn identity_file(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.identity = Some(path.into());
        self
    }

    /// What to do with a host key not seen before (the default is
    /// [`HostKeyPolicy::AcceptNew`]). A changed key always fails.
    pub fn host_key_policy(&mut self, policy: HostKeyPolicy) -> &mut Self {
        self.host_keys = policy;
        self
    }

    /// The known_hosts file to check and record host keys in (`-o UserKnownHostsFile`);
    /// by default ssh's own (`~/.ssh/known_hosts`).
    pub fn known_hosts(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.known_hosts = Some(path.into());
        self
    }

    /// ssh's config file (`-F`): `/dev/null` (or `none`) for none at all, so neither
    /// `~/.ssh/config` nor the system-wide one applies.
    pub fn config_file(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.config_file = Some(path.into());
        self
    }

    /// Adds `-o key=value`. The options the login sets itself (host key checking, the
    /// known_hosts file, local command, control path, escape character; see
    /// [`SshLogin`]'s documentation) are refused at [`login`](SshLogin::login) with
    /// [`Error::InvalidArgument`].
    ///
    /// ```
    /// let mut ssh = ptychat::SshLogin::new("example.org");
    /// ssh.option("ServerAliveInterval", "15").option("Compression", "yes");
    /// ```
    pub fn option(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.options.push((key.into(), value.into()));
        self
    }

    /// The `ssh` program to run (default `ssh`, looked up in `PATH`).
    pub fn program(&mut self, program: impl Into<OsString>) -> &mut Self {
        self.program = program.into();
        self
    }

    /// The deadline for the whole login (`None`: no limit), also the returned session's
    /// [`timeout`](crate::Session::timeout).
    pub fn timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// The prompt the login sets on the remote shell: `[ptychat-<nonce>]$ ` with a
    /// random nonce made when the builder was. Expect it after every command.
    pub fn prompt(&self) -> String {
        format!("[ptychat-{}]$ ", self.nonce)
    }

    /// The arguments `ssh` is run with (without the program), as [`login`](SshLogin::login)
    /// passes them: for logs and for running the same command by hand. Fails as `login`
    /// does on a bad host, user or option.
    ///
    /// ```
    /// let mut ssh = ptychat::SshLogin::new("example.org");
    /// ssh.port(2222).user("me");
    /// let args = ssh.args()?;
    /// assert!(args.ends_with(&["-p".into(), "2222".into(), "-l".into(), "me".into(),
    ///                          "--".into(), "example.org".into()]));
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn args(&self) -> Result<Vec<OsString>> {
        self.check()?;
        let mut args: Vec<OsString> = vec!["-e".into(), "none".into()];
        let mut option = |key: &str, value: &str| {
            args.push("-o".into());
            args.push(format!("{key}={value}").into());
        };
        option(
            "StrictHostKeyChecking",
            self.host_keys.strict_host_key_checking(),
        );
        option("PermitLocalCommand", "yes");
        option("LocalCommand", &format!("echo {}", self.marker()));
        option("ControlPath", "none");
        if self.identity.is_some() {
            option("IdentitiesOnly", "yes");
        }
        for (key, value) in &self.options {
            option(key, value);
        }
        if let Some(path) = &self.known_hosts {
            let mut arg = OsString::from("UserKnownHostsFile=");
            arg.push(path.as_os_str());
            args.extend(["-o".into(), arg]);
        }
        if let Some(path) = &self.config_file {
            args.extend(["-F".into(), path.into()]);
        }
        if let Some(path) = &self.identity {
            args.extend(["-i".into(), path.into()]);
        }
        if let Some(port) = self.port {
            args.extend(["-p".into(), port.to_string().into()]);
        }
        if let Some(user) = &self.user {
            args.extend(["-l".into(), user.into()]);
        }
        args.extend(["--".into(), self.host.as_str().into()]);
        Ok(args)
    }

    /// Logs in, within the [`timeout`](SshLogin::timeout) for the whole login: spawns
    /// `ssh`, answers the host-key question and the password prompt, waits until the
    /// server accepted the login, sets the prompt and waits for it. The returned session
    /// is at the remote shell's prompt ([`prompt`](SshLogin::prompt)), its buffer empty.
    ///
    /// A failure is an [`Error::Ssh`] naming the [`SshProblem`], an [`Error::Timeout`]
    /// (which tells what the login waited for), or an [`Error::Spawn`] if `ssh` cannot be
    /// run. The ssh process of a failed login is ended and reaped.
    pub fn login(&self) -> Result<PtySession> {
        login::run(self, crate::deadline::Deadline::after(self.timeout))
    }

    /// Like [`login`](SshLogin::login), with the deadline as an instant.
    pub fn login_deadline(&self, deadline: Instant) -> Result<PtySession> {
        login::run(self, crate::deadline::Deadline::at(deadline))
    }

    /// Logs in as [`login`](SshLogin::login) does and makes the remote shell a
    /// [`Repl`](crate::Repl) (of [`ReplKind::sh`](crate::ReplKind::sh), which suits any
    /// POSIX shell): `run` then returns each command's output and exit status.
    ///
    /// ```no_run
    /// use ptychat::SshLogin;
    /// let mut shell = SshLogin::new("127.0.0.1").user("ann").password("secret").repl()?;
    /// let out = shell.run("uname -s")?;
    /// assert_eq!((out.text(), out.status()), ("Linux\n".to_owned(), Some(0)));
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn repl(&self) -> Result<crate::Repl> {
        crate::Repl::from_session(self.login()?, crate::ReplKind::sh())
    }

    /// What the local command prints once the server has accepted the login.
    fn marker(&self) -> String {
        format!("ptychat-login-{}", self.nonce)
    }

    /// `user@host:port` for messages.
    fn destination(&self) -> String {
        let mut text = String::new();
        if let Some(user) = &self.user {
            text.push_str(user);
            text.push('@');
        }
        text.push_str(&self.host);
        if let Some(port) = self.port {
            text.push_str(&format!(":{port}"));
        }
        text
    }

    /// Refuses what ssh would misread: an empty host, a host that looks like an option,
    /// line breaks, options the login sets itself.
    fn check(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::InvalidArgument(format!("ssh login: {what}")));
        if self.host.is_empty() {
            return bad("the host is empty");
        }
        if self.host.starts_with('-') {
            return bad(&format!("the host `{}` starts with `-`", self.host));
        }
        let texts = [Some(&self.host), self.user.as_ref()];
        if texts.into_iter().flatten().any(|t| has_line_break(t)) {
            return bad("the host or user contains a line break");
        }
        if self
            .password
            .as_ref()
            .is_some_and(|p| p.contains(['\r', '\n']))
        {
            return bad("the password contains a line break");
        }
        for (key, value) in &self.options {
            let valid_key = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric());
            if !valid_key {
                return bad(&format!("`{key}` is not an ssh option name"));
            }
            if has_line_break(value) {
                return bad(&format!("the value of option {key} contains a line break"));
            }
            if OWN_OPTIONS.contains(&key.to_ascii_lowercase().as_str()) {
                return bad(&format!(
                    "option {key} is set by the login itself (see host_key_policy and \
                     known_hosts)"
                ));
            }
        }
        Ok(())
    }
}

fn has_line_break(text: &str) -> bool {
    text.contains(['\r', '\n'])
}

/// Shows everything but the password.
impl fmt::Debug for SshLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshLogin")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("options", &self.options)
            .field("identity", &self.identity)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("host_keys", &self.host_keys)
            .field("known_hosts", &self.known_hosts)
            .field("config_file", &self.config_file)
            .field("program", &self.program)
            .field("timeout", &self.timeout)
            .field("prompt", &self.prompt())
            .finish()
    }
}
