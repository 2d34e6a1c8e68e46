//! Signals as events: the self-pipe ([`SignalPipe`]) that turns signals into bytes a
//! session's poll sees, and [`alarm`], a per-thread timeout on any blocking call.
//!
//! The handlers themselves, which must be async-signal-safe, are in `sys/signals.rs` and
//! `sys/alarm.rs`; this folder holds the safe types built on them.

pub mod alarm;
mod pipe;

pub use pipe::SignalPipe;
