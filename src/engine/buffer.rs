//! The session's buffer of output that has arrived but has not been matched yet.
//!
//! Bytes are read straight into the buffer's spare room (no intermediate copy). The buffer
//! allocates what it needs: a fresh buffer reserves [`FIRST_READ`] bytes, and a read that
//! fills all the room it was given doubles the next reservation, up to [`READ_CHUNK`]. Its
//! capacity grows geometrically while the unmatched output grows, but never much beyond
//! the maximum size: [`Buffer::bound`] is the maximum plus a fifth plus one read (a buffer
//! with a maximum of at least [`PAGES_FROM`] moves into pages of its own at [`LARGE`]
//! instead: see [`Buffer::grow`] and [`Buffer::compact`]). After a
//! large burst, once the unmatched bytes are few again, capacity above [`SHRINK_ABOVE`] is
//! given back (with hysteresis: only when the unmatched bytes fill at most an eighth of it).
//!
//! Consumed and discarded bytes are dropped lazily: the live region moves forward and is
//! compacted (moved to the front) when the dead prefix is at least as large as the live
//! region, or, once the buffer has reached its bound, when the dead prefix is at least a
//! fifth of the maximum. Either way each compaction moves at most five bytes per byte
//! appended since the last one, so every byte is copied O(1) times however the buffer is
//! used, while a full buffer that keeps dropping its oldest bytes stays within 1.2 times
//! its maximum (plus one read) of memory.
//!
//! Positions are absolute (counted from the first byte the session ever read) so matchers
//! can remember how far they scanned even when old bytes are dropped.

use crate::sys;

/// What a session does when unmatched output reaches its maximum buffer size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BufferFull {
    /// Drop the oldest bytes, keeping the newest `max` bytes (Tcl Expect's `match_max`
    /// behaviour). A match must fit inside the window of kept bytes. The number of dropped
    /// bytes is reported by [`Session::discarded`](crate::Session::discarded) (and, for a
    /// separate stderr, [`StderrView::discarded`](crate::StderrView::discarded)).
    #[default]
    DiscardOldest,
    /// Stop reading and fail the `expect` call with [`Error::BufferFull`](crate::Error::BufferFull);
    /// nothing is lost and the data stays readable.
    Error,
}

/// The largest read, and the smallest allowed maximum: one read must always fit.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// The room a fresh (or shrunk) buffer reserves for its first read.
pub(crate) const FIRST_READ: usize = 1024;

/// Capacity up to this is kept however few bytes are buffered.
pub(crate) const SHRINK_ABOVE: usize = 2 * READ_CHUNK;

/// A full buffer may carry a dead prefix of up to `max / SLACK` bytes before it is
/// compacted: the memory bound is `max * (1 + 1 / SLACK)` plus one read, and a compaction
/// moves at most `SLACK` bytes per byte read since the previous one.
const SLACK: usize = 5;

/// From this capacity on, a growing buffer moves into pages of its own (see
/// [`Buffer::grow`]).
const LARGE: usize = sys::memory::HUGE_PAGE;

/// Only a buffer with at least this maximum moves into pages of its own: a full one keeps
/// up to one partly used huge page beyond its live bytes, which must stay within a quarter
/// of the maximum.
const PAGES_FROM: usize = 4 * sys::memory::HUGE_PAGE;

/// The most huge pages recycled ahead of a buffer's end (see [`Buffer::recycle_dead_pages`]).
const READY_AHEAD: usize = 2;

/// Bytes taken out of pages of our own are copied this many at a time, and their pages
/// given back after each piece.
const COPY_OUT_PIECE: usize = 256 * 1024;

/// Where a buffer's bytes live.
enum Storage {
    /// A vector: `[..len()]` is initialised.
    Heap(Vec<u8>),
    /// Huge pages of our own, for a buffer past [`LARGE`]: every byte is initialised, dead
    /// pages are recycled for the next reads or given back as the live bytes move on
    /// ([`Buffer::recycle_dead_pages`]), and a compaction moves pages, not bytes (see
    /// [`Buffer::compact`]).
    Pages(sys::memory::Pages),
}

pub(crate) struct Buffer {
    /// `bytes()[start..end]` is the unmatched output.
    storage: Storage,
    start: usize,
    end: usize,
    /// Absolute position of `bytes()[start]`.
    base: u64,
    max: usize,
    discarded: u64,
    /// The room the next read is given at least.
    reserve: usize,
    /// The length of the room [`Buffer::spare`] gave last.
    offered: usize,
    /// In [`Storage::Pages`], `[..released]` has been given back or recycled (a multiple of
    /// a huge page).
    released: usize,
    /// In [`Storage::Pages`], the pages after the end's huge page up to `ready` (when
    /// larger) are recycled ones, resident, for the next reads (see
    /// [`Buffer::recycle_dead_pages`]).
    ready: usize,
    /// Whether dead pages are recycled: from the move into pages until a recycling fails
    /// (each failure costs a smaller mapping, so it is not tried again).
    recycling: bool,
    /// Bytes moved by compactions, growth and shrinking (for the tests' cost checks).
    #[cfg(test)]
    moved: u64,
}

