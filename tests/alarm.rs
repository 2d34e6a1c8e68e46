//! `with_timeout`: deadlines for blocking system calls, on real processes, files and pipes.
//!
//! The tests of this binary run on parallel threads of one process, which is the point of
//! per-thread timers: a signal aimed at the process would hit whichever test thread the
//! kernel picks. Process-wide checks (the SIGALRM action, the process's timer and fd counts)
//! are in `alarm_leaks.rs`, a binary with one test.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag, open};
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{Pid, gettid, mkfifo, pipe, read, write};
use ptychat::{Error, with_timeout};

/// The deadline for calls that are meant to time out.
const SHORT: Duration = Duration::from_millis(200);
/// The deadline for calls that are not: a passing test never waits for it.
const LONG: Duration = Duration::from_secs(30);
/// How long a timed-out call may take at most, however loaded the machine.
const SLACK: Duration = Duration::from_secs(20);

fn assert_timed_out<T: std::fmt::Debug>(
    result: ptychat::Result<T>,
    duration: Duration,
    start: Instant,
) {
    let elapsed = start.elapsed();
    match result {
        Err(Error::CallTimeout(d)) => assert_eq!(d, duration),
        other => panic!("expected CallTimeout({duration:?}), got {other:?}"),
    }
    assert!(
        elapsed >= duration,
        "returned after {elapsed:?}, before the deadline {duration:?}"
    );
    assert!(elapsed < SLACK, "returned only after {elapsed:?}");
}

/// A fresh, empty directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ptychat-alarm-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// How many POSIX timers signal the calling thread (`/proc/self/timers` lists a process's
/// timers, with `notify: signal/tid.TID` for `SIGEV_THREAD_ID` ones).
fn timers_of_this_thread() -> usize {
    let wanted = format!("notify: signal/tid.{}", gettid());
    fs::read_to_string("/proc/self/timers")
        .unwrap()
        .lines()
        .filter(|line| line.trim() == wanted)
        .count()
}

/// True if the calling thread gets no signal within `wait`: a `poll` on a pipe nobody
/// writes to runs to its timeout instead of failing with EINTR.
fn no_signal_within(wait: Duration) -> bool {
    let (reader, _writer) = pipe().unwrap();
    let mut fds = [PollFd::new(
        std::os::fd::AsFd::as_fd(&reader),
        PollFlags::POLLIN,
    )];
    let timeout = PollTimeout::try_from(wait).unwrap();
    match poll(&mut fds, timeout) {
        Ok(0) => true,
        Ok(n) => panic!("poll on an idle pipe reported {n} ready fds"),
        Err(Errno::EINTR) => false,
        Err(e) => panic!("poll: {e}"),
    }
}

/// Blocks reading `fd` and returns the result of that one `read(2)`, EINTR included.
fn read_once(fd: &OwnedFd) -> nix::Result<Vec<u8>> {
    let mut buf = [0u8; 64];
    let n = read(fd, &mut buf)?;
    Ok(buf[..n].to_vec())
}

