//! Whether the foreground processes of a pseudo-terminal are blocked reading it (Linux
//! `/proc`): the question behind `PtySession::wait_until_reading`.
//!
//! No kernel interface reports that a process started reading a terminal, so the caller
//! asks again and again. One look:
//!
//! 1. the terminal's foreground process group: `tcgetpgrp` on the master;
//! 2. its processes: every `/proc/PID/stat` whose group is that one (the child we started
//!    is looked at first, which is usually enough; the caller decides how often the whole
//!    of `/proc` is scanned, and in between only the members found last time are read);
//! 3. for each of their threads, `/proc/PID/task/TID/syscall`: the system call the thread
//!    is blocked in and its arguments (`running` when it is not blocked), readable for a
//!    process we may trace (our own children, not a setuid program);
//! 4. whether that call waits for the terminal to become readable: `read`/`readv` on a
//!    file descriptor that is the terminal (`/proc/PID/fd/N` is the slave device, or
//!    `/dev/tty` in a process whose controlling terminal it is); `poll`/`ppoll` with such
//!    an fd asking for input, `select`/`pselect6` with it in the read set (both read from
//!    the process's memory with `process_vm_readv`); `epoll_wait`/`epoll_pwait(2)` on an
//!    epoll instance that watches it for input (its `/proc/PID/fdinfo` lists them);
//! 5. the thread's `syscall` file once more: the answer holds only when it has not
//!    changed, so the arguments read in between belonged to the call it is blocked in.
//!
//! Measured on Linux 6.18: `python3 -c 'input()'` blocks in `read(0)` (its `wchan` is
//! `wait_woken`, from `n_tty_read`); `bash`, the Python REPL, `sqlite3` and `bc` (readline
//! and editline) block in `pselect6` with fd 0 in the read set (`wchan`:
//! `poll_schedule_timeout`). `wchan` alone cannot say which fd a `poll` waits on, and
//! `wait_woken` is not particular to terminals, so it is not used.

use std::fs;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use nix::libc;
use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;

/// A terminal's device, as (major, minor).
pub(crate) type Device = (u64, u64);

/// `/dev/tty`: the controlling terminal of whoever opens it.
const DEV_TTY: Device = (5, 0);

/// The most entries of a `poll` array, and bits of a `select` set, read from a process.
const MAX_FDS: usize = 4096;

/// A pty's slave side: its device and path.
#[derive(Debug, Clone)]
pub(crate) struct Slave {
    device: Device,
    path: String,
}

/// The slave of a pty master (from its number, `TIOCGPTN`, and the `/dev/pts` node).
pub(crate) fn slave_of(master: BorrowedFd<'_>) -> io::Result<Slave> {
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer, which is valid for it.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    let path = format!("/dev/pts/{number}");
    let device = split(fs::metadata(&path)?.rdev());
    Ok(Slave { device, path })
}

/// Whether the terminal holds input its reader has not taken yet (a complete line in
/// canonical mode, any byte otherwise): then a reader seen blocked is about to wake, not
/// waiting. Asked with `poll` on a short-lived slave fd of our own, which first moves
/// what was just written to the master through the line discipline (n_tty's poll flushes
/// the pending input buffers), so input still on its way counts too; nothing is read.
/// A slave that cannot be opened (exclusive mode, or hung up) reports no input.
pub(crate) fn input_pending(slave: &Slave) -> io::Result<bool> {
    use nix::fcntl::{OFlag, open};
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let fd = match open(slave.path.as_str(), flags, nix::sys::stat::Mode::empty()) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::EBUSY | nix::errno::Errno::EIO | nix::errno::Errno::ENOENT) => {
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let revents = fds[0].revents().unwrap_or(PollFlags::empty());
    Ok(revents.intersects(PollFlags::POLLIN | PollFlags::POLLRDNORM))
}

/// A `dev_t` as (major, minor).
fn split(rdev: u64) -> Device {
    (
        nix::sys::stat::major(rdev as libc::dev_t),
        nix::sys::stat::minor(rdev as libc::dev_t),
    )
}

