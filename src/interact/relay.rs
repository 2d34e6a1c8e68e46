//! The relay loop: one `poll(2)` over the user, the program and the signal pipe, passing
//! bytes each way until interact ends.

use std::borrow::Cow;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::Signal;
use nix::sys::termios::{SpecialCharacterIndices, tcgetattr};

use crate::deadline::{Deadline, is_ready, wait};
use crate::engine::session::Session;
use crate::engine::transport::Transport;
use crate::error::{Context, Error, Result};
use crate::signals::SignalPipe;
use crate::sys;

use super::hooks::{Callback, Flow, Reply, Watch, run_hooks};
use super::idle::Idle;
use super::interactive::Interactive;
use super::options::Filter;
use super::outcome::{InteractOutcome, finish};

/// How much the user may type ahead of a program that does not read, before interact stops
/// reading the user's input until the program catches up.
const MAX_PENDING_INPUT: usize = 64 * 1024;

/// One read of the user's input.
const INPUT_CHUNK: usize = 16 * 1024;

/// Why the relay loop ended.
pub(super) enum Ended {
    Outcome(InteractOutcome),
    /// A terminating signal: restore everything, then raise it.
    Signal(Signal),
}

/// A chunk of the program's output.
enum Chunk {
    Data(Vec<u8>),
    /// The output ended; the last bytes.
    End(Vec<u8>),
    Nothing,
}

/// The state of one interact call.
pub(super) struct Relay<'a, 'p> {
    pub(super) escape: Option<u8>,
    pub(super) user_in: BorrowedFd<'a>,
    pub(super) user_out: BorrowedFd<'a>,
    pub(super) user_err: BorrowedFd<'a>,
    /// The user's terminal whose size the program's terminal follows.
    pub(super) size_from: Option<BorrowedFd<'a>>,
    pub(super) input_watch: Watch<'p>,
    pub(super) output_watch: Watch<'p>,
    pub(super) input_callbacks: Vec<Callback<'a>>,
    pub(super) output_callbacks: Vec<Callback<'a>>,
    pub(super) input_filter: Option<Filter<'a>>,
    pub(super) output_filter: Option<Filter<'a>>,
    pub(super) input_idle: Option<Idle<'a>>,
    pub(super) output_idle: Option<Idle<'a>>,
    /// Bytes waiting to be written to the program.
    pub(super) pending: Vec<u8>,
    /// Still reading the user's input.
    pub(super) input_open: bool,
    /// The user's input ended; pass that on once `pending` is written.
    pub(super) eof_to_forward: bool,
    /// The last byte queued for the program (a line is open unless it ends one).
    pub(super) last_typed: Option<u8>,
    /// The program's input still takes bytes.
    pub(super) can_write: bool,
    /// Interact is ending with this outcome once `pending` is written, or at the deadline.
    pub(super) stopping: Option<(InteractOutcome, Deadline)>,
}

/// Which of the polled fds were ready.
#[derive(Default)]
struct Ready {
    signals: bool,
    input: bool,
    output: bool,
    stderr: bool,
    writable: bool,
}

