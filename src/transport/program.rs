//! Finding the file a [`Command`](crate::Command) runs, as `exec` does, and saying why a
//! spawn failed: the operating system reports one error number for a missing program, a
//! missing working directory and a missing `#!` interpreter alike.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
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

/// The `PATH` the program is looked up in: the one set on the command, else ours.
pub(crate) fn search_path(command: &std::process::Command) -> OsString {
    let set = command
        .get_envs()
        .find(|(name, _)| *name == "PATH")
        .map(|(_, value)| value.map(OsStr::to_owned));
    match set {
        Some(Some(path)) => path,
        // Removed, or never set anywhere: the C library's default.
        Some(None) => "/bin:/usr/bin".into(),
        None => std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into()),
    }
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

/// Why spawning `command` failed with `error`, found by looking at the paths involved.
pub(crate) fn diagnose(command: &std::process::Command, error: &io::Error) -> SpawnProblem {
    let dir = command.get_current_dir();
    if let Some(dir) = dir {
        if !dir.is_dir() {
            return SpawnProblem::NoWorkingDirectory(dir.to_owned());
        }
    }
    let program = command.get_program();
    let path = search_path(command);
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
    fn a_path_is_relative_to_the_working_directory_when_one_is_set() {
        let found = lookup(OsStr::new("./sh"), OsStr::new(""), Some(Path::new("/bin")));
        assert_eq!(found, Lookup::Executable(PathBuf::from("/bin/./sh")));
        let found = lookup(OsStr::new("/"), OsStr::new(""), None);
        assert_eq!(found, Lookup::Directory(PathBuf::from("/")));
    }
}
