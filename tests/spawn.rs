//! Starting programs: exec failures, environment, working directory, and what the child
//! gets (its terminal, its own session, nothing else of ours).

mod common;

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::{py, python, read_to_eof, sh, spawn};
use ptychat::{Command, Error, Pattern, SpawnProblem};

/// A scratch path unique to this process and `name`, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("ptychat-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&path);
        TempPath(path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn spawn_error(command: &mut Command) -> (String, std::io::Error, String) {
    let (program, _, source, text) = spawn_problem(command);
    (program, source, text)
}

/// The parts of the spawn error for `command`: program, problem, OS error, text.
fn spawn_problem(command: &mut Command) -> (String, SpawnProblem, std::io::Error, String) {
    match command.spawn() {
        Ok(mut s) => panic!("spawn succeeded: {:?}", read_to_eof(&mut s)),
        Err(e) => {
            let text = e.to_string();
            match e {
                Error::Spawn {
                    program,
                    problem,
                    source,
                } => (program, problem, source, text),
                other => panic!("expected Error::Spawn, got {other}"),
            }
        }
    }
}

#[test]
fn missing_program_is_a_spawn_error_naming_it() {
    let (program, source, text) = spawn_error(&mut Command::new("/no/such/program"));
    assert_eq!(program, "/no/such/program");
    assert_eq!(source.kind(), ErrorKind::NotFound);
    assert_eq!(source.raw_os_error(), Some(2));
    assert_eq!(
        text,
        "cannot spawn `/no/such/program`: `/no/such/program` does not exist \
         (No such file or directory (os error 2))"
    );
}

#[test]
fn program_missing_from_path_is_a_spawn_error() {
    let name = "ptychat-no-such-program-on-path";
    let (program, source, text) = spawn_error(&mut Command::new(name));
    assert_eq!(program, name);
    assert_eq!(source.kind(), ErrorKind::NotFound);
    assert!(text.contains(name), "{text}");
    assert!(text.contains("os error 2"), "{text}");
}

#[test]
fn non_executable_file_is_a_spawn_error() {
    let file = TempPath::new("not-executable");
    std::fs::write(&file.0, "#!/bin/sh\necho should not run\n").unwrap();
    std::fs::set_permissions(&file.0, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (program, source, text) = spawn_error(&mut Command::new(&file.0));
    assert_eq!(program, file.0.to_string_lossy());
    // Even root needs an execute bit to exec a file.
    assert_eq!(source.kind(), ErrorKind::PermissionDenied, "{text}");
    assert!(text.contains(&*file.0.to_string_lossy()), "{text}");
    assert!(text.contains("os error 13"), "{text}");
}

#[test]
fn directory_is_a_spawn_error() {
    let (_, source, text) = spawn_error(&mut Command::new("/"));
    assert_eq!(source.kind(), ErrorKind::PermissionDenied, "{text}");
    assert!(text.starts_with("cannot spawn `/`: "), "{text}");
}

#[test]
fn missing_working_directory_is_a_spawn_error() {
    let (program, source, text) =
        spawn_error(Command::new("true").current_dir("/no/such/directory"));
    assert_eq!(program, "true");
    assert_eq!(source.kind(), ErrorKind::NotFound, "{text}");
}

/// One error number (ENOENT, EACCES) covers several causes; the error names the one it
/// is, with the path (the kernel only says "No such file or directory").
#[test]
fn spawn_errors_name_the_cause_and_the_path() {
    let (_, problem, _, text) = spawn_problem(Command::new("true").current_dir("/no/such/dir"));
    assert_eq!(
        problem,
        SpawnProblem::NoWorkingDirectory("/no/such/dir".into())
    );
    assert_eq!(
        text,
        "cannot spawn `true`: the working directory `/no/such/dir` does not exist \
         (No such file or directory (os error 2))"
    );

    let (_, problem, _, text) =
        spawn_problem(Command::new("ptychat-nothing-here").env("PATH", "/usr/bin:/bin"));
    assert_eq!(problem, SpawnProblem::NotInPath("/usr/bin:/bin".into()));
    assert!(
        text.starts_with(
            "cannot spawn `ptychat-nothing-here`: no such program in PATH (/usr/bin:/bin)"
        ),
        "{text}"
    );

    let (_, problem, _, text) = spawn_problem(&mut Command::new("/"));
    assert_eq!(problem, SpawnProblem::IsADirectory("/".into()));
    assert!(
        text.starts_with("cannot spawn `/`: `/` is a directory ("),
        "{text}"
    );

    let file = TempPath::new("cause-not-executable");
    std::fs::write(&file.0, "#!/bin/sh\necho should not run\n").unwrap();
    std::fs::set_permissions(&file.0, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, problem, _, text) = spawn_problem(&mut Command::new(&file.0));
    assert_eq!(problem, SpawnProblem::NotExecutable(file.0.clone()));
    assert!(
        text.contains("is not executable (Permission denied"),
        "{text}"
    );

    // A script whose interpreter is missing: exec says ENOENT although the script exists.
    let script = TempPath::new("cause-no-interpreter");
    std::fs::write(&script.0, "#!/no/such/interpreter -x\n").unwrap();
    std::fs::set_permissions(&script.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (_, problem, source, text) = spawn_problem(&mut Command::new(&script.0));
    assert_eq!(source.kind(), ErrorKind::NotFound, "{text}");
    assert_eq!(
        problem,
        SpawnProblem::NoInterpreter {
            script: script.0.clone(),
            interpreter: "/no/such/interpreter".into()
        }
    );
    assert!(
        text.contains("the interpreter `/no/such/interpreter` named on the first line of"),
        "{text}"
    );
}

#[test]
fn program_with_arguments_runs() {
    let mut s = spawn(Command::new("echo").arg("one").args(["two", "three four"]));
    assert_eq!(read_to_eof(&mut s), b"one two three four\r\n");
    assert!(s.wait().unwrap().success());
}

#[test]
fn env_sets_a_variable() {
    let mut s = spawn(
        Command::new("sh")
            .args(["-c", r#"echo "<$PTYCHAT_A>" "<$PTYCHAT_B>""#])
            .env("PTYCHAT_A", "alpha")
            .env("PTYCHAT_B", "two words"),
    );
    assert_eq!(read_to_eof(&mut s), b"<alpha> <two words>\r\n");
}

#[test]
fn env_remove_removes_a_set_variable() {
    let mut s = spawn(
        Command::new("sh")
            .args(["-c", r#"echo "<${PTYCHAT_A-unset}>""#])
            .env("PTYCHAT_A", "alpha")
            .env_remove("PTYCHAT_A"),
    );
    assert_eq!(read_to_eof(&mut s), b"<unset>\r\n");
}

#[test]
fn env_remove_removes_an_inherited_variable() {
    assert!(
        std::env::var_os("PATH").is_some(),
        "the test needs PATH set"
    );
    let mut s = spawn(Command::new("/usr/bin/env").env_remove("PATH"));
    let out = read_to_eof(&mut s);
    let text = String::from_utf8_lossy(&out);
    assert!(!text.lines().any(|l| l.starts_with("PATH=")), "{text}");
    assert!(
        !text.is_empty(),
        "the rest of the environment should be inherited"
    );
}

#[test]
fn env_is_inherited_by_default() {
    let mut s = spawn(Command::new("/usr/bin/env").env("PTYCHAT_ADDED", "1"));
    let out = read_to_eof(&mut s);
    let text = String::from_utf8_lossy(&out);
    let path = std::env::var("PATH").unwrap();
    assert!(text.lines().any(|l| l == format!("PATH={path}")), "{text}");
    assert!(text.lines().any(|l| l == "PTYCHAT_ADDED=1"), "{text}");
}

#[test]
fn env_clear_leaves_only_added_variables() {
    let mut s = spawn(
        Command::new("/usr/bin/env")
            .env("BEFORE_CLEAR", "gone")
            .env_clear()
            .env("ONLY", "this one"),
    );
    assert_eq!(read_to_eof(&mut s), b"ONLY=this one\r\n");
}

#[test]
fn current_dir_sets_the_working_directory() {
    let dir = TempPath::new("cwd");
    std::fs::create_dir(&dir.0).unwrap();
    let canonical = dir.0.canonicalize().unwrap();
    let mut s = spawn(python("import os; print(os.getcwd())").current_dir(&dir.0));
    let out = read_to_eof(&mut s);
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!("{}\r\n", canonical.display())
    );
}

#[test]
fn shell_runs_a_command_line() {
    let mut s = spawn(&mut Command::shell(
        "echo one two | wc -w; echo to-stderr >&2",
    ));
    let out = read_to_eof(&mut s);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        ["2", "to-stderr"]
    );
    assert!(s.wait().unwrap().success());
}

#[test]
fn shell_reports_the_exit_status_of_the_line() {
    let mut s = spawn(&mut Command::shell("exit 9"));
    read_to_eof(&mut s);
    assert_eq!(s.wait().unwrap().code(), Some(9));
}

#[test]
fn stdin_stdout_and_stderr_are_the_terminal() {
    let mut s = sh("[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-three-are-ttys");
    assert_eq!(read_to_eof(&mut s), b"all-three-are-ttys\r\n");
}

#[test]
fn stdin_stdout_and_stderr_are_the_same_pty() {
    let mut s = py("import os\n\
         names = {os.ttyname(fd) for fd in (0, 1, 2)}\n\
         print(len(names), names.pop().startswith('/dev/pts/'))");
    assert_eq!(read_to_eof(&mut s), b"1 True\r\n");
}

#[test]
fn child_leads_a_session_with_the_pty_as_controlling_terminal() {
    let mut s = py("import os\n\
         pid = os.getpid()\n\
         print('sid', os.getsid(0) == pid)\n\
         print('pgrp', os.getpgrp() == pid)\n\
         print('foreground', os.tcgetpgrp(0) == pid)\n\
         os.close(os.open('/dev/tty', os.O_RDWR))  # fails without a controlling tty\n\
         tty_nr = int(open('/proc/self/stat').read().rsplit(')', 1)[1].split()[4])\n\
         print('ctty', tty_nr == os.fstat(0).st_rdev)\n");
    assert_eq!(
        read_to_eof(&mut s),
        b"sid True\r\npgrp True\r\nforeground True\r\nctty True\r\n"
    );
    assert!(s.wait().unwrap().success());
}

#[test]
fn ps_agrees_that_the_shell_leads_its_session() {
    let mut s = sh(r#"sid=$(ps -o sid= -p $$); echo "pid=$$ sid=$((sid))""#);
    let out = read_to_eof(&mut s);
    let text = String::from_utf8_lossy(&out);
    let pid = s.pid();
    assert_eq!(text, format!("pid={pid} sid={pid}\r\n"));
}

#[test]
fn pid_is_the_child_process() {
    let mut s = sh("echo $$");
    let out = read_to_eof(&mut s);
    assert_eq!(String::from_utf8_lossy(&out), format!("{}\r\n", s.pid()));
}

/// The child's SigBlk, SigIgn and SigCgt masks, read by `cat` exec'd directly (a shell
/// would set up handlers of its own).
fn child_signal_masks() -> Vec<(String, u64)> {
    let mut s = spawn(Command::new("cat").arg("/proc/self/status"));
    let out = read_to_eof(&mut s);
    let text = String::from_utf8_lossy(&out);
    ["SigBlk", "SigIgn", "SigCgt"]
        .iter()
        .map(|field| {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{field}:")))
                .unwrap_or_else(|| panic!("no {field} in {text}"));
            let mask = u64::from_str_radix(line[field.len() + 1..].trim(), 16).unwrap();
            (field.to_string(), mask)
        })
        .collect()
}

#[test]
fn signal_dispositions_are_default_and_mask_empty() {
    // Including signals 32 and 33, which glibc keeps for itself and its sigaction()
    // refuses to touch: a test binary started by cargo (through posix_spawn) has them
    // ignored, and an ignored signal stays ignored across exec unless reset.
    for (field, mask) in child_signal_masks() {
        assert_eq!(mask, 0, "{field} is {mask:016x} in the child");
    }
}

#[test]
fn child_gets_no_fds_but_its_terminal() {
    // Other sessions are open in this process while the child starts: their masters (and
    // this session's) must not leak into it.
    let others: Vec<_> = (0..3).map(|_| spawn(&mut Command::new("cat"))).collect();
    let mut s = py("import os\n\
         for fd in sorted(os.listdir('/proc/self/fd'), key=int):\n\
         \x20   try:\n\
         \x20       target = os.readlink('/proc/self/fd/' + fd)\n\
         \x20   except FileNotFoundError:\n\
         \x20       target = 'closed'\n\
         \x20   print(fd, target)\n");
    let out = read_to_eof(&mut s);
    let text = String::from_utf8_lossy(&out).into_owned();
    let fds: Vec<(&str, &str)> = text.lines().map(|l| l.split_once(' ').unwrap()).collect();
    // 0, 1 and 2 are the same pty; anything else may only be listdir's own directory fd,
    // which is closed (or still open on /proc/<pid>/fd) by the time it is inspected.
    // Fds this process inherited without close-on-exec from whatever started it must not
    // show up either (see also tests/fd_inheritance.rs).
    assert!(fds.len() >= 3, "{text}");
    assert_eq!(
        fds[..3].iter().map(|(fd, _)| *fd).collect::<Vec<_>>(),
        ["0", "1", "2"],
        "{text}"
    );
    assert!(fds[0].1.starts_with("/dev/pts/"), "{text}");
    assert!(fds[..3].iter().all(|(_, t)| *t == fds[0].1), "{text}");
    for (fd, target) in &fds[3..] {
        assert!(
            *target == "closed" || (target.starts_with("/proc/") && target.ends_with("/fd")),
            "unexpected fd {fd} -> {target} in the child:\n{text}"
        );
    }
    assert!(fds.len() <= 4, "{text}");
    drop(others);
}

#[test]
fn default_window_size_is_24_by_80() {
    let mut s = spawn(Command::new("stty").arg("size"));
    assert_eq!(s.window_size().unwrap(), (24, 80));
    assert_eq!(read_to_eof(&mut s), b"24 80\r\n");
}

#[test]
fn default_session_settings() {
    let mut s = spawn(&mut Command::new("cat"));
    assert_eq!(s.line_ending(), b"\r");
    assert_eq!(s.max_buffer(), ptychat::DEFAULT_MAX_BUFFER);
    assert!(s.echo().unwrap());
    assert!(!s.is_eof());
    assert!(s.buffer().is_empty());
    let default = Command::new("true").spawn().unwrap();
    assert_eq!(default.timeout(), Some(ptychat::DEFAULT_TIMEOUT));
    s.send_eof().unwrap();
    s.expect(Pattern::eof()).unwrap();
}

#[test]
fn a_command_can_spawn_twice() {
    let mut command = Command::new("echo");
    command.arg("again").timeout(Some(common::LONG));
    for _ in 0..3 {
        let mut s = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawning the same Command again: {e}"));
        assert_eq!(read_to_eof(&mut s), b"again\r\n");
        assert!(s.wait().unwrap().success());
    }
}

/// A script without `#!` is run by `/bin/sh`, as `execvp` does (and `std` did for us):
/// with and without a pre-exec hook, which take different spawn paths.
#[test]
#[allow(unsafe_code)]
fn a_script_without_a_shebang_runs_through_sh() {
    let script = TempPath::new("no-shebang");
    std::fs::write(&script.0, "echo \"run by sh with $# args: $*\"\n").unwrap();
    std::fs::set_permissions(&script.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut command = Command::new(&script.0);
    command.args(["one", "two"]);
    let mut s = spawn(&mut command);
    assert_eq!(read_to_eof(&mut s), b"run by sh with 2 args: one two\r\n");
    assert!(s.wait().unwrap().success());
    // SAFETY: the hook makes no call.
    unsafe { command.pre_exec(|| Ok(())) };
    let mut s = spawn(&mut command);
    assert_eq!(read_to_eof(&mut s), b"run by sh with 2 args: one two\r\n");

    // Found through PATH too.
    let dir = script.0.parent().unwrap();
    let name = script.0.file_name().unwrap();
    let mut s = spawn(Command::new(name).arg("x").env("PATH", dir));
    assert_eq!(read_to_eof(&mut s), b"run by sh with 1 args: x\r\n");
}

/// PATH is searched as `execvp` does: a directory where the name is not executable is
/// skipped, and an empty environment searches the C library's default (`/bin:/usr/bin`).
#[test]
fn path_lookup_skips_what_cannot_run_and_defaults_without_an_environment() {
    let dir = TempPath::new("path-dir");
    std::fs::create_dir(&dir.0).unwrap();
    let shadow = dir.0.join("echo");
    std::fs::write(&shadow, "not a program\n").unwrap();
    std::fs::set_permissions(&shadow, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = format!("{}:/usr/bin:/bin", dir.0.display());
    let mut s = spawn(Command::new("echo").arg("the real one").env("PATH", &path));
    assert_eq!(read_to_eof(&mut s), b"the real one\r\n");
    std::fs::remove_file(&shadow).unwrap();

    let mut s = spawn(Command::new("sh").args(["-c", "echo $#"]).env_clear());
    assert_eq!(read_to_eof(&mut s), b"0\r\n");
    assert_eq!(
        Command::new("sh").env_clear().locate().unwrap().parent(),
        Some(std::path::Path::new("/bin"))
    );
}

#[test]
fn a_nul_byte_in_an_argument_is_a_spawn_error() {
    let err = Command::new("echo").arg("a\0b").spawn().unwrap_err();
    match &err {
        Error::Spawn { source, .. } => assert_eq!(source.kind(), ErrorKind::InvalidInput),
        other => panic!("not a spawn error: {other}"),
    }
}
