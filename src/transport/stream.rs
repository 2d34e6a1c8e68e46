//! Sessions over existing streams: sockets, serial devices, terminals, files, fd pairs.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{MsgFlags, Shutdown, send, shutdown};
use nix::sys::stat::{SFlag, fstat};

use crate::engine::session::Session;
use crate::engine::transport::{Transport, input_closed};
use crate::error::{Context, Result};
use crate::sys::fd::set_nonblocking;
use crate::sys::term;

/// A session over a stream we did not spawn: see [`Session::from_stream`].
pub type StreamSession<S> = Session<FdStream<S>>;

/// The transport of a [`StreamSession`]: any readable and writable fd, such as a
/// `TcpStream`, `UnixStream`, serial device or terminal opened as a `File`, or an
/// `OwnedFd`.
///
/// The fd is put in non-blocking mode. That flag belongs to the open file description, so
/// other holders of duplicates of the fd see it too.
#[derive(Debug)]
pub struct FdStream<S> {
    inner: S,
    socket: bool,
    /// A terminal (serial line, pty master) reports a hang-up as EIO: the end of output.
    terminal: bool,
    input_closed: bool,
}

impl<S: AsFd> FdStream<S> {
    /// Wraps `stream`, putting it in non-blocking mode and noting whether it is a socket
    /// (writes without SIGPIPE, input can be shut down) or a terminal (EIO is the end).
    pub(crate) fn new(stream: S) -> Result<Self> {
        set_nonblocking(&stream).context("making the stream non-blocking")?;
        let socket = fstat(stream.as_fd())
            .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFSOCK)
            .context("inspecting the stream")?;
        Ok(FdStream {
            socket,
            terminal: term::is_terminal(&stream),
            inner: stream,
            input_closed: false,
        })
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsFd> Transport for FdStream<S> {
    fn read_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }

    fn write_fd(&self) -> Option<BorrowedFd<'_>> {
        (!self.input_closed).then(|| self.inner.as_fd())
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match nix::unistd::read(&self.inner, buf) {
            Err(nix::errno::Errno::EIO) if self.terminal => Ok(0),
            result => Ok(result?),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.input_closed {
            return Err(input_closed());
        }
        if self.socket {
            // MSG_NOSIGNAL: a closed peer is EPIPE, not a SIGPIPE.
            Ok(send(
                self.inner.as_fd().as_raw_fd(),
                buf,
                MsgFlags::MSG_NOSIGNAL,
            )?)
        } else {
            crate::sys::fd::write_without_sigpipe(&self.inner, buf)
        }
    }

    /// Shuts down the writing half of a socket; the peer reads end of file.
    fn close_input(&mut self) -> io::Result<()> {
        if !self.socket {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "only a socket can close its input while staying open for reading",
            ));
        }
        shutdown(self.inner.as_fd().as_raw_fd(), Shutdown::Write)?;
        self.input_closed = true;
        Ok(())
    }
}

impl<S: AsFd> Session<FdStream<S>> {
    /// A session over an existing stream: anything with an fd that can be read and
    /// written. [`send_line`](Session::send_line) appends `"\n"`. On a terminal (a serial
    /// device, a pty master) the hang-up of the far end (EIO) is the end of output.
    ///
    /// ```
    /// use std::io::{BufRead, BufReader, Write};
    /// use std::net::{TcpListener, TcpStream};
    /// use ptychat::Session;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let address = listener.local_addr()?;
    /// let server = std::thread::spawn(move || -> std::io::Result<()> {
    ///     let (mut client, _) = listener.accept()?;
    ///     client.write_all(b"Command? ")?;
    ///     let mut line = String::new();
    ///     BufReader::new(&client).read_line(&mut line)?;
    ///     client.write_all(format!("you said {}", line).as_bytes())
    /// });
    /// let mut s = Session::from_stream(TcpStream::connect(address)?)?;
    /// s.expect("Command? ")?;
    /// s.send_line("date")?;
    /// s.expect("you said date\n")?;
    /// server.join().unwrap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_stream(stream: S) -> Result<Self> {
        Ok(Session::with_transport(FdStream::new(stream)?, b"\n"))
    }
}

impl Session<FdStream<UnixStream>> {
    /// Two sessions connected to each other by `socketpair(AF_UNIX, SOCK_STREAM)`: what one
    /// sends, the other can expect. Handy for tests and for talking to a thread.
    ///
    /// ```
    /// let (mut left, mut right) = ptychat::Session::pair()?;
    /// left.send_line("ping")?;
    /// right.expect("ping\n")?;
    /// right.send_line("pong")?;
    /// left.expect("pong\n")?;
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn pair() -> Result<(Self, Self)> {
        let (a, b) = UnixStream::pair().context("creating a socketpair")?;
        Ok((Session::from_stream(a)?, Session::from_stream(b)?))
    }
}

/// The transport of a session over two separate fds: one to read, one to write (a pair of
/// pipes, a FIFO pair...). See [`Session::from_fds`]. With a child's stderr pipe as a
/// second output, it is the transport of a [`PipeSession`](crate::PipeSession).
#[derive(Debug)]
pub struct FdPair {
    read: OwnedFd,
    write: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

impl FdPair {
    /// Wraps the fds, putting them in non-blocking mode.
    pub(crate) fn new(read: OwnedFd, write: OwnedFd, stderr: Option<OwnedFd>) -> Result<Self> {
        for fd in [Some(&read), Some(&write), stderr.as_ref()]
            .into_iter()
            .flatten()
        {
            set_nonblocking(fd).context("making the fd non-blocking")?;
        }
        Ok(FdPair {
            read,
            write: Some(write),
            stderr,
        })
    }
}

impl Transport for FdPair {
    fn read_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    fn write_fd(&self) -> Option<BorrowedFd<'_>> {
        self.write.as_ref().map(AsFd::as_fd)
    }

    /// Closes the writing fd; the peer reads end of file.
    fn close_input(&mut self) -> io::Result<()> {
        self.write = None;
        Ok(())
    }

    fn stderr_fd(&self) -> Option<BorrowedFd<'_>> {
        self.stderr.as_ref().map(AsFd::as_fd)
    }
}

impl Session<FdPair> {
    /// A session that reads `read` and writes `write`. [`send_line`](Session::send_line)
    /// appends `"\n"`.
    ///
    /// ```
    /// use ptychat::Session;
    /// let (from_peer, to_us) = nix::unistd::pipe()?;
    /// let (from_us, to_peer) = nix::unistd::pipe()?;
    /// let mut s = Session::from_fds(from_peer, to_peer)?;
    /// s.send_line("hello")?;
    /// let mut peer = Session::from_fds(from_us, to_us)?;
    /// peer.expect("hello\n")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_fds(read: OwnedFd, write: OwnedFd) -> Result<Self> {
        Ok(Session::with_transport(
            FdPair::new(read, write, None)?,
            b"\n",
        ))
    }
}
