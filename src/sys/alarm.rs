//! The unsafe half of `with_timeout` (signals/alarm.rs): the SIGALRM handler, installing
//! and restoring it, POSIX timers that signal one thread, and the per-thread record of
//! which timers fired, which the handler writes.
//!
//! `nix::sys::timer::Timer` is not used: its `Drop` skips `timer_delete` while the thread is
//! panicking, which would leak a timer whenever a closure given to `with_timeout` panics.

use std::io;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{
    self, SaFlags, SigAction, SigEvent, SigHandler, SigSet, SigevNotify, Signal,
};
use nix::sys::time::TimeSpec;

/// How deeply `with_timeout` calls can nest on one thread (one bit each in `FIRED`).
pub(crate) const SLOTS: usize = 64;

thread_local! {
    /// The value (`si_value`) of the timer armed at each nesting depth, 0 for none. Read by
    /// the signal handler, so atomics without destructors (constant-initialised thread-locals
    /// are plain TLS accesses, with no lazy set-up that could allocate).
    static ACTIVE: [AtomicUsize; SLOTS] = const { [const { AtomicUsize::new(0) }; SLOTS] };
    /// Bit `d` is set when the timer at depth `d` has fired. Set by the signal handler.
    static FIRED: AtomicU64 = const { AtomicU64::new(0) };
}

/// Records that the timer with `value` is armed at nesting depth `slot` of this thread
/// (`value % SLOTS == slot`), not fired yet.
pub(crate) fn arm_slot(slot: usize, value: usize) {
    FIRED.with(|fired| fired.fetch_and(!(1 << slot), Ordering::SeqCst));
    ACTIVE.with(|active| active[slot].store(value, Ordering::SeqCst));
}

/// Forgets the timer at depth `slot`: a late expiry of it no longer counts.
pub(crate) fn disarm_slot(slot: usize) {
    ACTIVE.with(|active| active[slot].store(0, Ordering::SeqCst));
    FIRED.with(|fired| fired.fetch_and(!(1 << slot), Ordering::SeqCst));
}

/// Whether the timer at depth `slot` of this thread has fired.
pub(crate) fn slot_fired(slot: usize) -> bool {
    FIRED.with(|fired| fired.load(Ordering::SeqCst) & (1 << slot) != 0)
}

/// Called from the SIGALRM handler with a timer signal's value: records the expiry and
/// returns true if the value is that of a timer armed on this thread. Only atomic loads and
/// stores on thread-locals: async-signal-safe.
fn note_expiry(value: usize) -> bool {
    let slot = value % SLOTS;
    if value == 0 || ACTIVE.with(|active| active[slot].load(Ordering::SeqCst) != value) {
        return false;
    }
    FIRED.with(|fired| fired.fetch_or(1 << slot, Ordering::SeqCst));
    true
}

/// A POSIX timer on `CLOCK_MONOTONIC` whose expiries send SIGALRM, carrying a value, to one
/// thread (`SIGEV_THREAD_ID`). Dropping it deletes it, also while panicking.
pub(crate) struct ThreadTimer(libc::timer_t);

impl ThreadTimer {
    /// Creates a disarmed timer whose signal goes to the thread `thread_id` with `value` in
    /// `si_value`.
    pub(crate) fn new(thread_id: libc::pid_t, value: usize) -> io::Result<Self> {
        let mut event = SigEvent::new(SigevNotify::SigevThreadId {
            signal: Signal::SIGALRM,
            thread_id,
            si_value: value as libc::intptr_t,
        })
        .sigevent();
        let mut id: libc::timer_t = std::ptr::null_mut();
        // SAFETY: `event` is a fully initialised `sigevent` and `id` a writable `timer_t`,
        // both locals that outlive the call; timer_create reads the first and writes the second.
        let rc = unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut id) };
        if rc == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(ThreadTimer(id))
    }

    /// Arms the timer: the first expiry after `first` (relative), then one every `interval`.
    /// Both must be nonzero and fit a `time_t` (the caller clamps them).
    pub(crate) fn arm(&mut self, first: Duration, interval: Duration) -> io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: *TimeSpec::from(interval).as_ref(),
            it_value: *TimeSpec::from(first).as_ref(),
        };
        // SAFETY: `self.0` is a timer created by timer_create and not yet deleted (only
        // `drop` deletes it); `spec` is a local read by the call; the old value is not asked
        // for, which a null pointer says.
        let rc = unsafe { libc::timer_settime(self.0, 0, &spec, std::ptr::null_mut()) };
        if rc == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for ThreadTimer {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a timer created by timer_create; this is the only place that
        // deletes it, and it is not used afterwards. timer_delete only fails for an invalid id.
        unsafe { libc::timer_delete(self.0) };
    }
}

