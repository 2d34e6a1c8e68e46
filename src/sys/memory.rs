//! Memory for large buffers: [`Pages`], a mapping of our own, hinted for transparent huge
//! pages, whose pages can be given back and moved without copying.

use std::ffi::c_void;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::sys::mman::{
    MRemapFlags, MapFlags, MmapAdvise, ProtFlags, madvise, mmap_anonymous, mremap, munmap,
};

/// The size of a transparent huge page on the platforms ptychat runs on (x86-64 and
/// aarch64 with 4 KiB base pages).
pub(crate) const HUGE_PAGE: usize = 2 << 20;

/// Memory of our own for a large buffer: an anonymous private mapping of whole huge
/// pages, aligned to a huge page and hinted for transparent huge pages. Unlike a vector,
/// its pages can be given back one by one and moved without copying their bytes
/// ([`Pages::slide`]); it is zero-filled by the kernel as it is first touched, so every
/// byte is always initialised.
pub(crate) struct Pages {
    ptr: NonNull<u8>,
    len: usize,
}

/// Set when the kernel refused `MREMAP_DONTUNMAP` (before Linux 5.7): [`Pages::recycle`]
/// is not tried again.
static NO_RECYCLING: AtomicBool = AtomicBool::new(false);

// SAFETY: a `Pages` owns its mapping exclusively, as a `Vec<u8>` owns its allocation;
// nothing in it is tied to a thread.
unsafe impl Send for Pages {}
// SAFETY: shared references only read the bytes (no interior mutability).
unsafe impl Sync for Pages {}

impl Pages {
    /// A mapping of at least `len` bytes (rounded up to whole huge pages).
    pub(crate) fn new(len: usize) -> std::io::Result<Pages> {
        let too_long = || std::io::Error::from_raw_os_error(nix::libc::ENOMEM);
        let len = len
            .max(1)
            .checked_next_multiple_of(HUGE_PAGE)
            .ok_or_else(too_long)?;
        let padded = len
            .checked_add(HUGE_PAGE)
            .and_then(NonZeroUsize::new)
            .ok_or_else(too_long)?;
        // SAFETY: a fresh anonymous private mapping at an address of the kernel's choice
        // aliases nothing.
        let raw = unsafe {
            mmap_anonymous(
                None,
                padded,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE,
            )
        }?;
        let start = raw.as_ptr() as usize;
        let aligned = start.next_multiple_of(HUGE_PAGE);
        let unmap = |from: usize, to: usize| {
            if let Some(addr) = NonNull::new(from as *mut c_void).filter(|_| to > from) {
                // SAFETY: [from, to) is a part of the mapping made above that no one uses.
                let _ = unsafe { munmap(addr, to - from) };
            }
        };
        // Keep the aligned `len` bytes; give back the padding on either side.
        unmap(start, aligned);
        unmap(aligned + len, start + len + HUGE_PAGE);
        let ptr = NonNull::new(aligned as *mut u8).expect("a mapping is never at 0");
        let pages = Pages { ptr, len };
        pages.advise_huge_pages();
        Ok(pages)
    }

    /// Asks for transparent huge pages over the whole mapping (a hint: errors ignored).
    fn advise_huge_pages(&self) {
        // SAFETY: the range is our mapping; MADV_HUGEPAGE never changes contents.
        let _ = unsafe { madvise(self.ptr.cast(), self.len, MmapAdvise::MADV_HUGEPAGE) };
    }

    /// The mapping's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` readable bytes that we own, all initialised (the
        // kernel zero-fills anonymous pages), alive as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and the `&mut self` borrow makes them ours alone.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Gives back the whole huge pages inside `range` (`MADV_DONTNEED`): their bytes read
    /// as zeros until written again. Returns the offset up to which `range` is given back
    /// (`range.start` when it holds no whole page: then no system call is made).
    pub(crate) fn release(&mut self, range: Range<usize>) -> usize {
        self.release_pages_of(range, HUGE_PAGE)
    }

