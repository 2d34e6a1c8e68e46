//! Don Libes' Expect tools (Debian installs them as `/usr/bin/expect_*`) under
//! `ptychat expect`, on real terminals, against real servers, compared with Expect:
//! `expect_passmass` over ssh to a private `sshd` with a throwaway user, and the tools that
//! cannot run here failing at once with an error naming what they need.
#![cfg(feature = "cli")]

use std::fs;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;

mod common;

use common::users::ThrowawayUser;
use common::{LONG, assert_success, require, stdout, temp_path};
use ptychat::{Command, Pattern, PipeSession, Signal, StderrMode};

const BIN: &str = env!("CARGO_BIN_EXE_ptychat");
const SSHD: &str = "/usr/sbin/sshd";

/// A private sshd on 127.0.0.1 (own directory, host key, config and port, password
/// logins), and an `ssh` on a PATH of its own that reaches it as host `pmhost` without
/// asking about its key.
struct Sshd {
    dir: PathBuf,
    process: PipeSession,
}

impl Sshd {
    fn start() -> Self {
        require("ssh");
        require("ssh-keygen");
        assert!(
            Path::new(SSHD).is_file(),
            "`{SSHD}` is not installed (bash .ci/run installs openssh-server)"
        );
        fs::create_dir_all("/run/sshd").expect("creating /run/sshd");
        let dir = temp_path("tcl-libes", "sshd");
        fs::create_dir_all(&dir).unwrap();
        let key = dir.join("host_key");
        let made = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .output()
            .unwrap();
        assert_success(&made);
        // A free port can be taken between the check and sshd's bind: try again then.
        for _ in 0..10 {
            let port = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let config = format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {key}\nPidFile {dir}/sshd.pid\n\
                 StrictModes no\nUsePAM no\nPasswordAuthentication yes\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin no\nPrintMotd no\n\
                 PrintLastLog no\n",
                key = key.display(),
                dir = dir.display()
            );
            fs::write(dir.join("sshd_config"), config).unwrap();
            let mut process = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(dir.join("sshd_config"))
                .timeout(Some(LONG))
                .spawn_piped(StderrMode::Merge)
                .unwrap_or_else(|e| panic!("starting sshd: {e}"));
            let m = process
                .expect(["Server listening on ".into(), Pattern::eof()])
                .unwrap_or_else(|e| panic!("waiting for sshd to listen: {e}"));
            if m.index() == 1 {
                let log = m.before_str().into_owned();
                assert!(log.contains("Address already in use"), "sshd failed: {log}");
                continue;
            }
            fs::write(
                dir.join("ssh_config"),
                format!(
                    "Host pmhost\n  HostName 127.0.0.1\n  Port {port}\n\
                     StrictHostKeyChecking no\nUserKnownHostsFile /dev/null\n\
                     GlobalKnownHostsFile /dev/null\nLogLevel ERROR\n\
                     PubkeyAuthentication no\nPreferredAuthentications password\n"
                ),
            )
            .unwrap();
            let ssh = dir.join("ssh");
            fs::write(
                &ssh,
                format!(
                    "#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n",
                    dir.join("ssh_config").display()
                ),
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&ssh, fs::Permissions::from_mode(0o755)).unwrap();
            return Sshd { dir, process };
        }
        panic!("no free port for sshd in 10 tries");
    }

    /// The PATH that finds our `ssh` first.
    fn path(&self) -> String {
        format!("{}:/usr/bin:/bin", self.dir.display())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // Not SIGHUP (sshd restarts on it).
        let _ = self.process.kill(Signal::SIGTERM);
        let _ = self.process.wait_timeout(Some(LONG));
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The lines passmass itself writes about each host.
fn verdicts(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| l.contains("password not changed on") || l.contains("failed to set"))
        .map(|l| {
            l.trim_matches(|c: char| c.is_whitespace() || c == '\x07')
                .to_string()
        })
        .collect()
}

/// Runs `PROGRAM [OURS...] /usr/bin/expect_passmass ARGS` on a terminal with `path` as
/// PATH, types the old, new and retyped passwords at its prompts; how it ended, and what it
/// showed (without `\r`).
fn passmass(
    program: &str,
    ours: &[&str],
    path: &str,
    args: &[&str],
    typed: [&str; 3],
) -> (Option<i32>, String) {
    let mut command = Command::new(program);
    command
        .args(ours)
        .arg("/usr/bin/expect_passmass")
        .args(args)
        .env("PATH", path)
        .timeout(Some(LONG * 2));
    let mut session = common::spawn(&mut command);
    for (prompt, answer) in ["old password: ", "new password: ", "retype new password: "]
        .into_iter()
        .zip(typed)
    {
        session.expect(prompt).unwrap();
        session.send_line(answer).unwrap();
    }
    let out = common::read_to_eof(&mut session);
    let status = session.wait().unwrap();
    (
        status.code(),
        String::from_utf8_lossy(&out).replace('\r', ""),
    )
}