impl Buffer {
    pub(crate) fn new(max: usize) -> Self {
        Buffer {
            storage: Storage::Heap(Vec::new()),
            start: 0,
            end: 0,
            base: 0,
            max: max.max(READ_CHUNK),
            discarded: 0,
            reserve: FIRST_READ,
            offered: 0,
            released: 0,
            ready: 0,
            recycling: false,
            #[cfg(test)]
            moved: 0,
        }
    }

    /// The initialised bytes of the storage.
    fn bytes(&self) -> &[u8] {
        match &self.storage {
            Storage::Heap(data) => data,
            Storage::Pages(pages) => pages.bytes(),
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match &mut self.storage {
            Storage::Heap(data) => data,
            Storage::Pages(pages) => pages.bytes_mut(),
        }
    }

    /// The unmatched bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes()[self.start..self.end]
    }

    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    /// Absolute position of the first unmatched byte.
    pub(crate) fn base(&self) -> u64 {
        self.base
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max.max(READ_CHUNK);
        self.enforce_max();
        self.maybe_shrink();
    }

    /// Bytes dropped so far under [`BufferFull::DiscardOldest`].
    pub(crate) fn discarded(&self) -> u64 {
        self.discarded
    }

    /// The bytes allocated (or mapped) for the buffer.
    pub(crate) fn capacity(&self) -> usize {
        match &self.storage {
            Storage::Heap(data) => data.capacity(),
            Storage::Pages(pages) => pages.len(),
        }
    }

    /// The capacity a buffer at its maximum size keeps to: in a vector, the maximum, the
    /// dead prefix it may carry, and one read; in pages of our own, [`Buffer::pages_len`].
    #[cfg(test)]
    pub(crate) fn bound(&self) -> usize {
        match self.storage {
            Storage::Heap(_) => self.heap_bound(),
            Storage::Pages(_) => self.pages_len().unwrap_or(self.capacity()),
        }
    }

    fn heap_bound(&self) -> usize {
        // (Saturating: a maximum of `usize::MAX` means no bound.)
        self.max
            .saturating_add(self.max / SLACK)
            .saturating_add(READ_CHUNK)
    }

    /// The length of the pages a large buffer maps: twice the maximum and some huge pages,
    /// so that whenever a full buffer's end reaches it, at least its maximum of dead pages
    /// lies before the live ones, and the remapping that moves them to the front (see
    /// [`Buffer::compact`]) comes once per maximum read. Only the pages in use are resident;
    /// the rest is address space. A maximum raised later moves the live pages into a larger
    /// mapping the next time the end reaches this one ([`Buffer::make_room`]).
    /// `None` when that is beyond the address space (a maximum meaning "no bound"): such a
    /// buffer stays in a vector.
    fn pages_len(&self) -> Option<usize> {
        let page = sys::memory::HUGE_PAGE;
        self.max
            .checked_mul(2)?
            .checked_add(6 * page + 2 * READ_CHUNK)?
            .checked_next_multiple_of(page)
            .filter(|&len| len <= isize::MAX as usize / 2)
    }

    /// True when the buffer holds its maximum.
    pub(crate) fn is_full(&self) -> bool {
        self.len() >= self.max
    }

    /// How many more bytes fit before the maximum.
    pub(crate) fn room(&self) -> usize {
        self.max.saturating_sub(self.len())
    }

