//! The unsafe half of the crate's `signals` module: the signal handler that writes one byte
//! per signal into the socketpairs of the live `SignalPipe`s, the lock-free table it reads,
//! and installing and restoring dispositions.
//!
//! # The table
//!
//! [`SLOTS`] slots, one per live `SignalPipe`, each a set of atomics:
//!
//! - `WANTS[slot]`: the signals the pipe asked for, one bit per signal number;
//! - `WRITE_FD[slot]`: the write end of its socketpair, or -1;
//! - `PENDING[slot]`: the signals with a byte in the socketpair that the reader has not
//!   taken yet (this is what coalesces bursts: a signal already pending writes no byte);
//! - `BUSY[slot]`: how many handler invocations are using `WRITE_FD[slot]` right now.
//!
//! The handler only does atomic loads and read-modify-writes on these, one `send(2)` per
//! slot, `getpid(2)`, and saves and restores `errno`: no locks, no allocation.
//!
//! Registering and unregistering (never in a handler) are serialised by the `STATE` mutex,
//! which also keeps how many pipes use each signal and the disposition each signal had
//! before the first of them.
//!
//! # Closing a write end safely
//!
//! A handler may be running on another thread, between loading a slot's fd and writing to
//! it, when the slot's pipe is dropped. If the fd were closed then and its number reused,
//! the byte would go to an unrelated file. So dropping a [`Registration`] stores -1 into
//! `WRITE_FD`, then waits until `BUSY` is zero, and only then lets the caller close the fd.
//! The handler increments `BUSY` *before* loading the fd; with sequentially consistent
//! atomics, a handler that loaded the old fd has its increment ordered before the store of
//! -1, so the waiting loop (which loads `BUSY` after that store) sees it.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use nix::errno::Errno;
use nix::libc;

/// How many `SignalPipe`s can be alive at once.
pub(crate) const SLOTS: usize = 64;

/// The largest signal number a pipe can ask for (the masks are `u64`s; `nix`'s `Signal`
/// has only the standard signals, 1 to 31).
const MAX_SIGNAL: libc::c_int = 64;

/// Per-signal tables are indexed by signal number.
const NSIG: usize = MAX_SIGNAL as usize + 1;

static WANTS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
static WRITE_FD: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];
static PENDING: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
static BUSY: [AtomicU32; SLOTS] = [const { AtomicU32::new(0) }; SLOTS];

/// The process the table belongs to. A forked child inherits the table (and the
/// handlers, and copies of the write ends) but must not write into its parent's pipes; the
/// handler compares this with `getpid()`.
static OWNER: AtomicI32 = AtomicI32::new(0);

/// Bookkeeping that only registration touches.
struct State {
    /// Whether each slot is taken.
    used: [bool; SLOTS],
    /// The signals each slot asked for.
    masks: [u64; SLOTS],
    /// How many slots ask for each signal.
    users: [u32; NSIG],
    /// The disposition each signal had before our handler replaced it.
    previous: [Option<libc::sigaction>; NSIG],
}

static STATE: Mutex<State> = Mutex::new(State {
    used: [false; SLOTS],
    masks: [0; SLOTS],
    users: [0; NSIG],
    previous: [None; NSIG],
});

fn bit(signal: libc::c_int) -> u64 {
    1 << (signal - 1)
}