/// The `tty_nr` field of `/proc/PID/stat` (the kernel's encoding) as (major, minor).
fn split_tty_nr(tty_nr: u64) -> Device {
    (
        (tty_nr >> 8) & 0xfff,
        (tty_nr & 0xff) | ((tty_nr >> 12) & 0xf_ff00),
    )
}

/// True for the errors of a process or thread that has just exited: its `/proc`
/// entries vanish (ENOENT) or refuse to be read (ESRCH).
fn gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH)
}

/// What one look found.
#[derive(Debug)]
pub(crate) enum Reading {
    /// A foreground process is blocked reading the terminal.
    Yes,
    /// None is: the foreground group, and what each of its processes was doing.
    No { group: i32, doing: Vec<String> },
}

/// The fields of `/proc/PID/stat` used here.
struct Stat {
    comm: String,
    /// `R`, `S`, `D`, `T`, `Z`...
    state: char,
    group: i32,
    tty: Device,
}

fn read_stat(pid: i32) -> io::Result<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/PID/stat");
    let open = text.find('(').ok_or_else(bad)?;
    let close = text.rfind(')').ok_or_else(bad)?;
    let comm = text[open + 1..close].to_owned();
    // After the name: state, ppid, pgrp, session, tty_nr.
    let fields: Vec<&str> = text[close + 1..].split_whitespace().take(5).collect();
    if fields.len() < 5 {
        return Err(bad());
    }
    Ok(Stat {
        comm,
        state: fields[0].chars().next().unwrap_or('?'),
        group: fields[2].parse().map_err(|_| bad())?,
        tty: split_tty_nr(fields[4].parse().map_err(|_| bad())?),
    })
}

/// The processes of a terminal's foreground group that the last scan of `/proc` found:
/// the looks in between read only theirs (and the child's).
#[derive(Debug, Default)]
pub(crate) struct Members {
    group: i32,
    pids: Vec<i32>,
}

