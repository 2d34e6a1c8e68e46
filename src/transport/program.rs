//! Finding the file a [`Command`](crate::Command) runs, as `exec` does, and saying why a
//! spawn failed: the operating system reports one error number for a missing program, a
//! missing working directory and a missing `#!` interpreter alike.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::SpawnProblem;

/// What a look for the program found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// An executable file: what `exec` runs.
    Executable(PathBuf),
    /// Only a file without execute permission.
    NotExecutable(PathBuf),
    /// Only a directory.
    Directory(PathBuf),
    /// Nothing.
    Missing,
}

/// The C library's `PATH` when the environment has none (`confstr(_CS_PATH)`).
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// The `PATH` the program is looked up in: the one set on the command, else ours (none
/// when the command's environment was cleared).
pub(crate) fn search_path(command: &std::process::Command, env_cleared: bool) -> OsString {
    let set = command
        .get_envs()
        .find(|(name, _)| *name == "PATH")
        .map(|(_, value)| value.map(OsStr::to_owned));
    match set {
        Some(Some(path)) => path,
        // Removed, or never set anywhere: the C library's default.
        Some(None) => DEFAULT_PATH.into(),
        None if env_cleared => DEFAULT_PATH.into(),
        None => std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
    }
}

/// The paths `execvp` tries for `program`, in order: the name itself if it has a `/`;
/// none if it is empty; else the name in each directory of `path` (an empty entry is the
/// working directory, and the name is tried as it is).
pub(crate) fn candidates(program: &OsStr, path: &OsStr) -> Vec<OsString> {
    let name = program.as_bytes();
    if name.contains(&b'/') {
        return vec![program.to_owned()];
    }
    if name.is_empty() {
        return Vec::new();
    }
    path.as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            let mut candidate = dir.to_vec();
            if !dir.is_empty() {
                candidate.push(b'/');
            }
            candidate.extend_from_slice(name);
            OsString::from_vec(candidate)
        })
        .collect()
}

/// The limit a failed step of a spawn ran into, if its error is one: the process's open
/// files (`EMFILE`), the system's (`ENFILE`), or, when `opening_pty`, the system's
/// pseudo-terminals (`ENOSPC`, or `EAGAIN`/`EIO` from older kernels, opening `/dev/ptmx`).
pub(crate) fn limit_problem(error: &io::Error, opening_pty: bool) -> Option<SpawnProblem> {
    match error.raw_os_error()? {
        nix::libc::EMFILE => {
            let (soft, hard) = crate::sys::process::open_file_limit().ok()?;
            Some(SpawnProblem::OpenFileLimit { soft, hard })
        }
        nix::libc::ENFILE => Some(SpawnProblem::SystemOpenFileLimit {
            max: read_number("/proc/sys/fs/file-max"),
        }),
        nix::libc::ENOSPC | nix::libc::EAGAIN | nix::libc::EIO if opening_pty => {
            Some(SpawnProblem::PtyLimit {
                max: read_number("/proc/sys/kernel/pty/max"),
            })
        }
        _ => None,
    }
}

