//! The session's buffer of output that has arrived but has not been matched yet.
//!
//! Bytes are read straight into the buffer's spare room (no intermediate copy). Consumed
//! bytes are dropped lazily: the live region moves forward and is compacted only when that
//! costs at most as much as the data appended since the last compaction, so every byte is
//! copied O(1) times however the buffer is used.
//!
//! Positions are absolute (counted from the first byte the session ever read) so matchers
//! can remember how far they scanned even when old bytes are dropped.

/// What a session does when unmatched output reaches its maximum buffer size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BufferFull {
    /// Drop the oldest bytes, keeping the newest `max` bytes (Tcl Expect's `match_max`
    /// behaviour). A match must fit inside the window of kept bytes. The number of dropped
    /// bytes is reported by [`Session::discarded`](crate::Session::discarded).
    #[default]
    DiscardOldest,
    /// Stop reading and fail the `expect` call with [`Error::BufferFull`](crate::Error::BufferFull);
    /// nothing is lost and the data stays readable.
    Error,
}

/// The smallest allowed maximum: one read must always fit.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

pub(crate) struct Buffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
    /// Absolute position of `data[start]`.
    base: u64,
    max: usize,
    discarded: u64,
}

impl Buffer {
    pub(crate) fn new(max: usize) -> Self {
        Buffer {
            data: Vec::new(),
            start: 0,
            end: 0,
            base: 0,
            max: max.max(READ_CHUNK),
            discarded: 0,
        }
    }

    /// The unmatched bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.data[self.start..self.end]
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
    }

    /// Bytes dropped so far under [`BufferFull::DiscardOldest`].
    pub(crate) fn discarded(&self) -> u64 {
        self.discarded
    }

    /// True when the buffer holds its maximum.
    pub(crate) fn is_full(&self) -> bool {
        self.len() >= self.max
    }

    /// How many more bytes fit before the maximum.
    pub(crate) fn room(&self) -> usize {
        self.max.saturating_sub(self.len())
    }

    /// Room for one read at the end of the buffer. Fill it, then call [`Buffer::commit`].
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        if self.data.len() - self.end < READ_CHUNK {
            if self.start > 0 && self.start >= self.len() {
                // The live bytes are no more than the dead prefix: moving them costs no more
                // than what was consumed, so the copying is amortised O(1) per byte.
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.data.len() - self.end < READ_CHUNK {
                // Initialise just one chunk more (the Vec's capacity still grows
                // geometrically): each byte is zeroed once, right before a read fills it,
                // rather than a whole doubled allocation at a time.
                self.data.resize(self.end + READ_CHUNK, 0);
            }
        }
        &mut self.data[self.end..self.end + READ_CHUNK]
    }

    /// Marks `n` bytes of [`Buffer::spare`] as filled.
    pub(crate) fn commit(&mut self, n: usize) {
        debug_assert!(self.end + n <= self.data.len());
        self.end += n;
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
            self.consume(excess);
            self.discarded += excess as u64;
        }
    }

    /// Removes the first `n` unmatched bytes and returns them. When they are most of a
    /// buffer that starts at its allocation, the allocation itself is handed over and only
    /// the (smaller) rest is copied, so taking a long `before` costs no copy of it.
    pub(crate) fn take_front(&mut self, n: usize) -> Vec<u8> {
        assert!(n <= self.len(), "take past the end of the buffer");
        let rest = self.len() - n;
        if self.start == 0 && n >= rest && n >= READ_CHUNK {
            let mut kept = Vec::with_capacity(rest + READ_CHUNK);
            kept.extend_from_slice(&self.data[n..self.end]);
            let mut taken = std::mem::replace(&mut self.data, kept);
            taken.truncate(n);
            self.end = rest;
            self.base += n as u64;
            return taken;
        }
        let taken = self.as_slice()[..n].to_vec();
        self.consume(n);
        taken
    }

    /// Marks the first `n` unmatched bytes as matched.
    pub(crate) fn consume(&mut self, n: usize) {
        assert!(n <= self.len(), "consume past the end of the buffer");
        self.start += n;
        self.base += n as u64;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
