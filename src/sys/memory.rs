//! Memory hints: asking the kernel to back a large buffer with transparent huge pages.

use std::ffi::c_void;
use std::ptr::NonNull;

use nix::sys::mman::{MmapAdvise, madvise};

/// The size of a transparent huge page on the platforms ptychat runs on (x86-64 and
/// aarch64 with 4 KiB base pages).
pub(crate) const HUGE_PAGE: usize = 2 << 20;

/// Asks the kernel to back the whole huge pages inside `vec`'s capacity with transparent
/// huge pages when they are first touched (`MADV_HUGEPAGE`). Faulting in a 2 MiB page
/// costs about what one 4 KiB fault does, so a buffer that will hold megabytes fills in a
/// fraction of the time. A hint only: where the kernel has huge pages disabled
/// (`/sys/kernel/mm/transparent_hugepage/enabled` is `never`), or none to give, nothing
/// changes, and errors are ignored.
pub(crate) fn advise_huge_pages(vec: &mut Vec<u8>) {
    let start = vec.as_mut_ptr() as usize;
    let first = start.next_multiple_of(HUGE_PAGE);
    let last = (start + vec.capacity()) / HUGE_PAGE * HUGE_PAGE;
    if last <= first {
        return;
    }
    let Some(addr) = NonNull::new(first as *mut c_void) else {
        return;
    };
    // SAFETY: [first, last) lies inside `vec`'s allocation, which the `&mut` borrow keeps
    // alive and ours for the call. MADV_HUGEPAGE only changes how the kernel backs pages
    // it has yet to fault in (or may later merge): it never changes their contents, so
    // every byte of the vector, initialised or not, reads as before.
    let _ = unsafe { madvise(addr, last - first, MmapAdvise::MADV_HUGEPAGE) };
}
