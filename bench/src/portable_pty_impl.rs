//! portable-pty (wezterm's pty crate), through its `PtySystem`, `CommandBuilder`
//! and `Child` traits.
//!
//! portable-pty opens a pty and spawns on it; it has no expect (its master is a
//! blocking `Read`), so it is measured only in the spawn benchmark and shows
//! n/a elsewhere.

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

use crate::session::{Cmd, Expected, Pat, Result, Session};

pub struct PortablePtySession {
    /// Kept open until the session is dropped, as the other implementations keep theirs.
    _master: Box<dyn MasterPty + Send>,
    child: Box<dyn Child + Send + Sync>,
}

impl PortablePtySession {
    pub fn spawn(cmd: &Cmd) -> Result<Self> {
        let pair = native_pty_system().openpty(PtySize {
            rows: 24,
            cols: 80,
            ..PtySize::default()
        })?;
        let mut builder = CommandBuilder::new(&cmd.program);
        builder.args(&cmd.args);
        // Its default is $HOME; the other implementations inherit ours.
        builder.cwd(std::env::current_dir()?);
        let child = pair.slave.spawn_command(builder)?;
        // `pair.slave`, the parent's copy of the slave, is dropped here so EOF can show.
        Ok(Self {
            _master: pair.master,
            child,
        })
    }
}

impl Session for PortablePtySession {
    fn send(&mut self, _data: &[u8]) -> Result<()> {
        Err("portable-pty is measured in the spawn benchmark only".into())
    }

    fn expect(&mut self, _pat: Pat<'_>) -> Result<Expected> {
        Err("portable-pty has no expect".into())
    }

    fn wait(&mut self) -> Result<()> {
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for PortablePtySession {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
