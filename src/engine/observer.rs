//! A model of the program's output kept by the session itself (the terminal of the `screen`
//! feature): unlike a [`Transcript`](crate::Transcript), the session keeps it reachable, so
//! the layers above can query it and wait on it.

// Without the `screen` feature nothing sets a model: the hooks stay, unused.
#![cfg_attr(not(feature = "screen"), allow(dead_code))]

use std::any::Any;

/// Sees every byte read from the main output, in order, whichever call read it (an
/// `expect`, a wait, a send draining output, interact), and can be found again by its type.
pub(crate) trait OutputModel: Any + Send {
    /// Bytes just read from the main output.
    fn output(&mut self, bytes: &[u8]);

    /// The terminal the output goes to was resized to `rows` x `cols`.
    fn resized(&mut self, rows: u16, cols: u16);

    /// The model itself, to downcast.
    fn as_any(&self) -> &dyn Any;

    /// The model itself, mutably, to downcast.
    fn as_any_mut(&mut self) -> &mut dyn Any;

    /// The model itself, owned, to downcast.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;

    /// The model as text for an error message (a rendered screen), if it has one.
    fn describe(&self) -> Option<String> {
        None
    }
}
