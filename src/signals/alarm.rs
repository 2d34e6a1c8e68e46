//! Deadlines for arbitrary blocking system calls: Perl's `alarm` + `eval`/`die` idiom
//! (perlipc, "Signals"), done per thread and without leaving anything behind.
//!
//! [`with_timeout`] runs a closure with a per-thread POSIX timer armed. When the deadline
//! passes, the calling thread — and only it — gets a SIGALRM whose handler was installed
//! without `SA_RESTART`, so the blocking system call it is in fails with `EINTR`. The
//! closure returns (Rust cannot `die` out of a signal handler the way Perl does, so the
//! closure has to give up on `EINTR` by itself, which `?` on a `nix` result does), and
//! `with_timeout` reports [`Error::CallTimeout`] instead of the closure's value.
//!
//! ```
//! use std::time::Duration;
//! use nix::sys::wait::waitpid;
//! use nix::unistd::Pid;
//!
//! let mut child = std::process::Command::new("sleep").arg("30").spawn()?;
//! let pid = Pid::from_raw(child.id() as i32);
//! let err = ptychat::with_timeout(Duration::from_millis(100), || waitpid(pid, None)).unwrap_err();
//! assert!(matches!(err, ptychat::Error::CallTimeout(_)), "{err}");
//! child.kill()?;
//! child.wait()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Which calls can be interrupted
//!
//! Only calls that report `EINTR` to their caller. Raw system calls do, and so do the
//! `nix` wrappers: [`nix::unistd::read`] and `write`, [`nix::fcntl::open`] (a FIFO with no
//! writer, a slow device), [`nix::fcntl::Flock::lock`], [`nix::sys::wait::waitpid`],
//! [`nix::poll::poll`], socket `accept`/`connect`/`recv`/`send`, and one-shot
//! `std::io::Read::read` / `Write::write` on files, pipes and sockets (as
//! [`std::io::ErrorKind::Interrupted`]).
//!
//! Many `std` APIs retry `EINTR` internally and so **cannot** be interrupted: the deadline is
//! noticed only once they finish on their own. Among them: `File::open` /
//! `OpenOptions::open` (so opening a FIFO with `std` blocks until a writer comes),
//! `read_exact`, `read_to_end`, `read_to_string`, `BufRead::read_line`, `write_all`,
//! `io::copy`, `Child::wait`, `Command::spawn` / `status` / `output`, `thread::sleep`,
//! `TcpListener::accept`, `TcpStream::connect`, and `Mutex` / `Condvar` waits. Use the `nix`
//! equivalents inside the closure.
//!
//! A closure that computes without making system calls is not interrupted either: the
//! signal only runs the handler. It then runs to its end and the call reports the timeout.
//! Nor is one that blocks SIGALRM (with `pthread_sigmask`): expiries while it is blocked are
//! not seen.
//!
//! # Semantics
//!
//! - **Per thread.** The timer is created with `SIGEV_THREAD_ID` for the calling thread, so
//!   other threads, including ones blocked in `read` or in their own `with_timeout`, are not
//!   disturbed.
//! - **Expired means: before the closure returned.** The expiry flag is read right after the
//!   closure returns and before the timer is deleted; an expiry after that point (the race
//!   where the deadline passes just as the closure finishes) is ignored and the result is
//!   `Ok(value)`. When the timer fired before the closure returned, its value is dropped,
//!   after the timer is gone, and the result is the error — also if the closure finished its
//!   blocking call before the signal came.
//! - **Repeats after the deadline.** After the first expiry the thread is signalled again
//!   every 10 ms until the closure returns. This closes the classic `alarm` race (a signal
//!   that arrives just *before* the blocking call starts would otherwise be lost, and the call
//!   would block for good) and also interrupts code that retries `EINTR` a few times.
//!   Consequently a closure should return promptly once it sees `EINTR`, and do any blocking
//!   clean-up (killing and reaping a child, ...) after `with_timeout` returns.
//! - **Nesting.** Calls nest up to 64 deep on one thread; each has its own timer, identified
//!   by the value it carries (`si_value`), and reports only its own expiry. When an outer
//!   deadline passes inside an inner call, the inner closure is interrupted (its blocking
//!   call fails with `EINTR`), the inner call reports whatever that closure returned, and
//!   the outer call reports the timeout.
//! - **Nothing left behind.** The timer is deleted, a SIGALRM it had already queued is
//!   consumed, the thread's signal mask is restored (SIGALRM is unblocked during the call if
//!   it was blocked, and blocked again after it), and the SIGALRM action that was installed
//!   before is put back exactly (the full action that `sigaction` returned: handler, flags
//!   and mask; glibc adds its `SA_RESTORER` trampoline to every action it installs, as it
//!   did to that one), on every path, including a panic in the closure. No file descriptor
//!   is used.
//! - **The handler is process-wide**, as signal actions are. It is installed when the first
//!   `with_timeout` in the process starts and the previous action is restored when the last
//!   one (over all threads) ends. Meanwhile a SIGALRM that is not from these timers (from
//!   `alarm(2)`, `setitimer`, `kill`) is passed to the previous handler if that was a
//!   function, and ignored if it was `SIG_DFL` or `SIG_IGN`; it may then also interrupt a
//!   blocking call in whichever thread takes it. Code that changes the SIGALRM action while
//!   a `with_timeout` is running has its change undone when the last one ends.
//! - Durations are measured on `CLOCK_MONOTONIC`. A zero duration expires at once; durations
//!   are capped at about 68 years.