/// Looks once whether a process of `master`'s foreground group is blocked reading the
/// terminal `slave`. `first` (the child we started) is looked at first; then, with
/// `scan` or when the foreground group changed, every process in `/proc` (which updates
/// `members`), else the `members` found before.
pub(crate) fn foreground_reading(
    master: BorrowedFd<'_>,
    slave: &Slave,
    first: i32,
    members: &mut Members,
    scan: bool,
) -> io::Result<Reading> {
    let slave = slave.device;
    let group = nix::unistd::tcgetpgrp(master.as_fd())?.as_raw();
    let mut doing = Vec::new();
    if group <= 0 {
        return Ok(Reading::No { group, doing });
    }
    let scan = scan || members.group != group;
    // Some(reading) for a process of the group, None for another (or a gone) one.
    let look = |pid: i32, doing: &mut Vec<String>| -> io::Result<Option<bool>> {
        let stat = match read_stat(pid) {
            Ok(stat) => stat,
            // It has just exited.
            Err(e) if gone(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        if stat.group != group {
            return Ok(None);
        }
        // A zombie reads nothing (and its `syscall` file may not be readable).
        if matches!(stat.state, 'Z' | 'X') {
            doing.push(format!("{pid} ({}) exited", stat.comm));
            return Ok(Some(false));
        }
        match process_reading(pid, &stat, slave)? {
            Ok(()) => Ok(Some(true)),
            Err(what) => {
                doing.push(format!("{pid} ({}) {what}", stat.comm));
                Ok(Some(false))
            }
        }
    };
    if look(first, &mut doing)? == Some(true) {
        return Ok(Reading::Yes);
    }
    if !scan {
        for &pid in members.pids.iter().filter(|&&pid| pid != first) {
            if look(pid, &mut doing)? == Some(true) {
                return Ok(Reading::Yes);
            }
        }
        return Ok(Reading::No { group, doing });
    }
    members.group = group;
    members.pids.clear();
    for entry in fs::read_dir("/proc")? {
        let Ok(entry) = entry else {
            continue;
        };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == first {
            continue;
        }
        match look(pid, &mut doing)? {
            Some(true) => return Ok(Reading::Yes),
            Some(false) => members.pids.push(pid),
            None => {}
        }
    }
    Ok(Reading::No { group, doing })
}

/// `Ok(Ok(()))` when a thread of `pid` is blocked reading the terminal, `Ok(Err(what))`
/// saying what the process is doing otherwise.
fn process_reading(pid: i32, stat: &Stat, slave: Device) -> io::Result<Result<(), String>> {
    let tasks = match fs::read_dir(format!("/proc/{pid}/task")) {
        Ok(tasks) => tasks,
        Err(e) if gone(&e) => return Ok(Err("exited".into())),
        Err(e) => return Err(e),
    };
    let mut terminal_fds: Option<Vec<i32>> = None;
    let mut what = String::from("exited");
    for task in tasks {
        let Ok(task) = task else {
            continue;
        };
        let tid = task.file_name();
        let path = format!("/proc/{pid}/task/{}/syscall", tid.to_string_lossy());
        let Some(before) = read_syscall_file(&path, pid, &stat.comm)? else {
            continue;
        };
        let Some(call) = parse_syscall(&before) else {
            what = "running".into();
            continue;
        };
        what = format!("blocked in {}", syscall_name(call.nr));
        if waited_call(call.nr).is_none() {
            continue;
        }
        let fds = match &terminal_fds {
            Some(fds) => fds,
            None => terminal_fds.insert(terminal_fds_of(pid, stat, slave)?),
        };
        if fds.is_empty() {
            // It has not got the terminal open: nothing it does is a read of it.
            return Ok(Err(format!("{what}, without the terminal open")));
        }
        if waits_for_input(pid, &call, fds)?
            && read_syscall_file(&path, pid, &stat.comm)?.as_deref() == Some(before.as_str())
        {
            return Ok(Ok(()));
        }
    }
    Ok(Err(what))
}

/// A thread's `syscall` file; `None` when the thread has gone. A refusal (a process we
/// may not trace) is an Unsupported error that says so.
fn read_syscall_file(path: &str, pid: i32, comm: &str) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if gone(&e) => {
            let task = std::path::Path::new(path).parent();
            if task.is_some_and(std::path::Path::exists) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "cannot tell whether the program reads the terminal: this kernel has no \
                     /proc/PID/task/TID/syscall",
                ));
            }
            Ok(None)
        }
        Err(e)
            if e.kind() == io::ErrorKind::PermissionDenied
                || e.raw_os_error() == Some(libc::EPERM) =>
        {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "cannot tell whether process {pid} ({comm}) reads the terminal: {path} \
                     is not readable ({e}); it may run as another user (a setuid program) \
                     or tracing may be restricted"
                ),
            ))
        }
        Err(e) => Err(e),
    }
}

/// A system call a thread is blocked in: its number and first arguments.
#[derive(Debug, PartialEq)]
struct Call {
    nr: libc::c_long,
    args: [u64; 6],
}

/// Parses a `syscall` file: `None` for `running`, or a thread blocked outside any
/// system call (`-1 ...`).
fn parse_syscall(text: &str) -> Option<Call> {
    let mut words = text.split_whitespace();
    let nr: libc::c_long = words.next()?.parse().ok()?;
    if nr < 0 {
        return None;
    }
    let mut args = [0u64; 6];
    for arg in &mut args {
        *arg = u64::from_str_radix(words.next()?.trim_start_matches("0x"), 16).ok()?;
    }
    Some(Call { nr, args })
}

/// The names of the system calls a message is likeliest to show.
fn syscall_name(nr: libc::c_long) -> String {
    let known: &[(libc::c_long, &str)] = &[
        (libc::SYS_read, "read"),
        (libc::SYS_readv, "readv"),
        (libc::SYS_write, "write"),
        (libc::SYS_ppoll, "ppoll"),
        (libc::SYS_pselect6, "pselect6"),
        (libc::SYS_epoll_pwait, "epoll_pwait"),
        (libc::SYS_wait4, "wait4"),
        (libc::SYS_waitid, "waitid"),
        (libc::SYS_nanosleep, "nanosleep"),
        (libc::SYS_clock_nanosleep, "clock_nanosleep"),
        (libc::SYS_futex, "futex"),
        #[cfg(target_arch = "x86_64")]
        (libc::SYS_poll, "poll"),
        #[cfg(target_arch = "x86_64")]
        (libc::SYS_select, "select"),
        #[cfg(target_arch = "x86_64")]
        (libc::SYS_epoll_wait, "epoll_wait"),
        #[cfg(target_arch = "x86_64")]
        (libc::SYS_pause, "pause"),
    ];
    known.iter().find(|(n, _)| *n == nr).map_or_else(
        || format!("system call {nr}"),
        |(_, name)| (*name).to_owned(),
    )
}

