//! The screen (feature `screen`): a virtual terminal per session, for testing full-screen
//! programs by what they show rather than by the bytes they write.
//!
//! Owns: the terminal model over the `vt100` crate ([`terminal`]: text, cells, cursor,
//! title, modes), screen expectations ([`pattern`]: text or regex anywhere, on a row, in a
//! rectangle, with a look; the cursor; predicates; "unchanged for N ms"), the session
//! methods that keep the screen, wait on it and send keys and mouse reports in its modes
//! ([`session`], [`pty`]), key and mouse encodings ([`keys`]), and pictures: the framed text
//! of failure messages and SVG ([`render`]).
//!
//! Sits above `engine` and `transport`: the engine keeps the screen as its output model
//! (`engine::observer::OutputModel`, fed with every byte any call reads) and lends its read
//! step (`Session::fill_main`) to the screen's wait, so there is one wait loop, not two.

pub(crate) mod keys;
pub(crate) mod pattern;
pub(crate) mod pty;
pub(crate) mod render;
pub(crate) mod session;
pub(crate) mod terminal;