/// The number in a `/proc/sys` file (`None` if it cannot be read: it takes an fd).
fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Looks for `program` as `execvp` does: a name with a `/` is a path (relative to `dir`
/// when one is set, since the child changes directory first); a bare name is tried in each
/// directory of `path`, and the first executable file wins.
pub(crate) fn lookup(program: &OsStr, path: &OsStr, dir: Option<&Path>) -> Lookup {
    let candidates: Vec<PathBuf> = if program.as_bytes().contains(&b'/') {
        let program = Path::new(program);
        vec![match dir {
            Some(dir) if program.is_relative() => dir.join(program),
            _ => program.to_owned(),
        }]
    } else if program.is_empty() {
        Vec::new()
    } else {
        std::env::split_paths(path)
            .map(|entry| match entry.as_os_str().is_empty() {
                true => Path::new(".").join(program),
                false => entry.join(program),
            })
            .collect()
    };
    let mut found = Lookup::Missing;
    for candidate in candidates {
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if meta.is_dir() {
            if found == Lookup::Missing {
                found = Lookup::Directory(candidate);
            }
        } else if meta.permissions().mode() & 0o111 != 0 {
            return Lookup::Executable(candidate);
        } else if !matches!(found, Lookup::NotExecutable(_)) {
            found = Lookup::NotExecutable(candidate);
        }
    }
    found
}

/// Why spawning `command` failed with `error`: a limit it ran into, or what the paths
/// involved show.
pub(crate) fn diagnose(
    command: &std::process::Command,
    env_cleared: bool,
    error: &io::Error,
) -> SpawnProblem {
    if let Some(limit) = limit_problem(error, false) {
        return limit;
    }
    let dir = command.get_current_dir();
    if let Some(dir) = dir {
        if !dir.is_dir() {
            return SpawnProblem::NoWorkingDirectory(dir.to_owned());
        }
    }
    let program = command.get_program();
    let path = search_path(command, env_cleared);
    match lookup(program, &path, dir) {
        Lookup::Missing if program.as_bytes().contains(&b'/') => {
            SpawnProblem::NotFound(PathBuf::from(program))
        }
        Lookup::Missing => SpawnProblem::NotInPath(path),
        Lookup::Directory(found) => SpawnProblem::IsADirectory(found),
        Lookup::NotExecutable(found) => SpawnProblem::NotExecutable(found),
        Lookup::Executable(found) => match error.raw_os_error() {
            Some(nix::libc::ENOENT) => match interpreter(&found) {
                Some(interpreter) if !interpreter.exists() => SpawnProblem::NoInterpreter {
                    script: found,
                    interpreter,
                },
                _ => SpawnProblem::Other,
            },
            Some(nix::libc::ENOEXEC) => SpawnProblem::NotExecutable(found),
            _ => SpawnProblem::Other,
        },
    }
}

/// The interpreter a script's `#!` line names, if it has one.
fn interpreter(script: &Path) -> Option<PathBuf> {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(script).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|&b| b == b'\n').next()?;
    let name = line
        .split(|b| b.is_ascii_whitespace())
        .find(|word| !word.is_empty())?;
    Some(PathBuf::from(OsStr::from_bytes(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_is_looked_up_in_each_directory_of_path() {
        let path = OsStr::new("/no/such/dir:/usr/bin:/bin");
        match lookup(OsStr::new("sh"), path, None) {
            Lookup::Executable(found) => assert!(found.ends_with("sh"), "{found:?}"),
            other => panic!("sh not found: {other:?}"),
        }
        assert_eq!(
            lookup(OsStr::new("no-such-program"), path, None),
            Lookup::Missing
        );
        assert_eq!(lookup(OsStr::new(""), path, None), Lookup::Missing);
    }

    #[test]
    fn candidates_are_what_execvp_tries() {
        let path = OsStr::new("/usr/bin::/bin");
        assert_eq!(
            candidates(OsStr::new("sh"), path),
            ["/usr/bin/sh", "sh", "/bin/sh"]
        );
        assert_eq!(candidates(OsStr::new("./sh"), path), ["./sh"]);
        assert!(candidates(OsStr::new(""), path).is_empty());
    }

    #[test]
    fn limit_errors_name_the_limit() {
        let emfile = io::Error::from_raw_os_error(nix::libc::EMFILE);
        match limit_problem(&emfile, false) {
            Some(SpawnProblem::OpenFileLimit { soft, .. }) => {
                let text = limit_problem(&emfile, false).unwrap().to_string();
                assert!(
                    text.contains(&format!("RLIMIT_NOFILE, soft limit {soft}")),
                    "{text}"
                );
            }
            other => panic!("EMFILE: {other:?}"),
        }
        let enfile = io::Error::from_raw_os_error(nix::libc::ENFILE);
        let text = limit_problem(&enfile, false).unwrap().to_string();
        assert!(text.contains("/proc/sys/fs/file-max = "), "{text}");
        // Opening /dev/ptmx when every pty is taken.
        for errno in [nix::libc::ENOSPC, nix::libc::EAGAIN, nix::libc::EIO] {
            let error = io::Error::from_raw_os_error(errno);
            assert_eq!(limit_problem(&error, false), None);
            let problem = limit_problem(&error, true).unwrap();
            let max: u64 = std::fs::read_to_string("/proc/sys/kernel/pty/max")
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert_eq!(problem, SpawnProblem::PtyLimit { max: Some(max) });
            assert_eq!(
                problem.to_string(),
                format!(
                    "every pseudo-terminal the system allows is in use \
                     (/proc/sys/kernel/pty/max = {max}); end sessions that are no longer \
                     needed, or raise the limit (sysctl kernel.pty.max)"
                )
            );
        }
        let other = io::Error::from_raw_os_error(nix::libc::EPERM);
        assert_eq!(limit_problem(&other, true), None);
    }

    #[test]
    fn a_path_is_relative_to_the_working_directory_when_one_is_set() {
        let found = lookup(OsStr::new("./sh"), OsStr::new(""), Some(Path::new("/bin")));
        assert_eq!(found, Lookup::Executable(PathBuf::from("/bin/./sh")));
        let found = lookup(OsStr::new("/"), OsStr::new(""), None);
        assert_eq!(found, Lookup::Directory(PathBuf::from("/")));
    }
}