/// The fds of `pid` that are the terminal: the slave device, or `/dev/tty` when the
/// terminal is the process's controlling one.
fn terminal_fds_of(pid: i32, stat: &Stat, slave: Device) -> io::Result<Vec<i32>> {
    let entries = match fs::read_dir(format!("/proc/{pid}/fd")) {
        Ok(entries) => entries,
        Err(e) if gone(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut fds = Vec::new();
    for entry in entries {
        let Ok(entry) = entry else {
            continue;
        };
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // The fd may close meanwhile: then it is not the terminal.
        let Ok(meta) = fs::metadata(entry.path()) else {
            continue;
        };
        if !meta.file_type().is_char_device() {
            continue;
        }
        let device = split(meta.rdev());
        if device == slave || (device == DEV_TTY && stat.tty == slave) {
            fds.push(fd);
        }
    }
    Ok(fds)
}

/// The system calls that can wait for a terminal's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waited {
    Read,
    Poll,
    Select,
    Epoll,
}

/// What kind of wait for input system call `nr` is, if any.
fn waited_call(nr: libc::c_long) -> Option<Waited> {
    #[cfg(target_arch = "x86_64")]
    let (poll, select, epoll) = (
        nr == libc::SYS_poll,
        nr == libc::SYS_select,
        nr == libc::SYS_epoll_wait,
    );
    #[cfg(not(target_arch = "x86_64"))]
    let (poll, select, epoll) = (false, false, false);
    if nr == libc::SYS_read || nr == libc::SYS_readv {
        Some(Waited::Read)
    } else if poll || nr == libc::SYS_ppoll {
        Some(Waited::Poll)
    } else if select || nr == libc::SYS_pselect6 {
        Some(Waited::Select)
    } else if epoll || nr == libc::SYS_epoll_pwait || nr == libc::SYS_epoll_pwait2 {
        Some(Waited::Epoll)
    } else {
        None
    }
}

/// Whether `call` waits for one of `fds` to have input.
fn waits_for_input(pid: i32, call: &Call, fds: &[i32]) -> io::Result<bool> {
    let [a0, a1, ..] = call.args;
    match waited_call(call.nr) {
        Some(Waited::Read) => Ok(fds.iter().any(|&fd| fd as u64 == a0)),
        Some(Waited::Poll) => poll_waits(pid, a0, a1, fds),
        Some(Waited::Select) => select_waits(pid, a0, a1, fds),
        Some(Waited::Epoll) => epoll_waits(pid, a0, fds),
        None => Ok(false),
    }
}

/// Reads `len` bytes at `address` in process `pid`; `None` if the memory is gone (the
/// process moved on or exited).
fn read_memory(pid: i32, address: u64, len: usize) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; len];
    let remote = [RemoteIoVec {
        base: address as usize,
        len,
    }];
    match process_vm_readv(
        Pid::from_raw(pid),
        &mut [IoSliceMut::new(&mut buf)],
        &remote,
    ) {
        Ok(n) if n == len => Ok(Some(buf)),
        Ok(_) | Err(nix::errno::Errno::EFAULT | nix::errno::Errno::ESRCH) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `poll(fds, nfds, ...)`: an entry for a terminal fd asking for input.
fn poll_waits(pid: i32, array: u64, count: u64, fds: &[i32]) -> io::Result<bool> {
    let count = (count as usize).min(MAX_FDS);
    let entry = std::mem::size_of::<libc::pollfd>();
    if array == 0 || count == 0 {
        return Ok(false);
    }
    let Some(bytes) = read_memory(pid, array, count * entry)? else {
        return Ok(false);
    };
    Ok(bytes.chunks_exact(entry).any(|e| {
        let fd = i32::from_ne_bytes([e[0], e[1], e[2], e[3]]);
        let events = i16::from_ne_bytes([e[4], e[5]]);
        fds.contains(&fd) && events & (libc::POLLIN | libc::POLLRDNORM) != 0
    }))
}

/// `select(nfds, readfds, ...)`: a terminal fd in the read set.
fn select_waits(pid: i32, nfds: u64, readfds: u64, fds: &[i32]) -> io::Result<bool> {
    let nfds = (nfds as usize).min(MAX_FDS);
    let wanted: Vec<usize> = fds
        .iter()
        .map(|&fd| fd as usize)
        .filter(|&fd| fd < nfds)
        .collect();
    if readfds == 0 || wanted.is_empty() {
        return Ok(false);
    }
    // The set is an array of longs, bit `fd % bits` of long `fd / bits`.
    let bits = 8 * std::mem::size_of::<libc::c_long>();
    let longs = nfds.div_ceil(bits);
    let Some(bytes) = read_memory(pid, readfds, longs * bits / 8)? else {
        return Ok(false);
    };
    let words: Vec<u64> = bytes
        .chunks_exact(bits / 8)
        .map(|w| {
            let mut b = [0u8; 8];
            b[..w.len()].copy_from_slice(w);
            u64::from_ne_bytes(b)
        })
        .collect();
    Ok(wanted
        .iter()
        .any(|&fd| words[fd / bits] & (1 << (fd % bits)) != 0))
}

/// `epoll_wait(epfd, ...)`: the epoll instance watches a terminal fd for input (its
/// fdinfo has a line `tfd: FD events: HEX ...` per watched fd).
fn epoll_waits(pid: i32, epfd: u64, fds: &[i32]) -> io::Result<bool> {
    let info = match fs::read_to_string(format!("/proc/{pid}/fdinfo/{epfd}")) {
        Ok(info) => info,
        Err(e) if gone(&e) => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(info.lines().any(|line| {
        let mut words = line.split_whitespace();
        if words.next() != Some("tfd:") {
            return false;
        }
        let fd = words.next().and_then(|w| w.parse::<i32>().ok());
        let events = words
            .skip_while(|w| *w != "events:")
            .nth(1)
            .and_then(|w| u32::from_str_radix(w, 16).ok());
        matches!((fd, events), (Some(fd), Some(events))
            if fds.contains(&fd) && events & (libc::EPOLLIN as u32) != 0)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_syscall_files() {
        assert_eq!(parse_syscall("running\n"), None);
        assert_eq!(parse_syscall("-1 0x7ffd 0x7f00\n"), None);
        let call = parse_syscall("0 0x0 0x7fa2d5ff1b03 0x1 0x7fa2d5e270e0 0x1 0x0 0x7ffc 0x7fa2\n")
            .unwrap();
        assert_eq!(call.nr, 0);
        assert_eq!(call.args[..3], [0, 0x7fa2d5ff1b03, 1]);
    }

    #[test]
    fn input_pending_sees_what_was_just_written_and_takes_nothing() {
        let (master, slave_fd) = crate::sys::term::open_pair(24, 80, false).unwrap();
        let slave = slave_of(master.as_fd()).unwrap();
        assert!(!input_pending(&slave).unwrap());
        // Canonical mode: a partial line is not input a reader can take yet.
        nix::unistd::write(&master, b"abc").unwrap();
        assert!(!input_pending(&slave).unwrap());
        // Checked right after the write: the pending input buffers are flushed first.
        nix::unistd::write(&master, b"\n").unwrap();
        assert!(input_pending(&slave).unwrap());
        assert!(input_pending(&slave).unwrap(), "looking takes nothing");
        let mut buf = [0u8; 16];
        let n = nix::unistd::read(&slave_fd, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"abc\n");
        assert!(!input_pending(&slave).unwrap());
    }

    #[test]
    fn decodes_tty_nr() {
        // /dev/pts/3 is 136:3; /dev/pts/300 is 137:44.
        assert_eq!(split_tty_nr(136 << 8 | 3), (136, 3));
        assert_eq!(split_tty_nr(137 << 8 | 44), (137, 44));
        // A minor above 255 keeps its high bits above the major.
        assert_eq!(split_tty_nr((4 << 8) | 0x12 | (0x300 << 12)), (4, 0x312));
    }
}