use std::cell::Cell;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use nix::sys::signal::{SigAction, SigSet, SigmaskHow, Signal, pthread_sigmask};

use crate::error::{Context, Error, Result};
use crate::sys::alarm::{
    SLOTS, ThreadTimer, arm_slot, disarm_slot, install_handler, restore_handler, slot_fired,
};

/// How often an expired timer signals the thread again until the closure returns.
const REPEAT: Duration = Duration::from_millis(10);

/// The longest deadline: what fits a 32-bit `time_t`.
const LONGEST: Duration = Duration::from_secs(i32::MAX as u64);

thread_local! {
    /// How many calls are running on this thread (the next free depth).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// Counts this thread's calls, so that each timer carries a value of its own.
    static SERIAL: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` with a deadline: a blocking system call in `f` that is still blocked when
/// `duration` has passed fails with `EINTR`, and the call then returns
/// [`Error::CallTimeout`].
///
/// Returns `Ok` with `f`'s value if the deadline had not passed when `f` returned, and
/// `Err(Error::CallTimeout(duration))` (dropping `f`'s value) if it had. Fails with
/// [`Error::Io`] if the timer cannot be set up (such as when the process is out of POSIX
/// timers), without calling `f`, and with [`Error::InvalidArgument`] when nested more than
/// 64 deep.
///
/// Only calls that report `EINTR` can be interrupted: `nix` wrappers and raw system calls
/// do, but many `std` APIs (`File::open`, `read_exact`, `write_all`, `Child::wait`,
/// `thread::sleep`, ...) retry it. See the [module documentation](crate::alarm) for the
/// list and for the exact semantics (per-thread timers, nesting, the race at the deadline,
/// the process-wide SIGALRM handler).
///
/// Opening a FIFO that nobody writes to blocks until a writer comes; with a deadline:
///
/// ```
/// use std::time::Duration;
/// use nix::fcntl::{OFlag, open};
/// use nix::sys::stat::Mode;
///
/// let dir = std::env::temp_dir().join(format!("ptychat-doc-fifo-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let fifo = dir.join("fifo");
/// nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600))?;
///
/// let opened = ptychat::with_timeout(Duration::from_millis(200), || {
///     open(&fifo, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
/// });
/// assert!(matches!(opened, Err(ptychat::Error::CallTimeout(_))));
///
/// // A call that finishes in time gives the closure's value.
/// assert_eq!(ptychat::with_timeout(Duration::from_secs(5), || 6 * 7)?, 42);
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn with_timeout<T>(duration: Duration, f: impl FnOnce() -> T) -> Result<T> {
    let armed = Armed::arm(duration)?;
    let value = f();
    // Decided here, before the timer is deleted: an expiry from now on is too late to
    // have interrupted `f`.
    let fired = armed.fired();
    drop(armed);
    if fired {
        // `value` is dropped only now, with the timer gone, so its `Drop` (closing an fd,
        // releasing a lock) is not interrupted.
        drop(value);
        Err(Error::CallTimeout(duration))
    } else {
        Ok(value)
    }
}

/// The state of one running [`with_timeout`]; dropping it undoes everything, in reverse
/// order, including on a panic in the closure or a failure half-way through arming.
struct Armed {
    /// This call counts as a user of the process-wide handler.
    handler: bool,
    /// SIGALRM was blocked in this thread before; block it again at the end.
    reblock: bool,
    /// The nesting depth this call occupies.
    slot: Option<usize>,
    /// The armed timer.
    timer: Option<ThreadTimer>,
}

impl Armed {
    fn arm(duration: Duration) -> Result<Self> {
        let mut armed = Armed {
            handler: false,
            reblock: false,
            slot: None,
            timer: None,
        };

        acquire_handler()?;
        armed.handler = true;

        let alarm = SigSet::from(Signal::SIGALRM);
        let mut previous_mask = SigSet::empty();
        pthread_sigmask(
            SigmaskHow::SIG_UNBLOCK,
            Some(&alarm),
            Some(&mut previous_mask),
        )
        .context("unblocking SIGALRM")?;
        armed.reblock = previous_mask.contains(Signal::SIGALRM);

        let slot = DEPTH.get();
        if slot >= SLOTS {
            return Err(Error::InvalidArgument(format!(
                "with_timeout nested more than {SLOTS} deep"
            )));
        }
        // Nonzero and unique among this thread's recent timers; `value % SLOTS == slot`.
        let serial = SERIAL.get().wrapping_add(1);
        SERIAL.set(serial);
        let value = (serial % (usize::MAX / SLOTS)).max(1) * SLOTS + slot;
        DEPTH.set(slot + 1);
        arm_slot(slot, value);
        armed.slot = Some(slot);

        let thread_id = nix::unistd::gettid().as_raw();
        let mut timer =
            ThreadTimer::new(thread_id, value).context("creating a timer (timer_create)")?;
        let first = duration.clamp(Duration::from_nanos(1), LONGEST);
        timer
            .arm(first, REPEAT)
            .context("arming a timer (timer_settime)")?;
        armed.timer = Some(timer);
        Ok(armed)
    }

    /// Whether this call's timer has fired.
    fn fired(&self) -> bool {
        self.slot.is_some_and(slot_fired)
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        // Deleting the timer stops further expiries. An expiry already queued for this thread
        // is delivered (to the handler, which records it too late to count) when timer_delete
        // returns to user space, or discarded by the kernel, so none is left pending. That
        // takes SIGALRM unblocked, which it is unless the closure blocked it: make sure.
        if self.timer.is_some() {
            // Cannot fail: SIG_UNBLOCK with a valid set.
            let _ = SigSet::from(Signal::SIGALRM).thread_unblock();
        }
        drop(self.timer.take());
        if let Some(slot) = self.slot.take() {
            disarm_slot(slot);
            DEPTH.set(slot);
        }
        if self.reblock {
            // Cannot fail: SIG_BLOCK with a valid set.
            let _ = SigSet::from(Signal::SIGALRM).thread_block();
        }
        if self.handler {
            release_handler();
        }
    }
}

/// Who uses the process-wide SIGALRM handler, and what to restore when nobody does.
struct Handler {
    users: usize,
    previous: Option<SigAction>,
}

static HANDLER: Mutex<Handler> = Mutex::new(Handler {
    users: 0,
    previous: None,
});

/// Counts one more user of the SIGALRM handler, installing it for the first.
fn acquire_handler() -> Result<()> {
    let mut handler = HANDLER.lock().unwrap_or_else(PoisonError::into_inner);
    if handler.users == 0 {
        handler.previous = Some(install_handler().context("installing the SIGALRM handler")?);
    }
    handler.users += 1;
    Ok(())
}

/// Counts one user less, restoring the previous SIGALRM action after the last.
fn release_handler() {
    let mut handler = HANDLER.lock().unwrap_or_else(PoisonError::into_inner);
    handler.users -= 1;
    if handler.users == 0 {
        if let Some(previous) = handler.previous.take() {
            // Cannot fail: the action was valid when the kernel handed it out.
            let _ = restore_handler(&previous);
        }
    }
}
