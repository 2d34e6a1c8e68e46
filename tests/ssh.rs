//! `SshLogin` against real servers: each test that logs in starts a private `sshd` on
//! 127.0.0.1 (a free port, a fresh host key, its own config, `-D -e` as a child that is
//! ended and reaped on drop) and logs in as a throwaway user it creates (`useradd`, so
//! those tests need root, as CI has) and deletes afterwards.
//!
//! `ssh`, `ssh-keygen` and `sshd` are required: `.ci/run` installs them, and a missing one
//! fails the tests loudly.

mod common;

use std::fs;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::users::ThrowawayUser;
use common::{LONG, assert_success, contains, require, stdout};
use ptychat::{
    Command, Error, HostKeyPolicy, Pattern, PipeSession, PtySession, Signal, SshLogin, SshProblem,
    StderrMode,
};

const SSHD: &str = "/usr/sbin/sshd";

/// A unique number per call in this process, for names.
fn unique() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A directory of its own under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("ptychat-ssh-{}-{}", std::process::id(), unique()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs a program to completion, failing the test with its output if it fails.
fn run(program: &str, args: &[&str]) -> std::process::Output {
    let output = StdCommand::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert_success(&output);
    output
}

/// A fresh ed25519 key pair at `path` (and `path.pub`); returns the public key line.
fn keygen(path: &Path) -> String {
    require("ssh-keygen");
    let path = path.to_str().unwrap();
    run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-f", path]);
    fs::read_to_string(format!("{path}.pub")).unwrap()
}

/// The key type and base64 blob of a public key line (`ssh-ed25519 AAAA...`).
fn key_blob(public: &str) -> String {
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A throwaway user with `shell` and a password of its own.
fn test_user(shell: &str) -> ThrowawayUser {
    let password = format!("pw-{}-{}", std::process::id(), unique());
    ThrowawayUser::with_password("ssh", shell, &password)
}

/// A private sshd on 127.0.0.1: its own directory, host key, config and port.
struct Sshd {
    dir: TempDir,
    port: u16,
    host_key: String,
    process: PipeSession,
}

impl Sshd {
    /// Starts one and waits until it listens (its `-e` log says so).
    fn start() -> Self {
        require("ssh");
        assert!(
            Path::new(SSHD).is_file(),
            "`{SSHD}` is not installed (bash .ci/run installs openssh-server)"
        );
        // Privilege separation needs its directory.
        fs::create_dir_all("/run/sshd").expect("creating /run/sshd");
        let dir = TempDir::new();
        let host_key = keygen(&dir.join("host_key"));
        fs::write(dir.join("banner"), "Private test server: be nice.\n").unwrap();
        fs::write(dir.join("authorized_keys"), "").unwrap();
        // A free port can be taken between the check and sshd's bind: try again then.
        for _ in 0..10 {
            let port = free_port();
            let config = format!(
                "Port {port}\n\
                 ListenAddress 127.0.0.1\n\
                 HostKey {dir}/host_key\n\
                 PidFile {dir}/sshd.pid\n\
                 AuthorizedKeysFile {dir}/authorized_keys\n\
                 Banner {dir}/banner\n\
                 StrictModes no\n\
                 UsePAM no\n\
                 PasswordAuthentication yes\n\
                 KbdInteractiveAuthentication no\n\
                 PermitRootLogin no\n\
                 PrintMotd yes\n\
                 PrintLastLog yes\n",
                dir = dir.0.display()
            );
            fs::write(dir.join("sshd_config"), config).unwrap();
            let config = dir.join("sshd_config");
            let mut process = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .timeout(Some(LONG))
                .spawn_piped(StderrMode::Merge)
                .unwrap_or_else(|e| panic!("starting sshd: {e}"));
            let m = process
                .expect(["Server listening on ".into(), Pattern::eof()])
                .unwrap_or_else(|e| panic!("waiting for sshd to listen: {e}"));
            if m.index() == 0 {
                return Sshd {
                    dir,
                    port,
                    host_key,
                    process,
                };
            }
            let log = m.before_str().into_owned();
            assert!(log.contains("Address already in use"), "sshd failed: {log}");
        }
        panic!("no free port for sshd in 10 tries");
    }

    /// Lets `public` (a public key line) log in as any user.
    fn authorize(&self, public: &str) {
        fs::write(self.dir.join("authorized_keys"), public).unwrap();
    }

    /// A login to this server with a private known_hosts file and no ssh config files.
    fn login(&self, user: &ThrowawayUser) -> SshLogin {
        let mut ssh = SshLogin::new("127.0.0.1");
        ssh.port(self.port)
            .user(&user.name)
            .config_file("/dev/null")
            .known_hosts(self.dir.join("known_hosts"))
            .option("GlobalKnownHostsFile", "/dev/null")
            .timeout(Some(LONG));
        ssh
    }

    /// The known_hosts name of this server.
    fn known_hosts_name(&self) -> String {
        format!("[127.0.0.1]:{}", self.port)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // Not SIGHUP (sshd restarts on it), as dropping the session would send first.
        let _ = self.process.kill(Signal::SIGTERM);
        let _ = self.process.wait_timeout(Some(LONG));
    }
}

/// A port nothing listens on at the moment.
fn free_port() -> u16 {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

/// Runs `line` in a logged-in shell and returns what came before the next prompt.
fn run_remote(shell: &mut PtySession, ssh: &SshLogin, line: &str) -> String {
    shell.send_line(line).unwrap();
    let m = shell
        .expect(ssh.prompt())
        .unwrap_or_else(|e| panic!("running `{line}` remotely: {e}"));
    m.before_str().into_owned()
}

/// Leaves the remote shell and checks ssh ends well.
fn exit(mut shell: PtySession) {
    shell.send_line("exit 0").unwrap();
    shell
        .expect(Pattern::eof())
        .unwrap_or_else(|e| panic!("waiting for the remote shell to end: {e}"));
    let status = shell.wait().unwrap();
    assert!(status.success(), "ssh ended with {status:?}");
}

#[test]
fn key_login_runs_a_command() {
    let user = test_user("/bin/bash");
    let sshd = Sshd::start();
    let key = sshd.dir.join("client_key");
    sshd.authorize(&keygen(&key));
    // Output after the login that pxssh would take for a password prompt.
    let bashrc = format!("/home/{}/.bashrc", user.name);
    let mut startup = fs::read_to_string(&bashrc).unwrap_or_default();
    startup.push_str("\necho 'Reminder: your password: change it monthly'; REMINDED=yes\n");
    fs::write(&bashrc, startup).unwrap();
    let mut ssh = sshd.login(&user);
    ssh.identity_file(&key);
    let mut shell = ssh.login().unwrap_or_else(|e| panic!("key login: {e}"));
    let out = run_remote(&mut shell, &ssh, "echo $((6 * 7)); id -un; echo $REMINDED");
    assert!(
        out.contains(&format!("42\r\n{}\r\nyes\r\n", user.name)),
        "{out:?}"
    );
    // The prompt stays after a command that prints no newline.
    let out = run_remote(&mut shell, &ssh, "printf partial");
    assert!(out.ends_with("partial"), "{out:?}");
    exit(shell);
}

#[test]
fn the_remote_shell_as_a_repl() {
    let user = test_user("/bin/bash");
    let sshd = Sshd::start();
    let mut ssh = sshd.login(&user);
    ssh.password(&user.password)
        .option("PubkeyAuthentication", "no");
    let mut shell = ssh.repl().unwrap_or_else(|e| panic!("login: {e}"));
    let out = shell.run("id -un; (exit 3)").unwrap();
    assert_eq!(out.text(), format!("{}\n", user.name));
    assert_eq!(out.status(), Some(3));
    let out = shell.run("echo $((6 * 7))").unwrap();
    assert_eq!((out.text().as_str(), out.status()), ("42\n", Some(0)));
}

#[test]
fn password_login() {
    let user = test_user("/bin/bash");
    let sshd = Sshd::start();
    let mut ssh = sshd.login(&user);
    ssh.password(&user.password)
        .option("PubkeyAuthentication", "no");
    let mut shell = ssh
        .login()
        .unwrap_or_else(|e| panic!("password login: {e}"));
    let out = run_remote(&mut shell, &ssh, "whoami");
    assert!(out.contains(&format!("{}\r\n", user.name)), "{out:?}");
    // Lines starting with `~` reach the shell (ssh's escape character is off).
    let out = run_remote(&mut shell, &ssh, "~.");
    assert!(out.contains("~."), "{out:?}");
    exit(shell);
}

#[test]
fn wrong_password_is_permission_denied() {
    let user = test_user("/bin/bash");
    let sshd = Sshd::start();
    let mut ssh = sshd.login(&user);
    let wrong = format!("{}-wrong", user.password);
    ssh.password(&wrong).option("PubkeyAuthentication", "no");
    let err = ssh.login().unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            Error::Ssh {
                problem: SshProblem::PermissionDenied,
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("Permission denied"), "{text}");
    assert!(!text.contains(&wrong), "the password leaked: {text}");
}

#[test]
fn no_password_given_is_password_required() {
    let user = test_user("/bin/bash");
    let sshd = Sshd::start();
    let mut ssh = sshd.login(&user);
    ssh.option("PubkeyAuthentication", "no");
    let err = ssh.login().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Ssh {
                problem: SshProblem::PasswordRequired,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn changed_host_key_is_refused() {
    let user = test_user("/bin/bash");
    let sshd = Sshd::start();
    // known_hosts records another key for this server's name and port.
    let old = keygen(&sshd.dir.join("old_host_key"));
    let known_hosts = sshd.dir.join("known_hosts");
    fs::write(
        &known_hosts,
        format!("{} {}\n", sshd.known_hosts_name(), key_blob(&old)),
    )
    .unwrap();
    let mut ssh = sshd.login(&user);
    ssh.password(&user.password)
        .host_key_policy(HostKeyPolicy::AcceptNew);
    let err = ssh.login().unwrap_err();
    let text = err.to_string();
    match err {
        Error::Ssh {
            problem:
                SshProblem::HostKeyChanged {
                    known_hosts: file,
                    line,
                },
            ..
        } => {
            assert_eq!(file.as_deref(), Some(known_hosts.as_path()), "{text}");
            assert_eq!(line, Some(1), "{text}");
        }
        other => panic!("expected a changed host key, got: {other}"),
    }
    assert!(text.contains("CHANGED"), "{text}");
    // The recorded key is untouched.
    let recorded = fs::read_to_string(&known_hosts).unwrap();
    assert!(recorded.contains(&key_blob(&old)), "{recorded}");
    assert!(!recorded.contains(&key_blob(&sshd.host_key)), "{recorded}");
}

#[test]
fn accept_new_records_the_key() {
    let user = test_user("/bin/bash");
    let sshd = Sshd::start();
    let known_hosts = sshd.dir.join("known_hosts");
    let mut ssh = sshd.login(&user);
    ssh.password(&user.password)
        .host_key_policy(HostKeyPolicy::AcceptNew);
    exit(ssh.login().unwrap_or_else(|e| panic!("first login: {e}")));
    let found = run(
        "ssh-keygen",
        &[
            "-F",
            &sshd.known_hosts_name(),
            "-f",
            known_hosts.to_str().unwrap(),
        ],
    );
    let found = stdout(&found);
    assert!(
        found.contains(&key_blob(&sshd.host_key)),
        "the host key was not recorded: {found}"
    );
    // Now known, the key passes a policy that requires known keys.
    ssh.host_key_policy(HostKeyPolicy::RequireKnown);
    exit(ssh.login().unwrap_or_else(|e| panic!("second login: {e}")));
}

#[test]
fn require_known_refuses_an_unknown_key() {
    let user = test_user("/bin/bash");
    let sshd = Sshd::start();
    let mut ssh = sshd.login(&user);
    ssh.password(&user.password)
        .host_key_policy(HostKeyPolicy::RequireKnown);
    let err = ssh.login().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Ssh {
                problem: SshProblem::UnknownHostKey,
                ..
            }
        ),
        "{err}"
    );
    let recorded = fs::read_to_string(sshd.dir.join("known_hosts")).unwrap_or_default();
    assert!(!recorded.contains(&key_blob(&sshd.host_key)), "{recorded}");
}

#[test]
fn account_without_shell_is_closed_after_login() {
    let user = test_user("/usr/sbin/nologin");
    let sshd = Sshd::start();
    let mut ssh = sshd.login(&user);
    ssh.password(&user.password);
    let err = ssh.login().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Ssh {
                problem: SshProblem::ClosedAfterLogin { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn closed_port_is_connection_refused() {
    require("ssh");
    // A bound socket that does not listen (python3 holds it until its stdin closes):
    // connections to its port are refused, and no other program can take the port.
    let mut holder = common::python(
        "import socket, sys\n\
         s = socket.socket()\n\
         s.bind(('127.0.0.1', 0))\n\
         print('port', s.getsockname()[1], flush=True)\n\
         sys.stdin.read()",
    )
    .spawn_piped(StderrMode::Inherit)
    .unwrap();
    let m = holder
        .expect(Pattern::regex(r"port (\d+)\n").unwrap())
        .unwrap();
    let port: u16 = m.group_str(1).unwrap().parse().unwrap();
    let mut ssh = SshLogin::new("127.0.0.1");
    ssh.port(port).config_file("/dev/null").timeout(Some(LONG));
    let err = ssh.login().unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            Error::Ssh {
                problem: SshProblem::ConnectionRefused,
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("Connection refused"), "{text}");
}

#[test]
fn silent_server_times_out_with_the_tail() {
    require("ssh");
    // Listens (the kernel completes the handshake) but never says a word: ssh waits for
    // its version line until the login's deadline.
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
    let mut ssh = SshLogin::new("127.0.0.1");
    ssh.port(listener.local_addr().unwrap().port())
        .config_file("/dev/null")
        .timeout(Some(Duration::from_millis(500)));
    let err = ssh.login().unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // The message names what the login waited for: the marker among ssh's failures.
    assert!(err.to_string().contains("ptychat-login-"), "{err}");
}

#[test]
fn missing_ssh_is_a_spawn_error() {
    let mut ssh = SshLogin::new("127.0.0.1");
    ssh.program("/nonexistent/bin/ssh");
    let err = ssh.login().unwrap_err();
    assert!(matches!(err, Error::Spawn { .. }), "{err}");
}

#[test]
fn bad_arguments_are_refused_before_spawning() {
    for ssh in [
        SshLogin::new("-oProxyCommand=touch /tmp/x"),
        SshLogin::new(""),
        SshLogin::new("host").user("me\nyou").clone(),
        SshLogin::new("host")
            .option("StrictHostKeyChecking", "no")
            .clone(),
        SshLogin::new("host").option("Bad Name", "x").clone(),
    ] {
        let err = ssh.login().unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{ssh:?}: {err}");
    }
}

#[test]
fn debug_hides_the_password() {
    let mut ssh = SshLogin::new("host");
    ssh.password("s3cr3t-value");
    let text = format!("{ssh:?}");
    assert!(!text.contains("s3cr3t-value"), "{text}");
    assert!(contains(text.as_bytes(), b"<hidden>"), "{text}");
}

#[test]
fn dash_login_shell() {
    let user = test_user("/bin/sh");
    let sshd = Sshd::start();
    let mut ssh = sshd.login(&user);
    ssh.password(&user.password);
    let mut shell = ssh.login().unwrap_or_else(|e| panic!("login to sh: {e}"));
    let out = run_remote(&mut shell, &ssh, "echo $((2 + 3))");
    assert!(out.contains("5\r\n"), "{out:?}");
    exit(shell);
}

/// The environment variable that makes [`trace_of_a_password_login`] run.
const TRACE_CHILD: &str = "PTYCHAT_SSH_TRACE_CHILD";

#[test]
fn password_never_reaches_the_trace() {
    // The trace goes to this process's stderr: run the login in a child test process
    // with the trace on, and read what it wrote.
    let output = StdCommand::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "trace_of_a_password_login",
            "--ignored",
            "--nocapture",
        ])
        .env(TRACE_CHILD, "1")
        .env("PTYCHAT_TRACE", "1")
        .output()
        .unwrap();
    assert_success(&output);
    let trace = common::stderr(&output);
    let out = stdout(&output);
    let password = out
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .unwrap_or_else(|| panic!("the child printed no password: {out}"));
    assert!(trace.contains("sent a secret of"), "{trace}");
    assert!(
        trace.contains("PS1="),
        "no trace of the prompt set-up: {trace}"
    );
    assert!(
        !trace.contains(password),
        "the password is in the trace: {trace}"
    );
}

#[test]
#[ignore = "run by password_never_reaches_the_trace, with the trace on"]
fn trace_of_a_password_login() {
    assert!(
        std::env::var_os(TRACE_CHILD).is_some(),
        "run by password_never_reaches_the_trace"
    );
    let user = test_user("/bin/bash");
    let sshd = Sshd::start();
    let mut ssh = sshd.login(&user);
    ssh.password(&user.password);
    println!("password: {}", user.password);
    exit(
        ssh.login()
            .unwrap_or_else(|e| panic!("password login: {e}")),
    );
}