    /// Gives back the whole base pages (4 KiB) inside `range`, splitting a huge page that
    /// is partly inside: for bytes that are copied out and then dropped, where the split
    /// costs less than keeping the page. Returns as [`Pages::release`] does.
    pub(crate) fn release_small(&mut self, range: Range<usize>) -> usize {
        self.release_pages_of(range, base_page())
    }

    /// Gives back the whole pages of `page` bytes inside `range`.
    fn release_pages_of(&mut self, range: Range<usize>, page: usize) -> usize {
        assert!(range.end <= self.len, "a range outside the mapping");
        let first = range.start.next_multiple_of(page);
        let last = range.end / page * page;
        if last <= first {
            return range.start;
        }
        // SAFETY: [first, last) lies inside our mapping and the `&mut self` borrow makes
        // it ours alone; MADV_DONTNEED on private anonymous memory only makes those bytes
        // read as zeros, which are initialised `u8`s, as if we had written them. (Errors
        // are ignored: the pages then stay.)
        let _ = unsafe {
            madvise(
                self.ptr.add(first).cast(),
                last - first,
                MmapAdvise::MADV_DONTNEED,
            )
        };
        last
    }

    /// Moves the pages of `[from, from + len)` to `[to, to + len)` in this mapping (all
    /// multiples of [`HUGE_PAGE`], the two ranges apart): the bytes now at `to` are those
    /// that were at `from`, and `from` reads as zeros, with no page of its own. For pages
    /// that are no longer needed where they are and will be written at `to`: they are
    /// reused there rather than given back and faulted in anew (zeroed by the kernel).
    ///
    /// On an error (the process's limit on mappings, memory, a kernel before 5.7) the
    /// kernel may already have unmapped `[to, to + len)`, and another thread may map
    /// something there at any time: this mapping then ends at `to` (what followed it is
    /// unmapped; at worst `len` bytes of untouched address space are never given back),
    /// and the caller gives the pages back instead. After a refusal of the flags, no
    /// recycling is tried again in this process.
    pub(crate) fn recycle(&mut self, from: usize, to: usize, len: usize) -> std::io::Result<()> {
        if NO_RECYCLING.load(Ordering::Relaxed) {
            return Err(std::io::ErrorKind::Unsupported.into());
        }
        assert!(
            from % HUGE_PAGE == 0 && to % HUGE_PAGE == 0 && len % HUGE_PAGE == 0,
            "a bad recycle"
        );
        assert!(
            from.max(to) + len <= self.len && (from + len <= to || to + len <= from),
            "a recycle outside the mapping or onto itself"
        );
        #[cfg(test)]
        if failing::moves() {
            // As a kernel that unmapped the target and then failed: the real error path.
            // SAFETY: `[to, to + len)` is ours and apart from the source; after the error
            // path below no slice reaches it.
            let _ = unsafe { munmap(self.ptr.add(to).cast(), len) };
            return self.recycle_failed(to, len, Errno::ENOMEM);
        }
        // SAFETY: `to` lies inside our mapping, which the `&mut self` borrow makes ours
        // alone, apart from the source; its bytes, replaced, stay initialised `u8`s. The
        // failure case is handled below.
        let moved = unsafe { self.move_pages_onto(from, len, self.ptr.add(to)) };
        match moved {
            Ok(_) => Ok(()),
            Err(error) => self.recycle_failed(to, len, error),
        }
    }

    /// After a failed [`Pages::recycle`] onto `[to, to + len)`: the mapping ends at `to`.
    fn recycle_failed(&mut self, to: usize, len: usize, error: Errno) -> std::io::Result<()> {
        if error == Errno::EINVAL {
            NO_RECYCLING.store(true, Ordering::Relaxed);
        }
        let tail = to + len;
        if self.len > tail {
            // SAFETY: `[tail, self.len)` is ours and untouched by the failed move; no slice
            // reaches past `to` after this.
            let _ = unsafe { munmap(self.ptr.add(tail).cast(), self.len - tail) };
        }
        self.len = to;
        Err(error.into())
    }

