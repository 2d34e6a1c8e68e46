//! Pipe sessions (Perl's `open2`/`open3`): a child's stdin, stdout and maybe stderr as
//! plain pipes.

use crate::engine::session::Session;
use crate::transport::WithChild;
use crate::transport::stream::FdPair;

/// A session with a program whose stdio are pipes; see
/// [`Command::spawn_piped`](crate::Command::spawn_piped).
pub type PipeSession = Session<Pipes>;

/// Where a piped child's stderr goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StderrMode {
    /// To our own stderr (`open2`).
    Inherit,
    /// Into the same pipe as stdout, interleaved as the program writes them.
    Merge,
    /// To `/dev/null`.
    Null,
    /// A separate pipe (`open3`), read through [`Session::stderr`].
    Separate,
}

/// The transport of a [`PipeSession`]: our ends of the child's stdin, stdout and (for
/// [`StderrMode::Separate`]) stderr pipes, and the child.
///
/// Dropping it closes the pipes (the child sees end of input), then ends and reaps the
/// child.
pub type Pipes = WithChild<FdPair>;
