//! Terminals: opening a pseudo-terminal pair, window size, echo, special characters.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::fcntl::{OFlag, open};
use nix::libc;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::stat::Mode;
use nix::sys::termios::{
    InputFlags, LocalFlags, SetArg, SpecialCharacterIndices, tcgetattr, tcsetattr,
};

/// Opens a pty pair, both ends close-on-exec and the slave not our controlling terminal,
/// with the given window size and echo setting.
pub(crate) fn open_pair(rows: u16, cols: u16, echo: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = posix_openpt(flags)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let slave_path = ptsname_r(&master)?;
    let slave = open(slave_path.as_str(), flags, Mode::empty())?;
    let master = OwnedFd::from(master);
    set_window_size(&slave, rows, cols)?;
    set_echo(&slave, echo)?;
    Ok((master, slave))
}

/// The path of the slave side of the pty whose master is `master` (`/dev/pts/N`).
#[cfg(feature = "cli")]
pub(crate) fn slave_name(master: impl AsFd) -> io::Result<String> {
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int, to the local.
    let rc = unsafe { libc::ioctl(master.as_fd().as_raw_fd(), libc::TIOCGPTN, &mut number) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(format!("/dev/pts/{number}"))
}

/// Whether the terminal echoes input.
pub(crate) fn echo(fd: impl AsFd) -> io::Result<bool> {
    Ok(tcgetattr(fd)?.local_flags.contains(LocalFlags::ECHO))
}

/// Turns the terminal's echo on or off.
pub(crate) fn set_echo(fd: impl AsFd, on: bool) -> io::Result<()> {
    let mut termios = tcgetattr(fd.as_fd())?;
    termios.local_flags.set(LocalFlags::ECHO, on);
    tcsetattr(fd, SetArg::TCSANOW, &termios)?;
    Ok(())
}

/// The byte the terminal currently treats as `which` (VEOF, VINTR...).
pub(crate) fn special_char(fd: impl AsFd, which: SpecialCharacterIndices) -> io::Result<u8> {
    Ok(tcgetattr(fd)?.control_chars[which as usize])
}

/// The bytes that end a line on a terminal in canonical mode (newline, carriage return
/// when it is read as one, and the EOF and EOL characters that are set), or `None` when
/// the terminal is not in canonical mode.
pub(crate) fn canonical_line_ends(fd: impl AsFd) -> io::Result<Option<Vec<u8>>> {
    let attrs = tcgetattr(fd)?;
    if !attrs.local_flags.contains(LocalFlags::ICANON) {
        return Ok(None);
    }
    let mut ends = vec![b'\n'];
    let input = attrs.input_flags;
    if input.contains(InputFlags::ICRNL) && !input.contains(InputFlags::IGNCR) {
        ends.push(b'\r');
    }
    for which in [
        SpecialCharacterIndices::VEOF,
        SpecialCharacterIndices::VEOL,
        SpecialCharacterIndices::VEOL2,
    ] {
        // 0 is _POSIX_VDISABLE: the character is not set.
        match attrs.control_chars[which as usize] {
            0 => {}
            c => ends.push(c),
        }
    }
    Ok(Some(ends))
}

/// True when `fd` is a terminal.
pub(crate) fn is_terminal(fd: impl AsFd) -> bool {
    nix::unistd::isatty(fd).unwrap_or(false)
}

/// A terminal's size in character cells.
pub(crate) fn window_size(fd: impl AsFd) -> io::Result<(u16, u16)> {
    // SAFETY: `winsize` is plain old data, so all-zero is a valid value.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which is valid for it.
    let rc = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok((size.ws_row, size.ws_col))
}

/// Sets a terminal's size; the kernel sends SIGWINCH to its foreground process group.
pub(crate) fn set_window_size(fd: impl AsFd, rows: u16, cols: u16) -> io::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` through the pointer, which is valid for it.
    let rc = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCSWINSZ, &size) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
