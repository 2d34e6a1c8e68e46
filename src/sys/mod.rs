//! The operating-system layer: every `unsafe` block of the crate is here (the rest is
//! `#![deny(unsafe_code)]`, with one documented exception: the `unsafe fn`s of
//! `ptychat::fork`, whose contract is the caller's), each with a `// SAFETY:` comment.
//!
//! The contract, as in mio's `sys`: this layer imports nothing from the crate above it
//! (only `crate::sys`), speaks in fds, pids and `io::Result`, and is organised by topic:
//!
//! | file | provides |
//! |---|---|
//! | `child_setup.rs` | the one set-up between fork and exec/closure: placement (process group, or session on a pty), signal reset, close-on-exec of inherited fds |
//! | `spawn.rs` | spawning a program from a `clone(CLONE_VM \| CLONE_VFORK)` child (no copy of our memory), with the pidfd from `CLONE_PIDFD` |
//! | `fork.rs` | fork without exec for a Rust closure, with the single-thread check ([`fork::Trust`]) |
//! | `fd.rs` | non-blocking mode, close-on-exec pipes, moving an fd off stdio, the SIGPIPE-free write |
//! | `term.rs` | opening a pty pair, window size, echo, special characters, `isatty` |
//! | `memory.rs` | `Pages`: an aligned mapping of huge pages for a large buffer, whose pages are given back (`MADV_DONTNEED`) and moved without copying (`mremap`) |
//! | `process.rs` | pidfds, counting our threads |
//! | `signals.rs` | the self-pipe signal handlers and their registry, reading a disposition |
//! | `alarm.rs` | the SIGALRM handler, per-thread POSIX timers, the record of fired timers |
//! | `reading.rs` | whether a pty's foreground processes are blocked reading it (`/proc/PID/task/TID/syscall`, their fds, `process_vm_readv`) |
//! | `reactor.rs` | registering an fd with tokio's reactor through an owned duplicate (feature `tokio`) |
//! | `tcl.rs` | Tcl 8.6 loaded at run time: interpreters, evaluation, variables, commands written in Rust (feature `cli`, for `ptychat expect`) |

pub(crate) mod alarm;
pub(crate) mod child_setup;
pub(crate) mod fd;
pub(crate) mod fork;
pub(crate) mod memory;
pub(crate) mod process;
#[cfg(feature = "tokio")]
pub(crate) mod reactor;
pub(crate) mod reading;
pub(crate) mod signals;
pub(crate) mod spawn;
#[cfg(feature = "cli")]
pub(crate) mod tcl;
pub(crate) mod term;