/// `expect_passmass -ssh -user NAME pmhost`: the passwords are typed at its prompts, it
/// logs in over ssh with the old one, gets the shell prompt, and runs `passwd`. Today's
/// `passwd` (pam_unix) asks for the "Current password:", a prompt passmass (1990s) does
/// not know: under Expect as under `ptychat expect` it gives up at its `-timeout` and
/// reports the host; the password is unchanged.
#[test]
fn libes_passmass_logs_in_over_ssh_as_under_expect() {
    require("expect");
    let old = "Old-pw-4rt!";
    let user = ThrowawayUser::with_password("pm", "/bin/bash", old);
    let sshd = Sshd::start();
    let before = user.hash();
    let path = sshd.path();
    let args = ["-ssh", "-user", &user.name, "-timeout", "10", "pmhost"];
    let typed = [old, "New-pw-8yu?", "New-pw-8yu?"];
    let run = |program: &str, ours: &[&str]| passmass(program, ours, &path, &args, typed);
    let ours = std::thread::scope(|scope| {
        let theirs = scope.spawn(|| run("expect", &[]));
        let ours = run(BIN, &["expect"]);
        let theirs = theirs.join().unwrap();
        assert_eq!(
            ours.0, theirs.0,
            "exit status: {}\n---\n{}",
            ours.1, theirs.1
        );
        assert_eq!(
            verdicts(&ours.1),
            verdicts(&theirs.1),
            "{}\n---\n{}",
            ours.1,
            theirs.1
        );
        ours
    });
    let text = &ours.1;
    // Logged in (the shell ran passwd), and passwd asked for the current password.
    assert!(text.contains("Current password:"), "{text}");
    assert_eq!(
        verdicts(text),
        [
            "password not changed on pmhost - could not recognize prompt for password",
            "failed to set password on pmhost",
        ],
        "{text}"
    );
    assert_eq!(user.hash(), before);
}

