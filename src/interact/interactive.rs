//! [`Interactive`]: what interact needs of a transport besides reading and writing.

use std::os::fd::{AsFd, BorrowedFd};

#[cfg(doc)]
use crate::engine::session::Session;
use crate::engine::transport::Transport;
use crate::process::Child;
use crate::transport::pty::PtyMaster;
use crate::transport::stream::{FdPair, FdStream};
use crate::transport::{ChildTransport, WithChild};

/// Transports that [`interact`](Session::interact) can drive. Every transport of this
/// crate implements it; for your own [`Transport`], the defaults (no terminal, no process)
/// are an empty `impl`.
pub trait Interactive: Transport {
    /// The terminal the program runs on (a pty master), if any: its window size follows
    /// the user's, and the end of the user's input is passed on as its end-of-file
    /// character. Without one, the end of input is [`close_input`](Transport::close_input).
    fn terminal(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// The process to wait for once its output ends, if any.
    fn process(&mut self) -> Option<&mut Child> {
        None
    }
}

/// A child-owning transport: the terminal (if any) is the inner transport's, the process
/// is the child.
impl<T: Interactive> Interactive for WithChild<T> {
    fn terminal(&self) -> Option<BorrowedFd<'_>> {
        self.get_ref().terminal()
    }

    fn process(&mut self) -> Option<&mut Child> {
        Some(self.child_mut())
    }
}

impl Interactive for PtyMaster {
    fn terminal(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }
}

impl<S: AsFd> Interactive for FdStream<S> {}

impl Interactive for FdPair {}
