//! Sessions driven from async code on the tokio runtime (feature `tokio`).
//!
//! Owns: [`AsyncSession`] (a [`Session`](crate::Session) whose waits — expect, send's
//! back-pressure, the child's exit on its pidfd — are futures on the runtime's fd
//! readiness), the registration of a session's fds with the runtime's reactor
//! ([`fds`]: borrowed fd numbers, dropped before the fds can close), and the wait over
//! many async sessions ([`any`]: [`AsyncSession::expect_any`], [`AnyMatch`]), and
//! [`AsyncGroup`] ([`group`]: the blocking group's membership, plan and errors, waited on
//! with a waker per session, [`wakes`], so that a wakeup costs the sessions that woke).
//!
//! It is a driver of the engine, not a second engine: every expect here runs the
//! engine's `start_expect`, `check` and `ended` over the session's own buffers, as the
//! blocking `expect` and the group's wait do, so matching, buffers, patterns and errors
//! are the same. The futures hold no output: what is read goes into the session at once,
//! which makes dropping them safe (see [`AsyncSession`]'s "Cancellation").
//!
//! Imports run downward: `async_session` uses `group`, `engine`, `transport` (process control,
//! the pty's special characters), `process`, `deadline`, `error`, `escape` and `sys`.

mod any;
mod fds;
mod group;
mod session;
mod wakes;

pub use any::AnyMatch;
pub use group::AsyncGroup;
pub use session::AsyncSession;