/// Runs `program args` without a terminal, standard input empty.
fn run(program: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

/// `expect_kibitz USER` asks USER (with `write`, through `system`) to join; a user who is
/// not logged in makes it give up and remove its fifos, under Expect as here.
#[test]
fn libes_kibitz_asks_a_user_who_is_not_there_as_under_expect() {
    require("expect");
    require("write");
    let mut outputs = Vec::new();
    for (program, args) in [(BIN, &["expect"][..]), ("expect", &[])] {
        let mut all = args.to_vec();
        all.extend(["/usr/bin/expect_kibitz", "nobody"]);
        let output = run(program, &all);
        let text = stdout(&output);
        let pid = text
            .trim()
            .strip_prefix("asking nobody to type:  kibitz -")
            .unwrap_or_else(|| panic!("{program}: {text:?}"));
        for fifo in [format!("/tmp/exp0.{pid}"), format!("/tmp/exp1.{pid}")] {
            assert!(!Path::new(&fifo).exists(), "{fifo} left behind");
        }
        let err = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(err.contains("nobody is not logged in"), "{program}: {err}");
        // When `write` gives up before `echo` has written to it, the `echo` that Expect's
        // `system` runs now and then reports the failed write (`echo: I/O error`, seen in
        // about one run in ten); it depends on which ends first: leave that line out.
        let err: String = err
            .lines()
            .filter(|line| !line.ends_with("echo: I/O error"))
            .map(|line| format!("{line}\n"))
            .collect();
        outputs.push((output.status.code(), err));
    }
    assert_eq!(outputs[0], outputs[1]);
}

/// A `write` that records the message it is given (there is no logged-in user to write
/// to here), first on the PATH kibitz's `system` runs it with.
fn write_recorder(dir: &Path) -> (String, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(dir).unwrap();
    let message = dir.join("message");
    let write = dir.join("write");
    fs::write(&write, format!("#!/bin/sh\ncat > {}\n", message.display())).unwrap();
    fs::set_permissions(&write, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (path, message)
}

/// Libes' kibitz end to end: the inviting side (`kibitz friend`) spawns a shell, asks
/// `friend` with `write` (recorded), and waits on its fifos; the joining side
/// (`kibitz -PID`, on a second terminal) opens them with `spawn -open` and joins them to
/// its user with `interact -output ... -input ...`; the inviter joins its user, the
/// joiner's fifo and the shell with three `-input`s. A command typed by the joiner runs in
/// the shell and both users see its output; the shell's exit ends both, and the fifos are
/// removed. Under `ptychat expect`, then under Expect.
#[test]
fn libes_kibitz_two_users_share_a_shell_as_under_expect() {
    require("expect");
    for (program, ours) in [(BIN, &["expect"][..]), ("expect", &[])] {
        let dir = temp_path("tcl-libes", "kibitz");
        let (path, message) = write_recorder(&dir);
        let inviter_command = || {
            let mut c = Command::new(program);
            c.args(ours)
                .arg("/usr/bin/expect_kibitz")
                .env("PATH", &path)
                .env("SHELL", "/bin/sh")
                .env("PS1", "$ ")
                .timeout(Some(LONG));
            c
        };
        let mut inviter = common::spawn(inviter_command().arg("friend"));
        let asked = inviter
            .expect(Pattern::regex(r"asking friend to type:  kibitz -(\d+)").unwrap())
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        let pid = String::from_utf8_lossy(asked.group(1).unwrap()).into_owned();
        let mut joiner = common::spawn(inviter_command().arg(format!("-{pid}")));
        joiner.expect("Escape sequence is").unwrap();
        inviter.expect("Escape sequence is").unwrap();
        // The joiner types a command: it runs in the inviter's shell.
        joiner.send("echo shared-$((6*7))\r").unwrap();
        joiner
            .expect("shared-42")
            .unwrap_or_else(|e| panic!("{program}: joiner: {e}"));
        inviter
            .expect("shared-42")
            .unwrap_or_else(|e| panic!("{program}: inviter: {e}"));
        // The shell's exit ends both kibitzes.
        inviter.send("exit\r").unwrap();
        common::read_to_eof(&mut inviter);
        common::read_to_eof(&mut joiner);
        let inviter_status = inviter.wait_timeout(Some(LONG)).unwrap();
        let joiner_status = joiner.wait_timeout(Some(LONG)).unwrap();
        assert_eq!(inviter_status.and_then(|s| s.code()), Some(0), "{program}");
        assert_eq!(joiner_status.and_then(|s| s.code()), Some(0), "{program}");
        let asked = fs::read_to_string(&message).unwrap();
        assert!(
            asked.contains(&format!("kibitz -{pid}")),
            "{program}: {asked:?}"
        );
        for fifo in [format!("/tmp/exp0.{pid}"), format!("/tmp/exp1.{pid}")] {
            assert!(!Path::new(&fifo).exists(), "{program}: {fifo} left behind");
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

/// The `passwd` passmass knows asks for the "Old password:"; today's asks for the
/// "Current password:". This one asks as the old one did, then has the real `passwd` make
/// the change (its answers on a pipe).
const OLD_STYLE_PASSWD: &str = r#"#!/bin/bash
stty -echo
printf 'Old password: '; read -r old; printf '\n'
printf 'New password: '; read -r new; printf '\n'
printf 'Retype new password: '; read -r again; printf '\n'
stty echo
if printf '%s\n%s\n%s\n' "$old" "$new" "$again" | passwd >/dev/null 2>&1; then
    echo 'password changed'
else
    echo 'password not changed'
fi
"#;

/// With a `passwd` that asks as passmass expects (`-program`), passmass changes the
/// password over ssh: under `ptychat expect`, then again under Expect, each checked in
/// /etc/shadow.
#[test]
fn libes_passmass_changes_the_password_over_ssh_as_under_expect() {
    require("expect");
    let user = ThrowawayUser::with_password("pm", "/bin/bash", "Old-pw-4rt!");
    let sshd = Sshd::start();
    let program = format!("/home/{}/old-style-passwd", user.name);
    fs::write(&program, OLD_STYLE_PASSWD).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    let path = sshd.path();
    let args = ["-ssh", "-user", &user.name, "-program", &program, "pmhost"];
    let mut old = "Old-pw-4rt!";
    for (runner, ours, new) in [
        (BIN, &["expect"][..], "Ptychat-9z?w"),
        ("expect", &[], "Tcl-Expect-7q!"),
    ] {
        let (status, text) = passmass(runner, ours, &path, &args, [old, new, new]);
        assert_eq!(status, Some(0), "{runner}: {text}");
        assert!(verdicts(&text).is_empty(), "{runner}: {text}");
        assert!(text.contains("password changed"), "{runner}: {text}");
        assert!(user.has_password(new), "{runner}: {text}");
        old = new;
    }
}