    /// Moves the pages of `[from, from + len)` (inside this mapping) onto the `len` bytes
    /// at `dest` (`mremap` with `MREMAP_FIXED`, which replaces what was there), leaving
    /// the source mapped with no pages, reading zeros (`MREMAP_DONTUNMAP`): this mapping
    /// stays whole either way.
    ///
    /// # Safety
    ///
    /// `[dest, dest + len)` must be mapped memory of ours that nothing references, apart
    /// from the source range. On an error the kernel may have unmapped it.
    unsafe fn move_pages_onto(
        &mut self,
        from: usize,
        len: usize,
        dest: NonNull<u8>,
    ) -> nix::Result<NonNull<c_void>> {
        assert!(from + len <= self.len, "a move outside the mapping");
        // SAFETY: the source lies inside our mapping, which the `&mut self` borrow makes
        // ours alone; the destination is the caller's to give (see above).
        unsafe {
            mremap(
                self.ptr.add(from).cast(),
                len,
                len,
                MRemapFlags::MREMAP_MAYMOVE
                    | MRemapFlags::MREMAP_FIXED
                    | MRemapFlags::MREMAP_DONTUNMAP,
                Some(dest.cast()),
            )
        }
    }

    /// Moves the huge pages `[from, from + len)` (both multiples of [`HUGE_PAGE`]) to the
    /// front of a fresh mapping of at least `new_len` bytes, which then replaces this one:
    /// no byte is copied (`mremap` moves the pages), and the old mapping, with the pages
    /// left in it, is unmapped. On an error (a kernel before 5.7, the process's limits on
    /// mappings or address space) this mapping is untouched and the caller copies instead;
    /// the fresh mapping's front, which a failed `mremap` may have unmapped (and which
    /// another thread may since have mapped), is left alone, its tail unmapped.
    pub(crate) fn slide(&mut self, from: usize, len: usize, new_len: usize) -> std::io::Result<()> {
        assert!(
            from % HUGE_PAGE == 0 && len % HUGE_PAGE == 0 && 0 < len && len <= new_len,
            "a bad slide"
        );
        assert!(from + len <= self.len, "a slide outside the mapping");
        #[cfg(test)]
        if failing::moves() {
            return Err(Errno::EINVAL.into());
        }
        let fresh = Pages::new(new_len)?;
        // SAFETY: the destination is the front of `fresh`, which no one else knows of.
        let moved = unsafe { self.move_pages_onto(from, len, fresh.ptr) };
        match moved {
            Ok(_) => {
                // Dropping the old mapping unmaps it.
                *self = fresh;
                Ok(())
            }
            Err(error) => {
                let fresh = std::mem::ManuallyDrop::new(fresh);
                if fresh.len > len {
                    // SAFETY: the tail of `fresh` is ours and untouched by the failed move.
                    let _ = unsafe { munmap(fresh.ptr.add(len).cast(), fresh.len - len) };
                }
                Err(error.into())
            }
        }
    }
}

/// The size of the kernel's base pages (`sysconf(_SC_PAGESIZE)`). Read once.
fn base_page() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf reads a constant of the system; it takes no pointers.
        let page = unsafe { nix::libc::sysconf(nix::libc::_SC_PAGESIZE) };
        usize::try_from(page).unwrap_or(4096)
    })
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and nothing borrows it any more.
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
    }
}

/// For tests: page moves that fail on this thread, as on a kernel before 5.7 or at the
/// limit on mappings.
#[cfg(test)]
pub(crate) mod failing {
    use std::cell::Cell;

    thread_local! {
        static MOVES: Cell<bool> = const { Cell::new(false) };
    }

    /// Makes [`super::Pages::recycle`] (after unmapping its target, as a failing kernel
    /// may) and [`super::Pages::slide`] fail on this thread.
    pub(crate) fn fail_moves(on: bool) {
        MOVES.with(|moves| moves.set(on));
    }

    pub(super) fn moves() -> bool {
        MOVES.with(Cell::get)
    }
}
