//! `ptychat interact` in a real terminal: each test starts its own tmux server (a unique
//! socket) with `sh` in an 80x24 pane, types into it with `send-keys` and reads the screen
//! with `capture-pane`. The pane's shell records `stty -a` of its terminal before ptychat
//! starts and right after it ends (on the same command line, so nothing else touches the
//! terminal in between), and the two must be identical: after a normal exit, an escape, a
//! child killed with SIGKILL, a panic in a hook, and SIGTERM or SIGHUP to ptychat.
//!
//! The outer shell is `sh` (dash) rather than bash on purpose: bash puts back its own
//! terminal settings after a job killed by a signal, which would hide a ptychat that
//! failed to restore them.
//!
//! tmux is required (CI installs it): without it these tests fail rather than skip.
//! Nothing sleeps to synchronise: every wait polls the screen until the expected text
//! appears, with a generous deadline.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use regex::Regex;

const BIN: &str = env!("CARGO_BIN_EXE_ptychat");

/// Deadline for anything that should happen: generous, a passing test never waits for it.
const LONG: Duration = Duration::from_secs(30);

/// How often the screen is read while waiting for something to appear on it.
const POLL: Duration = Duration::from_millis(20);

/// A tmux server of our own with one window running `sh`; killed on drop, also when the
/// test fails.
struct Tmux {
    socket: String,
    dir: PathBuf,
    /// The server's socket file, which `kill-server` leaves behind.
    socket_path: Option<PathBuf>,
}

