//! The expect engine: a [`Session`] over any [`Transport`], its buffers, patterns and
//! matcher, and what observes it (transcripts, the trace).
//!
//! Owns: reading into bounded buffers, incremental matching ([`matcher`]), the poll loop
//! that waits on a transport's fds with a deadline, and sending with back-pressure. Knows
//! nothing about processes or terminals: those are in [`crate::transport`], which adds
//! `impl Session<ItsTransport>` blocks next to each transport.
//!
//! Imports run downward only: `engine` uses `deadline`, `error`, `escape`, `signals` (the
//! signal pipe a session can watch) and `sys`, never `transport`, `interact` or `script`.

pub(crate) mod absent;
pub(crate) mod actions;
pub(crate) mod background;
pub(crate) mod buffer;
pub(crate) mod escape_skipping;
pub(crate) mod glob;
pub(crate) mod matched;
pub(crate) mod matcher;
pub(crate) mod observer;
pub(crate) mod output;
pub(crate) mod pattern;
pub(crate) mod session;
pub(crate) mod strip;
pub(crate) mod trace;
pub(crate) mod transcript;
pub(crate) mod transport;
pub(crate) mod typing;