/// Waits until thread `tid` of this process is blocked in `read(2)`.
fn wait_until_blocked_in_read(tid: Pid) {
    let path = format!("/proc/self/task/{tid}/syscall");
    let deadline = Instant::now() + LONG;
    loop {
        let text = fs::read_to_string(&path).unwrap_or_default();
        if text.split_whitespace().next() == Some(&libc::SYS_read.to_string()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "thread {tid} never blocked in read: {text:?}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn flock_on_a_file_locked_by_another_process_times_out() {
    let dir = temp_dir("flock");
    let path = dir.join("lockfile");
    File::create(&path).unwrap();
    // `flock FILE cmd` holds an exclusive lock while cmd runs; `cat` runs until its stdin
    // closes, and `echo` says the lock is held.
    let mut holder = Command::new("flock")
        .arg(&path)
        .args(["sh", "-c", "echo locked; exec cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the flock utility (util-linux)");
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "locked\n");

    let mut errno = None;
    let start = Instant::now();
    let result = with_timeout(SHORT, || {
        match Flock::lock(File::open(&path).unwrap(), FlockArg::LockExclusive) {
            Ok(lock) => Some(lock),
            Err((_, e)) => {
                errno = Some(e);
                None
            }
        }
    });
    assert_timed_out(result, SHORT, start);
    assert_eq!(errno, Some(Errno::EINTR));

    // Once the holder is gone, the same call gets the lock within its deadline.
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    let lock = with_timeout(LONG, || {
        Flock::lock(File::open(&path).unwrap(), FlockArg::LockExclusive)
    })
    .unwrap()
    .map_err(|(_, e)| e)
    .unwrap();
    drop(lock);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn opening_a_fifo_without_a_writer_times_out() {
    let dir = temp_dir("fifo");
    let fifo = dir.join("fifo");
    mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();

    let mut errno = None;
    let start = Instant::now();
    let result = with_timeout(SHORT, || {
        open(&fifo, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| errno = Some(e))
    });
    assert_timed_out(result, SHORT, start);
    assert_eq!(errno, Some(Errno::EINTR));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn waitpid_on_a_sleeping_child_times_out() {
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = Pid::from_raw(child.id() as i32);

    let start = Instant::now();
    assert_timed_out(with_timeout(SHORT, || waitpid(pid, None)), SHORT, start);

    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
}

#[test]
fn another_thread_blocked_in_read_is_not_disturbed() {
    let (reader, writer) = pipe().unwrap();
    let (tid_tx, tid_rx) = mpsc::channel();
    let other = thread::spawn(move || {
        tid_tx.send(gettid()).unwrap();
        read_once(&reader)
    });
    let other_tid = tid_rx.recv().unwrap();
    wait_until_blocked_in_read(other_tid);

    // This thread's deadline passes (and its timer repeats) while the other thread reads.
    let (idle_reader, _idle_writer) = pipe().unwrap();
    let start = Instant::now();
    assert_timed_out(
        with_timeout(SHORT, || read_once(&idle_reader)),
        SHORT,
        start,
    );
    let start = Instant::now();
    assert_timed_out(
        with_timeout(SHORT, || read_once(&idle_reader)),
        SHORT,
        start,
    );

    // The other thread is still in the same read(2), which returns the data normally.
    wait_until_blocked_in_read(other_tid);
    assert_eq!(write(&writer, b"hello").unwrap(), 5);
    assert_eq!(other.join().unwrap(), Ok(b"hello".to_vec()));
}

#[test]
fn calls_on_two_threads_report_their_own_expiry() {
    let (reader, writer) = pipe().unwrap();
    let (tid_tx, tid_rx) = mpsc::channel();
    let other = thread::spawn(move || {
        with_timeout(LONG, || {
            tid_tx.send(gettid()).unwrap();
            read_once(&reader)
        })
    });
    let other_tid = tid_rx.recv().unwrap();
    wait_until_blocked_in_read(other_tid);

    let (idle_reader, _idle_writer) = pipe().unwrap();
    let start = Instant::now();
    assert_timed_out(
        with_timeout(SHORT, || read_once(&idle_reader)),
        SHORT,
        start,
    );

    wait_until_blocked_in_read(other_tid);
    write(&writer, b"data").unwrap();
    assert_eq!(other.join().unwrap().unwrap(), Ok(b"data".to_vec()));
}

#[test]
fn an_inner_expiry_is_reported_by_the_inner_call_only() {
    let (reader, _writer) = pipe().unwrap();
    let start = Instant::now();
    let outer = with_timeout(LONG, || {
        let inner_start = Instant::now();
        let inner = with_timeout(SHORT, || read_once(&reader));
        assert_timed_out(inner, SHORT, inner_start);
        "outer finished"
    });
    assert_eq!(outer.unwrap(), "outer finished");
    assert!(start.elapsed() < SLACK);
    assert_eq!(timers_of_this_thread(), 0);
    assert!(no_signal_within(Duration::from_millis(300)));
}

#[test]
fn an_outer_expiry_interrupts_the_inner_closure() {
    let (reader, _writer) = pipe().unwrap();
    let mut inner = None;
    let start = Instant::now();
    let outer = with_timeout(SHORT, || {
        inner = Some(with_timeout(LONG, || read_once(&reader)));
    });
    assert_timed_out(outer, SHORT, start);
    // The inner deadline did not pass: the inner call reports what its closure returned,
    // the interrupted read.
    assert_eq!(inner.unwrap().unwrap(), Err(Errno::EINTR));
    assert_eq!(timers_of_this_thread(), 0);
}

#[test]
fn a_call_that_finishes_in_time_returns_its_value_and_leaves_nothing_behind() {
    assert_eq!(with_timeout(Duration::from_millis(100), || 42).unwrap(), 42);
    assert_eq!(timers_of_this_thread(), 0);
    // Well past the deadline, no signal arrives.
    assert!(no_signal_within(Duration::from_millis(400)));

    // Also after the deadline passed inside a call: its repeats stop with it.
    let (reader, _writer) = pipe().unwrap();
    assert!(with_timeout(Duration::from_millis(50), || read_once(&reader)).is_err());
    assert_eq!(timers_of_this_thread(), 0);
    assert!(no_signal_within(Duration::from_millis(400)));
}

#[test]
fn a_zero_deadline_interrupts_a_call_that_starts_after_it_passed() {
    // The timer fires before the closure even reaches `read`; the repeats interrupt it.
    let (reader, _writer) = pipe().unwrap();
    let start = Instant::now();
    let result = with_timeout(Duration::ZERO, || {
        thread::sleep(Duration::from_millis(50)); // `std` retries EINTR here
        read_once(&reader)
    });
    assert_timed_out(result, Duration::ZERO, start);
}

#[test]
fn a_closure_that_retries_eintr_is_interrupted_again() {
    let (reader, _writer) = pipe().unwrap();
    let mut interruptions = 0;
    let start = Instant::now();
    let result = with_timeout(SHORT, || {
        loop {
            match read_once(&reader) {
                Err(Errno::EINTR) if interruptions < 3 => interruptions += 1,
                other => return other,
            }
        }
    });
    assert_timed_out(result, SHORT, start);
    assert_eq!(interruptions, 3);
}

#[test]
fn computing_past_the_deadline_reports_the_timeout() {
    // No system call to interrupt: the closure runs to its end, then the expiry is reported.
    let start = Instant::now();
    let result = with_timeout(Duration::from_millis(50), || {
        let mut spins = 0u64;
        while start.elapsed() < Duration::from_millis(150) {
            spins = std::hint::black_box(spins + 1);
        }
        spins
    });
    assert!(matches!(result, Err(Error::CallTimeout(_))), "{result:?}");
}

#[test]
fn a_panic_in_the_closure_leaves_nothing_behind() {
    let result =
        std::panic::catch_unwind(|| with_timeout::<()>(LONG, || panic!("inside with_timeout")));
    assert!(result.is_err());
    let mut timers_seen = (0, 0);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        with_timeout(LONG, || {
            timers_seen.0 = timers_of_this_thread();
            with_timeout::<()>(LONG, || {
                timers_seen.1 = timers_of_this_thread();
                panic!("two deep")
            })
        })
    }));
    assert!(result.is_err());
    assert_eq!(timers_seen, (1, 2));
    assert_eq!(timers_of_this_thread(), 0);
    assert!(no_signal_within(Duration::from_millis(200)));
    // The nesting depth was given back: the full 64 levels are still available.
    assert_eq!(nest(64), Ok(64));
}

/// Nests `levels` calls of `with_timeout`, returning how many ran their closure.
fn nest(levels: usize) -> Result<usize, String> {
    if levels == 0 {
        return Ok(0);
    }
    match with_timeout(LONG, || nest(levels - 1)) {
        Ok(inner) => inner.map(|n| n + 1),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn nesting_is_limited_to_64_levels() {
    assert_eq!(nest(64), Ok(64));
    let err = nest(65).unwrap_err();
    assert!(err.contains("nested more than 64 deep"), "{err}");
    assert_eq!(timers_of_this_thread(), 0);
}

#[test]
fn the_error_says_what_happened() {
    let (reader, _writer) = pipe().unwrap();
    let err = with_timeout(Duration::from_millis(20), || read_once(&reader)).unwrap_err();
    assert_eq!(err.to_string(), "timed out after 20ms in a blocking call");
}

/// Whether SIGALRM is pending for the calling thread (`SigPnd` in its status).
fn sigalrm_pending_for_this_thread() -> bool {
    let text = fs::read_to_string("/proc/thread-self/status").unwrap();
    let line = text.lines().find(|l| l.starts_with("SigPnd:")).unwrap();
    let pending = u64::from_str_radix(line["SigPnd:".len()..].trim(), 16).unwrap();
    pending & (1 << (libc::SIGALRM - 1)) != 0
}

#[test]
fn a_closure_that_blocks_sigalrm_leaves_no_signal_pending() {
    let alarm = SigSet::from(Signal::SIGALRM);
    let start = Instant::now();
    let result = with_timeout(Duration::from_millis(20), || {
        alarm.thread_block().unwrap();
        // Past the deadline with the signal blocked: the expiry stays pending.
        while start.elapsed() < Duration::from_millis(100) {
            std::hint::spin_loop();
        }
        sigalrm_pending_for_this_thread()
    });
    // The expiry was never seen by the handler, so it does not count...
    assert!(result.unwrap());
    // ...and the queued signal did not outlive the call, which also restored the mask.
    assert!(!sigalrm_pending_for_this_thread());
    assert!(!SigSet::thread_get_mask().unwrap().contains(Signal::SIGALRM));
    assert!(no_signal_within(Duration::from_millis(100)));

    // Blocked before the call: unblocked during it, blocked again after it.
    alarm.thread_block().unwrap();
    let (reader, _writer) = pipe().unwrap();
    let start = Instant::now();
    assert_timed_out(with_timeout(SHORT, || read_once(&reader)), SHORT, start);
    assert!(SigSet::thread_get_mask().unwrap().contains(Signal::SIGALRM));
    assert!(!sigalrm_pending_for_this_thread());
    alarm.thread_unblock().unwrap();
}