impl Tmux {
    fn start() -> Tmux {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let socket = format!("ptychat-interact-{}-{n}", std::process::id());
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&socket);
        std::fs::create_dir_all(&dir).unwrap();
        let mut tmux = Tmux {
            socket,
            dir,
            socket_path: None,
        };
        let out = tmux
            .command()
            // The server, and so the pane's shell, inherits this environment.
            .env("PS1", "$ ")
            .env("HISTFILE", "/dev/null")
            .env("TERM", "xterm")
            .env_remove("TMUX")
            .env_remove("ENV")
            .env_remove("PROMPT_COMMAND")
            .args(["new-session", "-d", "-x", "80", "-y", "24", "-c"])
            .arg(&tmux.dir)
            .arg("sh")
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run tmux ({e}); these tests need it (apt-get install tmux)")
            });
        check(&out, "tmux new-session");
        let out = tmux
            .command()
            .args(["display-message", "-p", "#{socket_path}"])
            .output()
            .expect("tmux runs");
        check(&out, "tmux display-message");
        tmux.socket_path = Some(PathBuf::from(text(&out.stdout).trim()));
        // Type nothing before the shell's first prompt: typed ahead, a command line would
        // be echoed before the prompt, which then lands in front of the program's output.
        tmux.wait_for(r"(?m)^[$#]\s*$");
        tmux
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket, "-f", "/dev/null"]);
        command
    }

    fn tmux(&self, args: &[&str]) {
        let out = self.command().args(args).output().expect("tmux runs");
        check(&out, &format!("tmux {args:?}"));
    }

    /// Types `text` literally, then Enter.
    fn type_line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "0", "-l", text]);
        self.tmux(&["send-keys", "-t", "0", "Enter"]);
    }

    /// The whole pane, scrollback included, wrapped lines joined.
    fn screen(&self) -> String {
        let out = self
            .command()
            .args(["capture-pane", "-p", "-J", "-S", "-", "-t", "0"])
            .output()
            .expect("tmux runs");
        check(&out, "tmux capture-pane");
        text(&out.stdout)
    }

    /// Waits until `pattern` (a regex) is on the screen; returns its captures' texts.
    fn wait_for(&self, pattern: &str) -> Vec<String> {
        let re = Regex::new(pattern).unwrap();
        let deadline = Instant::now() + LONG;
        loop {
            let screen = self.screen();
            if let Some(c) = re.captures(&screen) {
                return c
                    .iter()
                    .map(|g| g.map_or(String::new(), |g| g.as_str().to_owned()))
                    .collect();
            }
            assert!(
                Instant::now() < deadline,
                "/{pattern}/ never appeared on the screen:\n{screen}"
            );
            std::thread::sleep(POLL);
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    /// Types a command line that saves the terminal's mode, runs `ptychat ARGS`, then prints
    /// its exit code and saves the mode again, all without anything else in between.
    fn launch(&self, args: &str) {
        self.type_line(&format!(
            "tty > {tty}; stty -a > {before}; {BIN} {args}; echo \"EX\"\"IT=$?\"; \
             stty -a > {after}; echo \"FIN\"\"ISHED\"",
            tty = self.path("outer-tty"),
            before = self.path("stty-before"),
            after = self.path("stty-after"),
        ));
    }

    /// Launches `ptychat interact` with bash (prompt `inner$ `) and waits for its prompt.
    fn launch_bash(&self, options: &str) {
        self.launch(&format!(
            "interact {options} -- env PS1='inner$ ' HISTFILE=/dev/null bash --norc --noprofile"
        ));
        self.wait_for(r"(?m)^inner\$ ");
    }

    /// Waits for the launched command line to finish; returns ptychat's exit code.
    fn finished(&self) -> i32 {
        // Not anchored: the program may have left the cursor mid-line (after its prompt).
        let exit = self.wait_for(r"EXIT=(\d+)")[1].parse().unwrap();
        self.wait_for(r"FINISHED");
        exit
    }

    /// `stty -a` before and after ptychat.
    fn modes(&self) -> (String, String) {
        let read = |name: &str| std::fs::read_to_string(self.path(name)).unwrap();
        (read("stty-before"), read("stty-after"))
    }

    fn assert_terminal_restored(&self) {
        let (before, after) = self.modes();
        assert!(before.contains("icanon"), "not a terminal mode: {before}");
        assert_eq!(before, after, "the terminal mode changed");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").output();
        if let Some(socket) = &self.socket_path {
            let _ = std::fs::remove_file(socket);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        text(&out.stderr)
    );
}

/// A pid printed on the screen as `NAME=PID`.
fn pid_on_screen(tmux: &Tmux, name: &str) -> Pid {
    let pid = tmux.wait_for(&format!(r"(?m)^{name}=(\d+)\s*$"))[1]
        .parse()
        .unwrap();
    Pid::from_raw(pid)
}

/// Waits until `pid` has ended (gone, or a zombie of someone else's).
fn wait_until_dead(pid: Pid) {
    let deadline = Instant::now() + LONG;
    let stat = format!("/proc/{pid}/stat");
    loop {
        match std::fs::read_to_string(&stat) {
            Err(_) => return,
            Ok(text)
                if text
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z') =>
            {
                return;
            }
            Ok(_) => {}
        }
        assert!(Instant::now() < deadline, "process {pid} is still running");
        std::thread::sleep(POLL);
    }
}

#[test]
fn typing_reaches_the_child_and_its_exit_code_comes_back() {
    let tmux = Tmux::start();
    tmux.launch_bash("");
    tmux.type_line(r#"echo "IN""NER:$(tty):$(cat /proc/$PPID/comm)""#);
    let inner = tmux.wait_for(r"(?m)^INNER:(/dev/pts/\d+):(\S+)\s*$");
    assert_eq!(inner[2], "ptychat", "bash's parent is ptychat");
    // Keys typed in the pane reach bash on ptychat's pty, not on the pane's terminal.
    let outer = std::fs::read_to_string(tmux.path("outer-tty")).unwrap();
    assert_ne!(inner[1], outer.trim());
    tmux.type_line("exit 7");
    assert_eq!(tmux.finished(), 7);
    tmux.assert_terminal_restored();
}

#[test]
fn escape_returns_to_the_script() {
    let tmux = Tmux::start();
    let script = tmux.path("login.ptychat");
    std::fs::write(
        &script,
        concat!(
            "set env PS1 \"inner$ \"\n",
            "set env HISTFILE /dev/null\n",
            "spawn bash --norc --noprofile\n",
            "expect \"inner$ \"\n",
            "print \"LOGGED IN\"\n",
            "interact\n",
            "print \"BACK IN SCRIPT\"\n",
            "sendline \"exit 4\"\n",
            "wait\n",
            "print \"script saw $status\"\n",
        ),
    )
    .unwrap();
    tmux.launch(&format!("run {script}"));
    tmux.wait_for(r"(?m)^LOGGED IN\s*$");
    tmux.type_line(r#"echo "ty""ped"; echo "P""ID=$$""#);
    tmux.wait_for(r"(?m)^typed\s*$");
    let bash = pid_on_screen(&tmux, "PID");
    tmux.tmux(&["send-keys", "-t", "0", "C-]"]);
    // Not anchored: the cursor was after the prompt when the escape key came.
    tmux.wait_for("BACK IN SCRIPT");
    assert_eq!(tmux.finished(), 0);
    // The program stayed alive through the escape, and ended with what the script sent
    // after it.
    let screen = tmux.screen();
    assert!(screen.contains("script saw 4"), "{screen}");
    wait_until_dead(bash);
    tmux.assert_terminal_restored();
}

#[test]
fn terminal_is_restored_when_the_child_is_killed() {
    let tmux = Tmux::start();
    tmux.launch_bash("");
    tmux.type_line(r#"echo "P""ID=$$""#);
    let bash = pid_on_screen(&tmux, "PID");
    kill(bash, Signal::SIGKILL).unwrap();
    assert_eq!(tmux.finished(), 128 + 9);
    tmux.assert_terminal_restored();
}

#[test]
fn terminal_is_restored_after_a_panic_in_a_hook() {
    let tmux = Tmux::start();
    tmux.launch_bash("--panic-on PANIC-NOW");
    tmux.type_line(r#"echo "PANIC""-NOW""#);
    assert_eq!(tmux.finished(), 101, "the exit code of a Rust panic");
    let screen = tmux.screen();
    assert!(screen.contains("panicked"), "{screen}");
    tmux.assert_terminal_restored();
}

/// Sends `signal` to ptychat while bash runs under it.
fn signal_to_ptychat(signal: Signal) {
    let tmux = Tmux::start();
    tmux.launch_bash("");
    tmux.type_line(r#"echo "PP""ID=$PPID"; echo "P""ID=$$""#);
    let ptychat = pid_on_screen(&tmux, "PPID");
    let bash = pid_on_screen(&tmux, "PID");
    kill(ptychat, signal).unwrap();
    // The signal killed ptychat (the shell reports 128 + N) once the terminal was back.
    assert_eq!(tmux.finished(), 128 + signal as i32);
    tmux.assert_terminal_restored();
    // bash lost its terminal with ptychat and was hung up.
    wait_until_dead(bash);
}

#[test]
fn terminal_is_restored_when_ptychat_gets_sigterm() {
    signal_to_ptychat(Signal::SIGTERM);
}

#[test]
fn terminal_is_restored_when_ptychat_gets_sighup() {
    signal_to_ptychat(Signal::SIGHUP);
}

#[test]
fn resizing_the_terminal_resizes_the_childs() {
    let tmux = Tmux::start();
    tmux.launch_bash("");
    tmux.type_line("stty size");
    tmux.wait_for(r"(?m)^24 80\s*$");
    tmux.tmux(&["resize-window", "-t", "0", "-x", "100", "-y", "30"]);
    // The new size travels tmux -> ptychat (SIGWINCH) -> bash's terminal; ask until it
    // has arrived.
    let re = Regex::new(r"(?m)^30 100\s*$").unwrap();
    let deadline = Instant::now() + LONG;
    while !re.is_match(&tmux.screen()) {
        assert!(Instant::now() < deadline, "{}", tmux.screen());
        tmux.type_line("stty size");
        let asked = Instant::now();
        while !re.is_match(&tmux.screen()) && asked.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(POLL);
        }
    }
    tmux.type_line("exit");
    assert_eq!(tmux.finished(), 0);
    // The size is part of `stty -a` and legitimately changed; everything else must not.
    let (before, after) = tmux.modes();
    let size = Regex::new(r"rows \d+; columns \d+;").unwrap();
    assert!(after.contains("rows 30; columns 100;"), "{after}");
    assert_eq!(size.replace(&before, ""), size.replace(&after, ""));
}
