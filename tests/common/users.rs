//! Throwaway local users for the tests that log in or change passwords (ssh, passwd,
//! passmass): made with `useradd -m`, deleted with their home on drop. They need root, as
//! CI runs.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{assert_success, require, stdout};

/// `useradd`, `chpasswd` and `userdel` lock /etc/passwd and /etc/shadow: one at a time in
/// a test binary.
static USERS: Mutex<()> = Mutex::new(());

/// A local user that exists until it is dropped.
pub struct ThrowawayUser {
    /// The login name: `pty`, the tag, the process id and a counter.
    pub name: String,
    /// The password set at creation (empty when none was set: the account is locked).
    pub password: String,
}

impl ThrowawayUser {
    /// A user with `shell` and no password; `tag` (a few letters) goes into its name.
    pub fn new(tag: &str, shell: &str) -> Self {
        Self::with_password(tag, shell, "")
    }

    /// A user with `shell` and `password` (none when empty).
    pub fn with_password(tag: &str, shell: &str, password: &str) -> Self {
        require("useradd");
        let uid = stdout(&Command::new("id").arg("-u").output().unwrap());
        assert!(
            uid.trim() == "0",
            "this test creates a throwaway user and needs root (as CI runs)"
        );
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "pty{tag}{}x{}",
            std::process::id() % 100_000,
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let _lock = USERS.lock().unwrap_or_else(|e| e.into_inner());
        let made = Command::new("useradd")
            .args(["-m", "-s", shell, &name])
            .output()
            .unwrap();
        assert_success(&made);
        let user = ThrowawayUser {
            name,
            password: password.to_owned(),
        };
        if !password.is_empty() {
            require("chpasswd");
            let mut chpasswd = Command::new("chpasswd")
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            writeln!(chpasswd.stdin.take().unwrap(), "{}:{password}", user.name).unwrap();
            assert!(chpasswd.wait().unwrap().success(), "chpasswd failed");
        }
        user
    }

    /// The password hash in /etc/shadow.
    pub fn hash(&self) -> String {
        let _lock = USERS.lock().unwrap_or_else(|e| e.into_inner());
        let entry = Command::new("getent")
            .args(["shadow", &self.name])
            .output()
            .unwrap();
        assert_success(&entry);
        stdout(&entry).split(':').nth(1).unwrap().to_owned()
    }

    /// Whether `password` is the user's password now: the shadow hash recomputed by the C
    /// library's crypt (through perl, which has it built in).
    pub fn has_password(&self, password: &str) -> bool {
        require("perl");
        let hash = self.hash();
        let check = Command::new("perl")
            .args([
                "-e",
                "print crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? 'yes' : 'no'",
                password,
                &hash,
            ])
            .output()
            .unwrap();
        assert_success(&check);
        stdout(&check) == "yes"
    }
}

impl Drop for ThrowawayUser {
    fn drop(&mut self) {
        let _lock = USERS.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel")
            .args(["-r", "-f", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}
