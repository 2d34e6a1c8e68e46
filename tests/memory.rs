//! What sessions cost in memory, counted by this test binary's own global allocator (and,
//! for the flood, the process's resident memory): an idle session after a round trip holds
//! a few KiB, and a flood with no match stays within 1.25 times the buffer's maximum.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ptychat::{Command, DEFAULT_MAX_BUFFER, Pattern, StderrMode};

/// The system allocator, counting the bytes allocated now and their peak.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn added(size: usize) {
    let now = CURRENT.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are statistics.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            added(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            added(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The counters are process-wide: one measurement at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn an_idle_session_after_a_round_trip_holds_under_8_kib() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const N: usize = 20;
    let before = CURRENT.load(Ordering::Relaxed);
    let mut sessions: Vec<_> = (0..N)
        .map(|_| {
            Command::shell("stty -echo; echo READY; exec cat")
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, s) in sessions.iter_mut().enumerate() {
        s.expect("READY").unwrap();
        s.send_line(format!("ping-{i}")).unwrap();
    }
    for (i, s) in sessions.iter_mut().enumerate() {
        s.expect(format!("ping-{i}\r\n")).unwrap();
    }
    let each = (CURRENT.load(Ordering::Relaxed) - before) / N;
    assert!(each <= 8 * 1024, "{each} bytes per idle session");
    for s in &mut sessions {
        s.send_eof().unwrap();
        s.expect(Pattern::eof()).unwrap();
        assert!(s.wait().unwrap().success());
    }
}

#[test]
fn a_flood_with_no_match_peaks_within_a_quarter_over_the_maximum() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let flood: u64 = 200_000_000;
    let mut s = Command::shell(format!("head -c {flood} /dev/zero"))
        .spawn_piped(StderrMode::Null)
        .unwrap();
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    // A large buffer lives in pages of its own, which the allocator does not see: the
    // process's resident memory is counted too (its high-water mark, reset here).
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let resident_before = status_kib("VmRSS");
    let m = s.expect([Pattern::exact("never"), Pattern::eof()]).unwrap();
    assert_eq!(m.index(), 1);
    assert_eq!(m.before().len(), DEFAULT_MAX_BUFFER);
    assert_eq!(s.discarded(), flood - DEFAULT_MAX_BUFFER as u64);
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert!(
        peak as f64 <= 1.25 * DEFAULT_MAX_BUFFER as f64,
        "peak {peak} bytes for a maximum of {DEFAULT_MAX_BUFFER}"
    );
    let resident_peak = (status_kib("VmHWM") - resident_before) * 1024;
    assert!(
        resident_peak as f64 <= 1.25 * DEFAULT_MAX_BUFFER as f64,
        "resident peak {resident_peak} bytes for a maximum of {DEFAULT_MAX_BUFFER}"
    );
    assert!(s.wait().unwrap().success());
}

/// A `/proc/self/status` figure in KiB (`VmRSS`, `VmHWM`).
fn status_kib(key: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
