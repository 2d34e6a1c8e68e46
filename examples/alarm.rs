//! Deadlines for blocking system calls with `ptychat::with_timeout`: Perl's
//! `alarm` + `eval` idiom from perlipc, for a `flock` and a FIFO `open`.
//!
//! ```text
//! cargo run --example alarm
//! ```

use std::error::Error;
use std::fs::File;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg, OFlag, open};
use nix::sys::stat::Mode;
use ptychat::with_timeout;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("ptychat-alarm-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    // perlipc:  eval { local $SIG{ALRM} = sub { die "alarm clock restart" };
    //                  alarm 10; flock(FH, 2); alarm 0; };
    //
    // `flock` locks belong to an open file description, so a second `open` of a file that
    // is locked through a first one waits for it, even in the same process.
    let path = dir.join("lockfile");
    let held = Flock::lock(File::create(&path)?, FlockArg::LockExclusive).map_err(|(_, e)| e)?;
    let start = Instant::now();
    match with_timeout(Duration::from_millis(500), || {
        Flock::lock(
            File::open(&path).expect("open the lock file"),
            FlockArg::LockExclusive,
        )
    }) {
        Ok(Ok(_lock)) => println!("flock: got the lock"),
        Ok(Err((_, errno))) => println!("flock: failed: {errno}"),
        Err(e) => println!("flock: {e} (after {:?})", start.elapsed()),
    }
    drop(held);
    let relocked = with_timeout(Duration::from_millis(500), || {
        Flock::lock(
            File::open(&path).expect("open the lock file"),
            FlockArg::LockExclusive,
        )
    })?;
    println!(
        "flock once the first lock is released: {}",
        if relocked.is_ok() { "locked" } else { "failed" }
    );

    // Opening a FIFO for reading waits for a writer. `std::fs::File::open` retries EINTR and
    // so would wait forever; `nix::fcntl::open` returns it.
    let fifo = dir.join("fifo");
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600))?;
    let start = Instant::now();
    match with_timeout(Duration::from_millis(500), || {
        open(&fifo, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
    }) {
        Ok(Ok(_fd)) => println!("fifo: opened"),
        Ok(Err(errno)) => println!("fifo: failed: {errno}"),
        Err(e) => println!("fifo: {e} (after {:?})", start.elapsed()),
    }

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