impl Relay<'_, '_> {
    pub(super) fn run<T: Interactive>(
        &mut self,
        session: &mut Session<T>,
        mut signals: Option<&mut SignalPipe>,
    ) -> Result<Ended> {
        self.copy_window_size(session);
        let buffered = session.take_buffer();
        if !buffered.is_empty() && self.output(&buffered)? == Flow::Stop {
            self.stop(session, InteractOutcome::Stopped);
        }
        let buffered = session.stderr().take_buffer();
        write_all(self.user_err, &buffered, "writing to the user's stderr")?;
        if session.is_eof() {
            // The output ended before interact started.
            self.relay_stderr(session)?;
            return finish(session).map(Ended::Outcome);
        }
        loop {
            if self.eof_to_forward && self.pending.is_empty() {
                self.forward_eof(session)?;
            }
            let mut deadline = Deadline::after(None);
            if let Some((outcome, stop_at)) = self.stopping {
                let flushed = self.pending.is_empty() || !self.can_write;
                if flushed || stop_at.has_passed() {
                    if outcome == InteractOutcome::InputEnded {
                        if let Some(ended) = self.pass_on_available(session)? {
                            return Ok(ended);
                        }
                    }
                    return Ok(Ended::Outcome(outcome));
                }
                deadline = stop_at;
            } else if let Some(due) = self.idle_due() {
                deadline = Deadline::at(due);
            }
            let stderr_open =
                session.transport().stderr_fd().is_some() && !session.stderr().is_eof();
            let Some(ready) = self.poll(session, signals.as_deref(), stderr_open, &deadline)?
            else {
                self.run_idle_hooks(session)?;
                continue;
            };
            if ready.signals {
                if let Some(pipe) = signals.as_deref_mut() {
                    for signal in pipe.drain()? {
                        if signal == Signal::SIGWINCH {
                            self.copy_window_size(session);
                        } else {
                            return Ok(Ended::Signal(signal));
                        }
                    }
                }
            }
            if ready.output {
                match read_output(session)? {
                    Chunk::Data(data) => {
                        if self.output(&data)? == Flow::Stop {
                            self.stop(session, InteractOutcome::Stopped);
                        }
                    }
                    Chunk::End(rest) => {
                        self.output(&rest)?;
                        self.relay_stderr(session)?;
                        return finish(session).map(Ended::Outcome);
                    }
                    Chunk::Nothing => {}
                }
            }
            if ready.stderr {
                self.relay_stderr(session)?;
            }
            if ready.input {
                self.read_input(session)?;
            }
            if ready.writable || !self.pending.is_empty() {
                self.write_pending(session);
            }
            self.run_idle_hooks(session)?;
        }
    }

    /// When the first idle hook is due.
    fn idle_due(&self) -> Option<std::time::Instant> {
        [&self.input_idle, &self.output_idle]
            .into_iter()
            .flatten()
            .filter_map(Idle::due)
            .min()
    }

    /// Runs the idle hooks that are due (not once interact is ending).
    fn run_idle_hooks<T: Interactive>(&mut self, session: &mut Session<T>) -> Result<()> {
        if self.stopping.is_some() {
            return Ok(());
        }
        let mut reply = Reply::default();
        let mut flow = Flow::Continue;
        for idle in [&mut self.input_idle, &mut self.output_idle]
            .into_iter()
            .flatten()
        {
            if idle.run_if_due(&mut reply) == Flow::Stop {
                flow = Flow::Stop;
            }
        }
        self.apply(reply)?;
        if !self.pending.is_empty() {
            self.write_pending(session);
        }
        if flow == Flow::Stop {
            self.stop(session, InteractOutcome::Stopped);
        }
        Ok(())
    }