/// The handler installed for every signal some pipe asked for.
///
/// For each slot that wants the signal and does not already have it pending, it writes the
/// signal number as one byte with `send(MSG_DONTWAIT | MSG_NOSIGNAL)`: it never blocks and
/// never raises SIGPIPE. `errno` is saved and restored around it, so the interrupted code
/// does not see it change.
extern "C" fn on_signal(signal: libc::c_int) {
    let saved_errno = Errno::last_raw();
    // In a forked child that has not let go of the table yet (see `forget_inherited`), do
    // nothing: the write ends belong to the parent's pipes.
    if (1..=MAX_SIGNAL).contains(&signal) && nix::unistd::getpid().as_raw() == OWNER.load(SeqCst) {
        let bit = bit(signal);
        let byte = signal as u8;
        for slot in 0..SLOTS {
            if WANTS[slot].load(SeqCst) & bit == 0 {
                continue;
            }
            BUSY[slot].fetch_add(1, SeqCst);
            let fd = WRITE_FD[slot].load(SeqCst);
            // Check the wish again after loading the fd: the slot may have been freed and
            // taken by another pipe since the first check.
            if fd >= 0
                && WANTS[slot].load(SeqCst) & bit != 0
                && PENDING[slot].fetch_or(bit, SeqCst) & bit == 0
            {
                // SAFETY: `fd` is an open socket: dropping the `Registration` waits for
                // BUSY to drop to zero before its owner may close it. The buffer is one byte
                // on our stack. send(2) is async-signal-safe.
                let sent = unsafe {
                    libc::send(
                        fd,
                        (&raw const byte).cast(),
                        1,
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                };
                if sent != 1 {
                    // Nothing was written (a full buffer cannot happen: at most one byte per
                    // signal is in flight). Clear the bit so that the next signal tries again.
                    PENDING[slot].fetch_and(!bit, SeqCst);
                }
            }
            BUSY[slot].fetch_sub(1, SeqCst);
        }
    }
    Errno::set_raw(saved_errno);
}

fn lock() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Installs `on_signal` for `signal` with `SA_RESTART` and an empty mask, and returns the
/// disposition it replaced, exactly as the kernel reported it.
fn install(signal: libc::c_int) -> io::Result<libc::sigaction> {
    // SAFETY: `sigaction` holds integers, a signal set and an `Option` of a function pointer,
    // for all of which zero bytes are a valid value.
    let mut ours: libc::sigaction = unsafe { std::mem::zeroed() };
    ours.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    ours.sa_flags = libc::SA_RESTART;
    // SAFETY: `ours.sa_mask` is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut ours.sa_mask) };
    // SAFETY: as above.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: `on_signal` only does async-signal-safe things (see its comment); both
    // pointers are to locals that outlive the call. Dropping the last `Registration` for
    // the signal puts `previous` back.
    if unsafe { libc::sigaction(signal, &ours, &mut previous) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(previous)
}

/// Puts back a disposition that `install` returned.
fn restore(signal: libc::c_int, previous: &libc::sigaction) -> io::Result<()> {
    // SAFETY: `previous` is exactly what the kernel reported as installed before ours, so
    // this returns the signal to the state it was in; whatever that handler needs, its owner
    // arranged when installing it. sigaction(2) is async-signal-safe (this also runs in a
    // freshly forked child).
    if unsafe { libc::sigaction(signal, previous, std::ptr::null_mut()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A taken slot. Dropping it frees the slot (see [`Registration::drop`]); it must be dropped
/// before the write end it was registered with is closed.
#[derive(Debug)]
pub(crate) struct Registration {
    slot: usize,
    /// The process that registered; a copy of the value in a forked child does nothing.
    pid: libc::pid_t,
}

impl Registration {
    /// The reader took `signal`'s byte out of the socketpair: the next delivery of
    /// `signal` writes a new one.
    pub(crate) fn acknowledge(&self, signal: libc::c_int) {
        if (1..=MAX_SIGNAL).contains(&signal) && self.is_ours() {
            PENDING[self.slot].fetch_and(!bit(signal), SeqCst);
        }
    }

    fn is_ours(&self) -> bool {
        nix::unistd::getpid().as_raw() == self.pid
    }
}

impl Drop for Registration {
    /// Frees the slot: the pipe gets no more bytes, and each of its signals that no other
    /// pipe wants gets its previous disposition back. When this returns, no handler is using
    /// the slot's write end any more, and the caller may close it.
    ///
    /// In a forked child (a copy of the parent's value) this does nothing: the child's table
    /// is its own.
    fn drop(&mut self) {
        if !self.is_ours() {
            return;
        }
        let mut state = lock();
        if OWNER.load(SeqCst) == self.pid && state.used[self.slot] {
            release(&mut state, self.slot);
        }
    }
}

/// Takes a free slot for a pipe whose socketpair write end is `write_fd` (non-blocking,
/// close-on-exec, kept open by the caller until the returned [`Registration`] is dropped)
/// and which wants the signals in `mask` (bit `n - 1` for signal `n`, see [`signal_bit`];
/// not empty). Installs the handler for each signal that had no pipe yet.
pub(crate) fn register(write_fd: RawFd, mask: u64) -> io::Result<Registration> {
    let mut state = lock();
    let me = nix::unistd::getpid().as_raw();
    if OWNER.load(SeqCst) != me {
        // First registration in this process, or the first in a forked child.
        forget_inherited(&mut state);
        OWNER.store(me, SeqCst);
    }
    let Some(slot) = state.used.iter().position(|used| !used) else {
        return Err(io::Error::other(format!(
            "too many signal pipes: at most {SLOTS} can exist at once"
        )));
    };
    // Publish the slot before installing handlers, so that the first signal is not missed;
    // the fd before the wish (the handler checks the wish, then loads the fd).
    PENDING[slot].store(0, SeqCst);
    WRITE_FD[slot].store(write_fd, SeqCst);
    WANTS[slot].store(mask, SeqCst);
    state.used[slot] = true;
    state.masks[slot] = mask;
    for signal in signals_in(mask) {
        let index = signal as usize;
        if state.users[index] == 0 {
            match install(signal) {
                Ok(previous) => state.previous[index] = Some(previous),
                Err(e) => {
                    // Undo: this slot's signals installed so far are counted in `users` and
                    // released again by `release`.
                    state.masks[slot] = mask & (bit(signal) - 1);
                    release(&mut state, slot);
                    return Err(e);
                }
            }
        }
        state.users[index] += 1;
    }
    Ok(Registration { slot, pid: me })
}

/// Frees `slot` (see [`Registration::drop`]), with the lock held.
fn release(state: &mut State, slot: usize) {
    // Restore first: from here on the previous handler gets these signals.
    for signal in signals_in(state.masks[slot]) {
        let index = signal as usize;
        state.users[index] -= 1;
        if state.users[index] == 0 {
            if let Some(previous) = state.previous[index].take() {
                // Cannot fail: the action was valid when the kernel handed it out.
                let _ = restore(signal, &previous);
            }
        }
    }
    WANTS[slot].store(0, SeqCst);
    WRITE_FD[slot].store(-1, SeqCst);
    while BUSY[slot].load(SeqCst) != 0 {
        // A handler on another thread is between loading the fd and writing to it; that
        // takes one system call.
        std::thread::yield_now();
    }
    PENDING[slot].store(0, SeqCst);
    state.used[slot] = false;
    state.masks[slot] = 0;
}

/// Lets go of the table inherited from the parent: the slots stop receiving (their write
/// ends are the parent's pipes) and the signals get back the dispositions they had before
/// the parent's pipes. The fds themselves are left open: the parent's `SignalPipe` values
/// are copied into the child too, and one of them may still be dropped there.
fn forget_inherited(state: &mut State) {
    for slot in 0..SLOTS {
        WANTS[slot].store(0, SeqCst);
        WRITE_FD[slot].store(-1, SeqCst);
        PENDING[slot].store(0, SeqCst);
        // A handler interrupted mid-way at fork time does not exist in the child.
        BUSY[slot].store(0, SeqCst);
        state.used[slot] = false;
        state.masks[slot] = 0;
    }
    for (signal, previous) in state.previous.iter_mut().enumerate() {
        if let Some(previous) = previous.take() {
            let _ = restore(signal as libc::c_int, &previous);
        }
    }
    state.users = [0; NSIG];
}

/// Called in a forked child before it runs any of the caller's code: stops the handler from
/// writing into the parent's pipes and puts back the dispositions the signals had before
/// the parent's pipes. Only async-signal-safe operations: atomics, a `try_lock` (a
/// compare-and-swap) and sigaction(2).
///
/// If another thread of the parent held the registration lock at fork time (possible only
/// through the `_unchecked` fork functions), the dispositions stay ours; the handler still
/// writes nothing, because `OWNER` is the parent's pid.
pub(crate) fn detach_after_fork() {
    let mut state = match STATE.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => {
            for slot in 0..SLOTS {
                WANTS[slot].store(0, SeqCst);
                WRITE_FD[slot].store(-1, SeqCst);
            }
            return;
        }
    };
    if OWNER.load(SeqCst) != 0 {
        forget_inherited(&mut state);
        OWNER.store(0, SeqCst);
    }
}

/// The signal numbers whose bits are set in `mask`.
fn signals_in(mask: u64) -> impl Iterator<Item = libc::c_int> {
    (1..=MAX_SIGNAL).filter(move |&signal| mask & bit(signal) != 0)
}

/// The bit of `signal` in a mask for [`register`].
pub(crate) fn signal_bit(signal: libc::c_int) -> u64 {
    bit(signal)
}

/// True when `signal` is currently ignored (`SIG_IGN`). The disposition is only read.
pub(crate) fn is_ignored(signal: libc::c_int) -> io::Result<bool> {
    // SAFETY: `sigaction` is plain old data (integers, a signal set and a handler address);
    // all-zero bytes are a valid value.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: with a null new action, sigaction(2) changes nothing and only writes the
    // current disposition into `current`, a local that outlives the call.
    let rc = unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(current.sa_sigaction == libc::SIG_IGN)
}

/// Sets `signal` to be ignored (`SIG_IGN`) or to its default action (`SIG_DFL`), as a
/// script's `trap SIG_IGN` / `trap SIG_DFL` asks. Only for signals no pipe is registered
/// for (a live registration would have its handler replaced).
#[cfg(feature = "cli")]
pub(crate) fn set_plain_disposition(signal: libc::c_int, ignore: bool) -> io::Result<()> {
    // SAFETY: `sigaction` is plain old data; all-zero bytes are a valid value (empty mask,
    // no flags).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
    // SAFETY: SIG_IGN and SIG_DFL run no code of ours, so no handler can misbehave; the
    // old action is not asked for.
    let rc = unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