    /// Room for one read at the end of the buffer (at least the current reservation, at
    /// most [`READ_CHUNK`]). Fill it, then call [`Buffer::commit`].
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        if self.bytes().len() - self.end < self.reserve {
            self.make_room(self.reserve);
        }
        self.offered = (self.bytes().len() - self.end)
            .min(READ_CHUNK)
            .min(self.to_page_boundary());
        let (end, offered) = (self.end, self.offered);
        &mut self.bytes_mut()[end..end + offered]
    }

    /// In pages of our own, the bytes from `end` to the next huge-page boundary: a read
    /// stops there, so that a full buffer gives back its oldest page (once the read's
    /// excess is dropped) before the next read faults in a new one, and the two are never
    /// resident together. Unlimited in a vector.
    fn to_page_boundary(&self) -> usize {
        match self.storage {
            Storage::Heap(_) => usize::MAX,
            Storage::Pages(_) => {
                let page = sys::memory::HUGE_PAGE;
                page - self.end % page
            }
        }
    }

    /// Makes `want` initialised bytes available after `end`: by compacting when that is
    /// cheap enough (see the module's notes), else by growing, geometrically up to
    /// [`Buffer::bound`].
    fn make_room(&mut self, want: usize) {
        if let Storage::Pages(_) = self.storage {
            if self.end + want <= self.capacity() {
                return;
            }
            let len = self.len();
            let pages_len = self.pages_len().unwrap_or(0);
            if self.capacity() < pages_len {
                // A maximum raised since the pages were mapped: their live pages move into
                // larger ones, sized for the new maximum.
                if !self.remap_pages(pages_len) {
                    self.move_to_pages(pages_len);
                }
            } else if self.start > 0 {
                self.compact();
            }
            if self.end + want <= self.capacity()
                || self.move_to_pages(pages_len.max(2 * (len + want)))
            {
                return;
            }
            // Past the maximum (`extend`), and the kernel gives no larger mapping: a vector,
            // as for a small maximum, made ready below.
            self.move_to_heap((len + want).max(self.heap_bound().min(2 * (len + want))));
        }
        let len = self.len();
        let capacity = self.capacity();
        let at_bound = capacity >= self.heap_bound() && len + want <= capacity;
        if self.start > 0 && (self.start >= len || (at_bound && self.end + want > capacity)) {
            self.compact();
        }
        // Half a reservation left in the allocation is enough for this read: growing for
        // the other half would double a small buffer for a few bytes.
        if capacity - self.end < want.div_ceil(2) {
            self.grow(want);
        }
        if let Storage::Heap(data) = &mut self.storage {
            let initialised = (self.end + want).min(data.capacity());
            if initialised > data.len() {
                // Each byte is zeroed once per allocation, right before a read fills it.
                data.resize(initialised, 0);
            }
        }
    }

    /// Moves the live bytes to the front.
    ///
    /// In pages of our own, the live bytes' pages are remapped to the front of a fresh
    /// mapping ([`Buffer::remap_pages`]); where the kernel cannot remap, the bytes are
    /// copied.
    fn compact(&mut self) {
        let page = sys::memory::HUGE_PAGE;
        let (start, end) = (self.start, self.end);
        if start >= page && self.remap_pages(self.capacity()) {
            return;
        }
        self.count_moved(self.len());
        self.bytes_mut().copy_within(start..end, 0);
        self.end -= self.start;
        self.start = 0;
        if let Storage::Pages(pages) = &mut self.storage {
            let rest = self.end.next_multiple_of(page);
            let whole = pages.len();
            pages.release(rest..whole);
            self.released = 0;
            self.ready = 0;
        }
    }

    /// In pages of our own, moves the live bytes' pages to the front of a fresh mapping of
    /// `new_len` bytes (no byte is copied: [`sys::memory::Pages::slide`]); the old one,
    /// with its dead pages, is unmapped. False, and nothing changed, when the kernel cannot
    /// remap.
    fn remap_pages(&mut self, new_len: usize) -> bool {
        let page = sys::memory::HUGE_PAGE;
        self.remap_pages_from(self.start / page * page, new_len)
    }

    /// [`Buffer::remap_pages`] from the huge page at `from` (at most the start's), so that
    /// dead pages before the start can come along.
    fn remap_pages_from(&mut self, from: usize, new_len: usize) -> bool {
        let page = sys::memory::HUGE_PAGE;
        // (The recycled pages ready after the end move along.)
        let top = self.end.next_multiple_of(page).max(self.ready);
        let Storage::Pages(pages) = &mut self.storage else {
            return false;
        };
        if from >= top {
            // (No pages to move; a copy of nothing is as cheap.)
            return false;
        }
        let len = top - from;
        if pages.slide(from, len, new_len.max(len)).is_err() {
            return false;
        }
        self.start -= from;
        self.end -= from;
        self.released = 0;
        self.ready = self.ready.saturating_sub(from);
        true
    }

    /// Reallocates for the live bytes and `want` more: twice the live bytes, but the whole
    /// bound once past half of it (so the old and the new allocation together never exceed
    /// the bound), and beyond the bound only as far as needed. A buffer with a maximum of
    /// at least [`PAGES_FROM`] that would reach [`LARGE`] moves into pages of its own
    /// instead ([`Buffer::move_to_pages`]), where the kernel gives them.
    fn grow(&mut self, want: usize) {
        let len = self.len();
        let bound = self.heap_bound();
        let mut target = (len + want).max(2 * len).max(FIRST_READ);
        if target >= LARGE && self.max >= PAGES_FROM {
            let pages_len = self.pages_len();
            if pages_len.is_some_and(|pages_len| self.move_to_pages(pages_len.max(len + want))) {
                self.recycling = true;
                return;
            }
        }
        if target > bound / 2 {
            target = (len + want).max(bound);
        }
        if self.start == 0 {
            // `realloc` (which may move pages rather than bytes).
            self.count_moved(self.bytes().len());
            let Storage::Heap(data) = &mut self.storage else {
                unreachable!("pages grow by moving to larger pages");
            };
            data.truncate(self.end);
            data.reserve_exact(target - self.end);
        } else {
            self.move_to_heap(target);
        }
    }

    /// Moves the live bytes into a fresh vector of `capacity` bytes (at least).
    fn move_to_heap(&mut self, capacity: usize) {
        let len = self.len();
        self.count_moved(len);
        let mut fresh = Vec::with_capacity(capacity.max(len));
        fresh.extend_from_slice(self.as_slice());
        self.storage = Storage::Heap(fresh);
        self.start = 0;
        self.end = len;
        self.released = 0;
        self.ready = 0;
    }

    /// Moves the live bytes into fresh pages of `len` bytes (at least). False, and nothing
    /// changed, when the kernel gives no mapping.
    fn move_to_pages(&mut self, len: usize) -> bool {
        let Ok(mut pages) = sys::memory::Pages::new(len) else {
            return false;
        };
        let live = self.len();
        self.count_moved(live);
        pages.bytes_mut()[..live].copy_from_slice(self.as_slice());
        self.storage = Storage::Pages(pages);
        self.start = 0;
        self.end = live;
        self.released = 0;
        self.ready = 0;
        true
    }

    /// Gives back capacity above [`SHRINK_ABOVE`] when the unmatched bytes fill at most an
    /// eighth of it (pages of our own: a quarter of [`LARGE`]). The copy is of those few
    /// bytes, after at least three times as many were appended, so it is amortised O(1)
    /// per byte, and growing back to the same size takes as many bytes again, so the
    /// buffer does not thrash.
    fn maybe_shrink(&mut self) {
        let capacity = self.capacity();
        let len = self.len();
        let few = match self.storage {
            Storage::Heap(_) => capacity > SHRINK_ABOVE && len <= capacity / 8,
            Storage::Pages(_) => len <= LARGE / 4,
        };
        if !few {
            return;
        }
        self.move_to_heap((2 * len).max(FIRST_READ));
        self.reserve = FIRST_READ;
    }

    #[cfg_attr(not(test), allow(unused_variables))]
    fn count_moved(&mut self, n: usize) {
        #[cfg(test)]
        {
            self.moved += n as u64;
        }
    }

    /// Marks `n` bytes of [`Buffer::spare`] as filled. A read that filled all the room it
    /// was given doubles the next reservation.
    pub(crate) fn commit(&mut self, n: usize) {
        debug_assert!(n <= self.offered && self.end + n <= self.bytes().len());
        if n == self.offered {
            self.reserve = (2 * self.reserve).min(READ_CHUNK);
        }
        self.offered = 0;
        self.end += n;
    }

    /// Rewrites the last `n` bytes in place: `f` gets them and returns how many it kept at
    /// their front (text mode removing escape sequences from what was just read).
    pub(crate) fn rewrite_tail(&mut self, n: usize, f: impl FnOnce(&mut [u8]) -> usize) {
        let start = self.end - n.min(self.len());
        let end = self.end;
        let kept = f(&mut self.bytes_mut()[start..end]);
        self.end = start + kept.min(end - start);
    }

    /// Removes and returns all the unmatched bytes.
    pub(crate) fn take_all(&mut self) -> Vec<u8> {
        self.take_front(self.len())
    }

    /// Appends a copy of `bytes` (the maximum is not enforced: see
    /// [`Buffer::enforce_max`]).
    pub(crate) fn extend(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let spare = self.spare();
            let n = spare.len().min(bytes.len());
            spare[..n].copy_from_slice(&bytes[..n]);
            self.commit(n);
            bytes = &bytes[n..];
        }
    }

    /// Drops the oldest bytes beyond the maximum size.
    pub(crate) fn enforce_max(&mut self) {
        let excess = self.len().saturating_sub(self.max);
        if excess > 0 {
            self.drop_front(excess);
            self.discarded += excess as u64;
        }
    }

    /// Removes the first `n` unmatched bytes and returns them. In a vector, when they are
    /// most of the buffer (at least one read's worth), the allocation itself is handed over
    /// (after moving the live bytes to its front, in place) and only the (smaller) rest is
    /// copied, so taking a long `before` costs no second allocation of its size. From pages
    /// of our own they are copied out [`COPY_OUT_PIECE`] at a time, each piece's pages given
    /// back once copied, so memory does not double either.
    pub(crate) fn take_front(&mut self, n: usize) -> Vec<u8> {
        assert!(n <= self.len(), "take past the end of the buffer");
        let rest = self.len() - n;
        if let Storage::Pages(_) = self.storage {
            let mut taken = Vec::with_capacity(n);
            let mut freed = self.start;
            while taken.len() < n {
                let piece = (n - taken.len()).min(COPY_OUT_PIECE);
                taken.extend_from_slice(&self.as_slice()[..piece]);
                self.count_moved(piece);
                self.drop_front(piece);
                // (A short take leaves its pages to `drop_front`: no system call.)
                if let (Storage::Pages(pages), true) = (&mut self.storage, n >= COPY_OUT_PIECE) {
                    freed = pages.release_small(freed..self.start);
                }
            }
            self.maybe_shrink();
            return taken;
        }
        if n >= rest && n >= READ_CHUNK {
            if self.start > 0 {
                self.compact();
            }
            let mut kept = Vec::with_capacity((rest + self.reserve).max(FIRST_READ));
            self.count_moved(rest);
            kept.extend_from_slice(&self.bytes()[n..self.end]);
            let Storage::Heap(data) = std::mem::replace(&mut self.storage, Storage::Heap(kept))
            else {
                unreachable!("pages were handled above");
            };
            let mut taken = data;
            taken.truncate(n);
            if taken.capacity() - n >= READ_CHUNK {
                taken.shrink_to_fit();
            }
            self.end = rest;
            self.base += n as u64;
            return taken;
        }
        let taken = self.as_slice()[..n].to_vec();
        self.consume(n);
        taken
    }

    /// In pages of our own, each huge page the live bytes have left is moved to just after
    /// the end, where the next reads write (one system call per huge page read): the reads
    /// then fill pages already resident instead of faulting in fresh ones, which the kernel
    /// zeroes first. At most [`READY_AHEAD`] pages wait there; the others, and any the
    /// mapping has no room for before the next compaction, are given back.
    ///
    /// When the mapping's end leaves no room after the buffer's end, this is when it is
    /// compacted (rather than at the next read: [`Buffer::make_room`]), the dead page
    /// moving along to be recycled in the fresh mapping.
    fn recycle_dead_pages(&mut self) {
        let page = sys::memory::HUGE_PAGE;
        let mut chunk = self.released;
        let mut slid = false;
        while chunk + page <= self.start {
            let after_end = self.end.next_multiple_of(page);
            let to = after_end.max(self.ready);
            let wanted = self.recycling && to < after_end + READY_AHEAD * page;
            if wanted && to + page > self.capacity() && !slid && chunk > 0 {
                slid = true;
                if self.remap_pages_from(chunk, self.capacity()) {
                    chunk = 0;
                    continue;
                }
            }
            let Storage::Pages(pages) = &mut self.storage else {
                return;
            };
            if wanted && to + page <= pages.len() {
                if pages.recycle(chunk, to, page).is_ok() {
                    self.ready = to + page;
                    chunk += page;
                    continue;
                }
                // (The mapping may now end at `to`: then the next read finds it short.)
                self.recycling = false;
            }
            pages.release(chunk..chunk + page);
            chunk += page;
        }
        self.released = chunk;
    }

    /// Marks the first `n` unmatched bytes as matched.
    pub(crate) fn consume(&mut self, n: usize) {
        self.drop_front(n);
        self.maybe_shrink();
    }

    fn drop_front(&mut self, n: usize) {
        assert!(n <= self.len(), "consume past the end of the buffer");
        self.start += n;
        self.base += n as u64;
        match &mut self.storage {
            Storage::Heap(_) => {
                if self.start == self.end {
                    self.start = 0;
                    self.end = 0;
                }
            }
            Storage::Pages(_) => {
                if self.start >= self.released + sys::memory::HUGE_PAGE {
                    self.recycle_dead_pages();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_MAX: usize = 16 << 20;

    #[test]
    fn keeps_order_across_consume_and_compaction() {
        let mut b = Buffer::new(0);
        let mut expected = Vec::new();
        for round in 0..1000u32 {
            let chunk: Vec<u8> = (0..(round % 97 + 1) * 37)
                .map(|i| (i ^ round) as u8)
                .collect();
            b.extend(&chunk);
            expected.extend_from_slice(&chunk);
            let eat = (round as usize * 13) % (b.len() + 1);
            b.consume(eat);
            expected.drain(..eat);
            assert_eq!(b.as_slice(), &expected[..]);
        }
    }

    #[test]
    fn take_front_hands_over_long_prefixes() {
        let mut b = Buffer::new(0);
        let text: Vec<u8> = (0..3 * READ_CHUNK).map(|i| (i % 251) as u8).collect();
        b.extend(&text);
        let base = b.base();
        assert_eq!(b.take_front(2 * READ_CHUNK), &text[..2 * READ_CHUNK]);
        assert_eq!(b.base(), base + 2 * READ_CHUNK as u64);
        assert_eq!(b.as_slice(), &text[2 * READ_CHUNK..]);
        assert_eq!(b.take_front(10), &text[2 * READ_CHUNK..2 * READ_CHUNK + 10]);
        b.extend(b"more");
        assert!(b.as_slice().ends_with(b"more"));
        assert_eq!(b.len(), READ_CHUNK - 10 + 4);
    }

    /// One read of up to `n` bytes of `byte` through `spare` and `commit`, as a session
    /// reads; returns how many were read.
    fn read(b: &mut Buffer, n: usize, byte: u8) -> usize {
        let spare = b.spare();
        let n = n.min(spare.len());
        spare[..n].fill(byte);
        b.commit(n);
        n
    }

    /// The byte at absolute position `at` in [`read_labelled`]'s output.
    fn label(at: usize) -> u8 {
        (at / 4099) as u8
    }

    /// One read as [`read`] does, of bytes that tell their position ([`label`]), then
    /// the session's discard; returns the total read so far (`total` includes it).
    fn read_labelled(b: &mut Buffer, total: &mut usize) -> usize {
        let spare = b.spare();
        assert!(!spare.is_empty(), "no room offered at {total}");
        let n = spare.len().min(READ_CHUNK);
        for (i, x) in spare[..n].iter_mut().enumerate() {
            *x = label(*total + i);
        }
        b.commit(n);
        b.enforce_max();
        *total += n;
        *total
    }

    /// Checks that the buffer holds [`read_labelled`]'s bytes from its base on.
    fn assert_labelled(b: &Buffer) {
        let first = b.base() as usize;
        for (i, &x) in b.as_slice().iter().enumerate() {
            assert_eq!(x, label(first + i), "byte {}", first + i);
        }
    }

    /// A buffer with maximum `max`, in pages of its own, fed `2 * max` bytes of 1 (so it
    /// is full and has dropped its oldest bytes); also returns the total read.
    fn full_in_pages(max: usize) -> (Buffer, usize) {
        let mut b = Buffer::new(max);
        let mut total = 0;
        while total < 2 * max {
            total += read(&mut b, READ_CHUNK, 1);
            b.enforce_max();
        }
        assert!(matches!(b.storage, Storage::Pages(_)));
        (b, total)
    }

    #[test]
    fn first_read_is_small_and_full_reads_double_the_next() {
        let mut b = Buffer::new(0);
        assert_eq!(b.spare().len(), FIRST_READ);
        assert!(b.capacity() <= FIRST_READ);
        let mut sizes = Vec::new();
        for _ in 0..10 {
            sizes.push(read(&mut b, usize::MAX, b'x'));
        }
        assert_eq!(sizes[..3], [FIRST_READ, 2 * FIRST_READ, 4 * FIRST_READ]);
        assert_eq!(*sizes.last().unwrap(), READ_CHUNK);
        // A read that leaves room over does not grow the reservation.
        let mut small = Buffer::new(0);
        read(&mut small, 10, b'y');
        small.consume(10);
        assert_eq!(small.spare().len(), FIRST_READ);
    }

    #[test]
    fn a_small_exchange_allocates_only_the_first_reservation() {
        let mut b = Buffer::new(DEFAULT_MAX);
        b.extend(b"READY\r\n");
        b.consume(5);
        b.extend(b"ping-0\r\n");
        assert_eq!(b.take_all(), b"\r\nping-0\r\n");
        assert!(b.capacity() <= FIRST_READ, "{}", b.capacity());
    }

    #[test]
    fn shrinks_back_after_a_burst_with_hysteresis() {
        // A vector (a maximum below PAGES_FROM) shrinks at an eighth of its capacity.
        let mut b = Buffer::new(PAGES_FROM / 2);
        while b.len() < PAGES_FROM / 2 {
            read(&mut b, usize::MAX, b'z');
        }
        assert!(matches!(b.storage, Storage::Heap(_)));
        // Consuming to a quarter of the capacity keeps it (no thrashing)...
        let big = b.capacity();
        b.consume(b.len() - big / 4);
        assert_eq!(b.capacity(), big);
        // ...an eighth gives it back.
        b.consume(b.len() - 100);
        assert!(b.capacity() <= FIRST_READ, "{}", b.capacity());
        assert_eq!(b.as_slice(), &[b'z'; 100][..]);
        // Taking a long prefix hands it over and keeps little.
        b.extend(&vec![b'w'; 1 << 20]);
        let taken = b.take_front(b.len() - 10);
        assert_eq!(taken.len(), 100 + (1 << 20) - 10);
        assert!(b.capacity() <= SHRINK_ABOVE, "{}", b.capacity());
        assert_eq!(b.as_slice(), b"wwwwwwwwww");

        // Pages of its own go back to a vector once under a quarter of LARGE is left.
        let mut b = Buffer::new(DEFAULT_MAX);
        while b.len() < 8 << 20 {
            read(&mut b, usize::MAX, b'z');
        }
        assert!(matches!(b.storage, Storage::Pages(_)));
        let big = b.capacity();
        b.consume(b.len() - LARGE / 2);
        assert_eq!(b.capacity(), big);
        b.consume(b.len() - 100);
        assert!(b.capacity() <= FIRST_READ, "{}", b.capacity());
        assert_eq!(b.as_slice(), &[b'z'; 100][..]);
        // A long prefix is copied out, and little is kept.
        b.extend(&vec![b'w'; 4 << 20]);
        assert!(matches!(b.storage, Storage::Pages(_)));
        let taken = b.take_front(b.len() - 10);
        assert_eq!(taken.len(), 100 + (4 << 20) - 10);
        assert!(taken[..100].iter().all(|&c| c == b'z') && taken[100..].iter().all(|&c| c == b'w'));
        assert!(b.capacity() <= SHRINK_ABOVE, "{}", b.capacity());
        assert_eq!(b.as_slice(), b"wwwwwwwwww");
    }

    #[test]
    fn a_buffer_growing_past_large_goes_to_its_bound_in_one_step() {
        let mut b = Buffer::new(DEFAULT_MAX);
        let mut capacities = vec![b.capacity()];
        while b.len() < 8 << 20 {
            read(&mut b, usize::MAX, b'q');
            if capacities.last() != Some(&b.capacity()) {
                capacities.push(b.capacity());
            }
        }
        // Doubling while small, then the bound at once: no 2, 4, 8 MiB steps in between.
        let (&last, small) = capacities.split_last().unwrap();
        assert_eq!(last, b.bound());
        assert!(small.iter().all(|&c| c < LARGE), "{capacities:?}");
        // The small steps, and one copy of under LARGE bytes into the large allocation.
        assert!(b.moved < 2 * LARGE as u64, "{} bytes moved", b.moved);
        assert_eq!(b.as_slice(), &vec![b'q'; b.len()][..]);
    }

    #[test]
    fn a_full_buffer_discarding_stays_bounded_and_moves_each_byte_o1_times() {
        let max = 1 << 20;
        let mut b = Buffer::new(max);
        let mut total = 0u64;
        for i in 0..(64usize << 20) / 4096 {
            // Reads of varying size, as a pty or pipe gives them.
            total += read(&mut b, 1 + (i * 7919) % READ_CHUNK, i as u8) as u64;
            b.enforce_max();
            assert!(
                b.capacity() <= b.bound(),
                "{} > {}",
                b.capacity(),
                b.bound()
            );
        }
        assert_eq!(b.len(), max);
        assert_eq!(b.discarded(), total - max as u64);
        assert_eq!(b.base(), b.discarded());
        assert!(
            b.moved <= (SLACK as u64 + 1) * total,
            "{} bytes moved for {total} read",
            b.moved
        );
        // Taking everything hands the allocation over: no second buffer of its size.
        let all = b.take_all();
        assert_eq!(all.len(), max);
    }

    /// A full buffer in pages of its own keeps dropping its oldest bytes: compactions
    /// remap pages, so no byte is copied after the move into the pages.
    #[test]
    fn a_full_buffer_in_pages_moves_no_bytes() {
        let max = DEFAULT_MAX;
        let mut b = Buffer::new(max);
        let mut total = 0u64;
        let mut expected = std::collections::VecDeque::new();
        for i in 0..(160usize << 20) / (READ_CHUNK / 2) {
            let n = read(&mut b, 1 + (i * 7919) % READ_CHUNK, i as u8);
            total += n as u64;
            expected.extend(std::iter::repeat_n(i as u8, n));
            b.enforce_max();
            let excess = expected.len().saturating_sub(max);
            expected.drain(..excess);
            assert!(b.capacity() <= b.bound());
            assert!(b.end <= b.capacity());
        }
        assert!(matches!(b.storage, Storage::Pages(_)));
        assert!(b.as_slice() == expected.make_contiguous());
        assert_eq!(b.discarded(), total - max as u64);
        // The bytes copied when moving into the pages (under LARGE), and the small
        // vector's growth before that.
        assert!(
            b.moved < 2 * LARGE as u64,
            "{} bytes moved for {total} read",
            b.moved
        );
        assert_eq!(b.take_all(), expected.make_contiguous());
        assert!(matches!(b.storage, Storage::Heap(_)));
    }

    /// Random appends, reads, matches, takes and discards against a plain `Vec` model.
    #[test]
    fn agrees_with_a_simple_model() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: usize| {
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
        };
        for round in 0..16 {
            // Every fourth round is large: it moves into pages of its own, where a full
            // buffer's compactions remap pages.
            let large = round % 4 == 3;
            let mut max = if large {
                PAGES_FROM + READ_CHUNK * next(8)
            } else {
                READ_CHUNK * (1 + next(4))
            };
            let most = if large { 3 * LARGE } else { 5 * READ_CHUNK };
            let mut b = Buffer::new(max);
            // The largest maximum so far: a lowered one leaves the capacity as it was.
            let mut top = max;
            let mut model: Vec<u8> = Vec::new();
            let (mut base, mut discarded, mut appended) = (0u64, 0u64, 0u64);
            let mut moved_floor = 0u64;
            for step in 0..600 {
                let byte = (round * 31 + step) as u8;
                match next(8) {
                    0..=2 => {
                        // A read of a random size, then the session's discard.
                        let want = [10, 1000, READ_CHUNK, 3 * READ_CHUNK][next(4)];
                        let n = read(&mut b, want, byte);
                        model.extend(std::iter::repeat_n(byte, n));
                        appended += n as u64;
                        let excess = model.len().saturating_sub(max);
                        model.drain(..excess);
                        base += excess as u64;
                        discarded += excess as u64;
                        b.enforce_max();
                    }
                    3 => {
                        // (Large rounds append only up to about their maximum: past its
                        // bound a buffer grows one append at a time.)
                        let n = match large {
                            true => next(most).min(max.saturating_sub(model.len()) + READ_CHUNK),
                            false => next(most),
                        };
                        b.extend(&vec![byte; n]);
                        model.extend(std::iter::repeat_n(byte, n));
                        appended += n as u64;
                    }
                    4 | 5 => {
                        let n = next(model.len() + 1);
                        b.consume(n);
                        model.drain(..n);
                        base += n as u64;
                    }
                    6 => {
                        let n = [0, model.len(), model.len() / 2, next(model.len() + 1)][next(4)];
                        assert_eq!(b.take_front(n), model[..n]);
                        model.drain(..n);
                        base += n as u64;
                    }
                    _ => {
                        if next(4) == 0 {
                            // A new maximum, up or down (a session's `set_max_buffer`).
                            max = max / 2 + next(max + 1);
                            b.set_max(max);
                            max = b.max();
                            top = top.max(max);
                        }
                        let excess = model.len().saturating_sub(max);
                        model.drain(..excess);
                        base += excess as u64;
                        discarded += excess as u64;
                        b.enforce_max();
                    }
                }
                assert_eq!(b.as_slice(), &model[..], "round {round} step {step}");
                assert_eq!(b.base(), base);
                assert_eq!(b.discarded(), discarded);
                b.max = top;
                let bound = b.bound();
                b.max = max;
                assert!(
                    b.capacity() <= bound.max(8 * (b.len() + 2 * READ_CHUNK)),
                    "capacity {} for {} bytes (bound {bound})",
                    b.capacity(),
                    b.len(),
                );
                moved_floor = moved_floor.max(b.moved);
            }
            assert!(
                moved_floor <= 8 * appended + (1 << 20),
                "{moved_floor} bytes moved for {appended} appended"
            );
        }
    }

    #[test]
    fn a_full_buffer_in_pages_reads_into_recycled_pages() {
        // Past the first fill, each huge page the live bytes leave moves to just after the
        // end: the reads write into pages already resident, with no page fault (with or
        // without transparent huge pages: without them, 512 faults per huge page read).
        use nix::sys::resource::{UsageWho, getrusage};
        let faults = || {
            getrusage(UsageWho::RUSAGE_THREAD)
                .unwrap()
                .minor_page_faults()
        };
        // A maximum that is not a whole number of huge pages, so the live bytes leave a
        // page at another time than the end enters one.
        let max = PAGES_FROM + 3 * READ_CHUNK;
        let mut b = Buffer::new(max);
        let mut total = 0;
        while read_labelled(&mut b, &mut total) < 2 * max {}
        let before = faults();
        while read_labelled(&mut b, &mut total) < 2 * max + 8 * PAGES_FROM {}
        let during = faults() - before;
        assert!(
            during < 16,
            "{during} page faults while reading {} huge pages",
            8 * PAGES_FROM / LARGE
        );
        // And the bytes are the newest ones.
        assert_eq!(b.len(), max);
        assert_eq!(b.base(), b.discarded());
        assert_labelled(&b);
    }

    #[test]
    fn when_pages_cannot_be_moved_a_full_buffer_copies_each_byte_o1_times() {
        // As on a kernel before 5.7 (no MREMAP_DONTUNMAP) or at the limit on mappings: the
        // first failed recycling cuts the mapping short (its target may be gone), and then
        // the buffer neither retries nor recopies itself each time it finds it short.
        sys::memory::failing::fail_moves(true);
        let max = 2 * PAGES_FROM + 3 * READ_CHUNK;
        let mut b = Buffer::new(max);
        let mut total = 0;
        while read_labelled(&mut b, &mut total) < 8 * max {}
        sys::memory::failing::fail_moves(false);
        assert!(matches!(b.storage, Storage::Pages(_)));
        assert!(
            b.moved <= (2 * total + 2 * max) as u64,
            "{} bytes moved for {total} read",
            b.moved
        );
        assert_labelled(&b);
    }

    #[test]
    fn a_buffer_in_pages_that_gets_no_larger_mapping_offers_room_in_a_vector() {
        // A maximum raised beyond what the address space can map: the buffer goes back
        // to a vector, and every read is offered room.
        let (mut b, total) = full_in_pages(PAGES_FROM);
        b.set_max(usize::MAX / 16);
        for _ in 0..400 {
            assert!(!b.spare().is_empty());
            read(&mut b, READ_CHUNK, 2);
            b.enforce_max();
        }
        assert!(matches!(b.storage, Storage::Heap(_)));
        assert_eq!(b.discarded() as usize, total - PAGES_FROM);
    }

    #[test]
    fn a_maximum_at_the_end_of_the_address_space_means_no_bound() {
        // `usize::MAX` (what a caller writes for "keep everything") must not overflow the
        // bound's or the mapping's arithmetic; the buffer grows as far as it is fed.
        for max in [usize::MAX, usize::MAX / 2, isize::MAX as usize - 1] {
            let mut b = Buffer::new(max);
            let mut model = Vec::new();
            while model.len() < 3 * LARGE {
                let byte = (model.len() / 1000) as u8;
                let n = read(&mut b, READ_CHUNK, byte);
                model.extend(std::iter::repeat_n(byte, n));
                b.enforce_max();
            }
            assert_eq!(b.as_slice(), model);
            assert_eq!(b.discarded(), 0);
            b.consume(model.len() - 10);
            assert_eq!(b.as_slice(), &model[model.len() - 10..]);
        }
    }

    #[test]
    fn raising_the_maximum_of_a_full_buffer_in_pages_moves_no_bytes() {
        // Full at one maximum (in pages of its own), then fed up to a maximum four times
        // larger: the live pages move into a mapping for the new maximum (no byte copied),
        // not by a compaction per read that frees a few bytes each.
        let (mut b, total) = full_in_pages(PAGES_FROM);
        let before = b.moved;
        b.set_max(4 * PAGES_FROM);
        let mut added = 0;
        while added < 3 * PAGES_FROM {
            added += read(&mut b, READ_CHUNK, 2);
            b.enforce_max();
        }
        assert_eq!(b.len(), 4 * PAGES_FROM);
        assert_eq!(b.discarded() as usize, total - PAGES_FROM);
        let (old, new) = b.as_slice().split_at(b.len() - added);
        assert!(old.iter().all(|&x| x == 1) && new.iter().all(|&x| x == 2));
        assert_eq!(b.moved - before, 0, "bytes moved for {added} read");
        assert!(
            b.capacity() <= b.bound(),
            "{} > {}",
            b.capacity(),
            b.bound()
        );
    }

    #[test]
    fn discards_oldest_beyond_max() {
        let mut b = Buffer::new(READ_CHUNK);
        b.extend(&vec![1u8; READ_CHUNK]);
        b.extend(b"tail");
        b.enforce_max();
        assert_eq!(b.len(), READ_CHUNK);
        assert_eq!(b.discarded(), 4);
        assert_eq!(b.base(), 4);
        assert!(b.as_slice().ends_with(b"tail"));
    }
}