/// What SIGALRM did before [`install_handler`], for passing on signals that are not ours.
const PREVIOUS_NONE: u8 = 0;
const PREVIOUS_HANDLER: u8 = 1;
const PREVIOUS_SIGACTION: u8 = 2;
static PREVIOUS_KIND: AtomicU8 = AtomicU8::new(PREVIOUS_NONE);
static PREVIOUS_FN: AtomicUsize = AtomicUsize::new(0);

/// The SIGALRM handler: a timer signal that [`note_expiry`] recognises is
/// recorded (an atomic store into a thread-local); any other SIGALRM goes to the handler
/// function that was installed before ours, if it was a function.
///
/// For this crate's timers it does nothing but that store. Only async-signal-safe things
/// happen here: reads of the `siginfo_t`, atomic loads and stores, and saving and restoring
/// errno around a call of the previous handler (itself a signal handler, so
/// async-signal-safe if it is correct).
extern "C" fn on_sigalrm(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the handler is installed with SA_SIGINFO, so the kernel passes a valid
    // `siginfo_t`; `si_value` is only read for SI_TIMER signals, for which it is the value the
    // timer was created with.
    let timer_value = unsafe {
        if !info.is_null() && (*info).si_code == libc::SI_TIMER {
            Some((*info).si_value().sival_ptr as usize)
        } else {
            None
        }
    };
    if timer_value.is_some_and(note_expiry) {
        return;
    }
    let previous = PREVIOUS_FN.load(Ordering::SeqCst);
    // The interrupted code may be about to look at errno; the previous handler might not
    // have been written to keep it.
    let errno = Errno::last_raw();
    match PREVIOUS_KIND.load(Ordering::SeqCst) {
        PREVIOUS_HANDLER => {
            // SAFETY: PREVIOUS_FN holds the handler of an action without SA_SIGINFO (see
            // `remember_previous`), a function the kernel would call with exactly this type.
            let handler: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(previous) };
            handler(signal);
        }
        PREVIOUS_SIGACTION => {
            // SAFETY: PREVIOUS_FN holds the handler of an action with SA_SIGINFO (see
            // `remember_previous`), a function the kernel would call with exactly this type;
            // it gets the arguments the kernel gave us.
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(previous) };
            handler(signal, info, context);
        }
        // SIG_DFL (terminate) or SIG_IGN: the signal is ignored while we are installed.
        _ => {}
    }
    Errno::set_raw(errno);
}

/// Records the handler function of `action`, the SIGALRM action before ours, for
/// [`on_sigalrm`] to pass foreign signals to (none if it is ours or not a function).
fn remember_previous(action: &libc::sigaction) {
    let ours = on_sigalrm as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);
    let function = action.sa_sigaction;
    let kind =
        if function == libc::SIG_DFL || function == libc::SIG_IGN || function == ours as usize {
            PREVIOUS_NONE
        } else if action.sa_flags & libc::SA_SIGINFO != 0 {
            PREVIOUS_SIGACTION
        } else {
            PREVIOUS_HANDLER
        };
    // The function first: the handler reads the kind, then the function.
    PREVIOUS_FN.store(function, Ordering::SeqCst);
    PREVIOUS_KIND.store(kind, Ordering::SeqCst);
}

/// Installs [`on_sigalrm`] for SIGALRM, with SA_SIGINFO and without SA_RESTART (so blocking
/// calls interrupted by it fail with EINTR), and returns the action it replaced.
pub(crate) fn install_handler() -> io::Result<SigAction> {
    // Learn the current action first, so that a foreign SIGALRM arriving just after ours is
    // in place is still passed on.
    //
    // SAFETY: `sigaction` holds integers, a signal set and an `Option` of a function
    // pointer, for all of which zero bytes are a valid value (`None` for the last); with a
    // null new action, sigaction(2) only writes the current one into `current`, a local that
    // outlives the call.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sigaction(libc::SIGALRM, std::ptr::null(), &mut current) } == -1 {
        return Err(io::Error::last_os_error());
    }
    remember_previous(&current);
    let ours = SigAction::new(
        SigHandler::SigAction(on_sigalrm),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: `on_sigalrm` only does async-signal-safe things (see its comment), and
    // `signals::alarm` restores the returned action (with `restore_handler`) when the last
    // call that needs ours ends.
    let previous = unsafe { signal::sigaction(Signal::SIGALRM, &ours) }.map_err(io::Error::from)?;
    // The same as `current`, unless other code changed the action in between.
    remember_previous(&previous.into());
    Ok(previous)
}

/// Puts back the SIGALRM action that [`install_handler`] returned.
pub(crate) fn restore_handler(previous: &SigAction) -> io::Result<()> {
    // SAFETY: `previous` is exactly the action the kernel reported as installed before ours,
    // so this returns the process to the state it was in (whatever that handler requires,
    // its owner arranged when installing it).
    unsafe { signal::sigaction(Signal::SIGALRM, previous) }.map_err(io::Error::from)?;
    PREVIOUS_KIND.store(PREVIOUS_NONE, Ordering::SeqCst);
    PREVIOUS_FN.store(0, Ordering::SeqCst);
    Ok(())
}