    /// Waits for something to do. `None` at the deadline.
    fn poll<T: Interactive>(
        &self,
        session: &Session<T>,
        signals: Option<&SignalPipe>,
        stderr_open: bool,
        deadline: &Deadline,
    ) -> Result<Option<Ready>> {
        let transport = session.transport();
        let reading_input =
            self.input_open && self.stopping.is_none() && self.pending.len() < MAX_PENDING_INPUT;
        let stderr = transport.stderr_fd().filter(|_| stderr_open);
        let write = transport
            .write_fd()
            .filter(|_| self.can_write && !self.pending.is_empty());
        let candidates: [(Option<BorrowedFd<'_>>, PollFlags); 5] = [
            (signals.map(AsFd::as_fd), PollFlags::POLLIN),
            (reading_input.then_some(self.user_in), PollFlags::POLLIN),
            (
                (!session.is_eof()).then(|| transport.read_fd()),
                PollFlags::POLLIN,
            ),
            (stderr, PollFlags::POLLIN),
            (write, PollFlags::POLLOUT),
        ];
        let mut fds = Vec::with_capacity(candidates.len());
        let mut slots = [None; 5];
        for (slot, (fd, flags)) in candidates.iter().enumerate() {
            if let Some(fd) = fd {
                slots[slot] = Some(fds.len());
                fds.push(PollFd::new(*fd, *flags));
            }
        }
        if wait(&mut fds, deadline)
            .context("waiting for the user or the program")?
            .is_none()
        {
            return Ok(None);
        }
        let ready = |slot: usize| slots[slot].is_some_and(|i| is_ready(&fds[i]));
        Ok(Some(Ready {
            signals: ready(0),
            input: ready(1),
            output: ready(2),
            stderr: ready(3),
            writable: ready(4),
        }))
    }

    /// Starts ending with `outcome` (the first reason wins).
    fn stop<T: Interactive>(&mut self, session: &Session<T>, outcome: InteractOutcome) {
        if self.stopping.is_none() {
            self.stopping = Some((outcome, Deadline::after(session.timeout())));
        }
    }

    /// Passes a chunk of the program's output to the user and runs the output hooks.
    fn output(&mut self, data: &[u8]) -> Result<Flow> {
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        if let Some(idle) = &mut self.output_idle {
            idle.touch();
        }
        let matches = self.output_watch.feed(data);
        let shown = match &mut self.output_filter {
            Some(filter) => Cow::Owned(filter(data)),
            None => Cow::Borrowed(data),
        };
        write_all(self.user_out, &shown, "writing to the user's output")?;
        let mut reply = Reply::default();
        let flow = run_hooks(&mut self.output_callbacks, &matches, &mut reply);
        self.apply(reply)?;
        Ok(flow)
    }

    /// Reads what the user typed and handles it.
    fn read_input<T: Interactive>(&mut self, session: &mut Session<T>) -> Result<()> {
        let mut buf = [0u8; INPUT_CHUNK];
        let n = match nix::unistd::read(self.user_in, &mut buf) {
            Ok(n) => n,
            Err(Errno::EINTR | Errno::EAGAIN) => return Ok(()),
            // A terminal that hung up.
            Err(Errno::EIO) => 0,
            Err(e) => return Err(Error::io("reading the user's input", e)),
        };
        if n == 0 {
            self.input_open = false;
            self.eof_to_forward = true;
            return Ok(());
        }
        if let Some(idle) = &mut self.input_idle {
            idle.touch();
        }
        let chunk = &buf[..n];
        let (typed, escaped) = match self.escape.and_then(|e| memchr::memchr(e, chunk)) {
            Some(at) => (&chunk[..at], true),
            None => (chunk, false),
        };
        let mut flow = Flow::Continue;
        if !typed.is_empty() {
            let matches = self.input_watch.feed(typed);
            let forwarded = match &mut self.input_filter {
                Some(filter) => Cow::Owned(filter(typed)),
                None => Cow::Borrowed(typed),
            };
            self.queue(&forwarded);
            let mut reply = Reply::default();
            flow = run_hooks(&mut self.input_callbacks, &matches, &mut reply);
            self.apply(reply)?;
        }
        if escaped {
            self.stop(session, InteractOutcome::Escaped);
        } else if flow == Flow::Stop {
            self.stop(session, InteractOutcome::Stopped);
        }
        Ok(())
    }

    /// Carries out what hooks asked for.
    fn apply(&mut self, reply: Reply) -> Result<()> {
        self.queue(&reply.send);
        write_all(self.user_out, &reply.show, "writing to the user's output")
    }

    /// Queues bytes for the program.
    fn queue(&mut self, data: &[u8]) {
        if let Some(&last) = data.last() {
            if self.can_write {
                self.pending.extend_from_slice(data);
            }
            self.last_typed = Some(last);
        }
    }

    /// Writes as much of the pending input as the program takes now.
    fn write_pending<T: Interactive>(&mut self, session: &mut Session<T>) {
        while !self.pending.is_empty() && self.can_write {
            match session.transport_mut().write(&self.pending) {
                Ok(0) => return,
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // The program closed its input (or is gone; its output will end too).
                Err(_) => {
                    self.can_write = false;
                    self.pending.clear();
                }
            }
        }
    }

    /// Passes on the output that is already there, without waiting. If it ends, the
    /// program is waited for as at any end of output, and that is how interact ends.
    fn pass_on_available<T: Interactive>(
        &mut self,
        session: &mut Session<T>,
    ) -> Result<Option<Ended>> {
        loop {
            match read_output(session)? {
                // Hooks still run; a stop they ask for changes nothing now.
                Chunk::Data(data) => drop(self.output(&data)?),
                Chunk::End(rest) => {
                    self.output(&rest)?;
                    self.relay_stderr(session)?;
                    return finish(session).map(|outcome| Some(Ended::Outcome(outcome)));
                }
                Chunk::Nothing => return Ok(None),
            }
        }
    }

    /// Passes the end of the user's input on (see `interact_with`), then ends interact
    /// with [`InteractOutcome::InputEnded`] once it is written (as Expect's `interact`
    /// returns at the user's end of file).
    fn forward_eof<T: Interactive>(&mut self, session: &mut Session<T>) -> Result<()> {
        self.eof_to_forward = false;
        self.stop(session, InteractOutcome::InputEnded);
        if !self.can_write {
            return Ok(());
        }
        let veof = match session.transport().terminal() {
            Some(master) => Some(
                tcgetattr(master)
                    .context("reading the program's terminal mode")?
                    .control_chars[SpecialCharacterIndices::VEOF as usize],
            ),
            None => None,
        };
        match veof {
            Some(veof) => {
                let times = match self.last_typed {
                    None | Some(b'\n' | b'\r') => 1,
                    Some(_) => 2,
                };
                let eofs = vec![veof; times];
                self.pending.extend_from_slice(&eofs);
                self.write_pending(session);
            }
            None => match session.transport_mut().close_input() {
                Ok(()) => self.can_write = false,
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {}
                Err(e) => return Err(Error::io("closing the program's input", e)),
            },
        }
        Ok(())
    }

    /// Copies the user's terminal size to the program's terminal, best effort.
    fn copy_window_size<T: Interactive>(&self, session: &Session<T>) {
        let (Some(from), Some(to)) = (self.size_from, session.transport().terminal()) else {
            return;
        };
        if let Ok((rows, cols)) = sys::term::window_size(from) {
            if rows > 0 && cols > 0 {
                let _ = sys::term::set_window_size(to, rows, cols);
            }
        }
    }

    /// Passes what the program wrote to its separate stderr to the user's stderr.
    fn relay_stderr<T: Interactive>(&mut self, session: &mut Session<T>) -> Result<()> {
        let mut stderr = session.stderr();
        if stderr.is_eof() {
            return Ok(());
        }
        stderr.read_available()?;
        let data = stderr.take_buffer();
        write_all(self.user_err, &data, "writing to the user's stderr")
    }
}

/// One read of the program's output, without waiting, plus whatever was still buffered
/// (through the session, so transcripts see it). One read at a time, so a program that
/// never stops writing cannot keep us from the user's input.
fn read_output<T: Transport>(session: &mut Session<T>) -> Result<Chunk> {
    session.read_chunk()?;
    let data = session.take_buffer();
    Ok(if session.is_eof() {
        Chunk::End(data)
    } else if data.is_empty() {
        Chunk::Nothing
    } else {
        Chunk::Data(data)
    })
}

/// Writes all of `data` to one of the user's fds, waiting if it is non-blocking and full.
fn write_all(fd: BorrowedFd<'_>, mut data: &[u8], context: &'static str) -> Result<()> {
    while !data.is_empty() {
        match sys::fd::write_without_sigpipe(fd, data) {
            Ok(0) => {
                return Err(Error::io(
                    context,
                    io::Error::from(io::ErrorKind::WriteZero),
                ));
            }
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                wait(&mut fds, &Deadline::after(None)).context(context)?;
            }
            Err(e) => return Err(Error::io(context, e)),
        }
    }
    Ok(())
}
