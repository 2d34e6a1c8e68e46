//! Incremental matching, the one matcher core: a [`MatchSet`] scans a buffer for a list of
//! patterns, picks the earliest match (ties go to the pattern listed first), and takes it
//! out of the buffer as a [`Match`]. `expect` drives it over a session's buffer, interact's
//! hooks over each direction of the stream; both buffers drop their oldest bytes the same
//! way when full, and the scanners cope with that.
//!
//! Every read appends bytes to the buffer; each scanner then looks only at what it has not
//! seen yet (plus, for exact patterns, `needle.len() - 1` bytes of overlap), so a call that
//! waits through megabytes of output does work proportional to the bytes that arrived, not
//! to the buffer size times the number of reads.
//!
//! Regexes are scanned with a lazy DFA whose state is carried from one read to the next.
//! The DFA only answers "has a match ended yet?"; when it says yes, the real regex runs once
//! over the buffer to find the leftmost match and its captures. Patterns the lazy DFA cannot
//! handle (a Unicode `\b` next to non-ASCII bytes, for one) fall back to re-running the
//! regex after each read.

use std::ops::Range;
use std::sync::Arc;

use regex::bytes::CaptureLocations;
use regex_automata::hybrid::LazyStateID;
use regex_automata::hybrid::dfa::Cache;
use regex_automata::{Input, Span};

use nix::sys::signal::Signal;

use crate::engine::buffer::Buffer;
use crate::engine::matched::Match;
use crate::engine::pattern::{CompiledRegex, IncrementalDfa, Kind, Pattern};

/// Which match wins when several patterns match what is buffered.
///
/// ptychat and pexpect take the match that starts earliest in the output (ties go to the
/// pattern listed first): a later pattern cannot skip over output an earlier one would
/// have stopped at. Tcl Expect tries its patterns in list order and takes the first that
/// matches anywhere; [`ListOrder`](MatchOrder::ListOrder) does that, for scripts ported
/// from Expect (and for `ptychat expect`).
///
/// ```
/// use ptychat::{Command, MatchOrder};
/// let mut s = Command::new("echo").arg("one two").spawn()?;
/// s.set_match_order(MatchOrder::ListOrder);
/// assert_eq!(s.expect(["two", "one"])?.index(), 0);
/// # Ok::<(), ptychat::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatchOrder {
    /// The match that starts earliest wins; ties go to the pattern listed first.
    #[default]
    Earliest,
    /// The first pattern in the list that matches anywhere wins (Tcl Expect's rule).
    ListOrder,
}

/// The patterns of one `expect` call, or of one direction of interact's hooks, with their
/// scanning state.
pub(crate) struct MatchSet<'p> {
    patterns: &'p [Pattern],
    scanners: Vec<Scanner<'p>>,
    order: MatchOrder,
    /// Whether [`Pattern::keep`] leaves matches in the buffer (not for a stream watch,
    /// which takes every match it finds).
    keeps: bool,
}

impl<'p> MatchSet<'p> {
    /// Starts scanning at absolute position `base` (the buffer's first unmatched byte).
    pub(crate) fn new(patterns: &'p [Pattern], base: u64) -> Self {
        MatchSet {
            patterns,
            scanners: patterns.iter().map(|p| Scanner::new(p, base)).collect(),
            order: MatchOrder::Earliest,
            keeps: true,
        }
    }

    /// The same set, consuming every match, [`Pattern::keep`] or not.
    pub(crate) fn consuming(mut self) -> Self {
        self.keeps = false;
        self
    }

    /// The same set with `order` deciding between matches.
    pub(crate) fn with_order(mut self, order: MatchOrder) -> Self {
        self.order = order;
        self
    }

    /// Forgets what was scanned, for a buffer that was consumed by someone else: matching
    /// starts again at absolute position `base`.
    pub(crate) fn restart(&mut self, base: u64) {
        for scanner in &mut self.scanners {
            scanner.restart(base);
        }
    }

    /// The patterns, in the order given.
    pub(crate) fn patterns(&self) -> &'p [Pattern] {
        self.patterns
    }

    /// Finds the earliest data match in `buffer` and takes it, with everything before it,
    /// out of the buffer; the scanners then continue after it. Each call looks only at
    /// bytes no earlier call examined.
    pub(crate) fn take_match(&mut self, buffer: &mut Buffer) -> Option<Match> {
        let (index, found) = match self.order {
            MatchOrder::Earliest => self.earliest(buffer.as_slice(), buffer.base())?,
            MatchOrder::ListOrder => self.first_listed(buffer.as_slice(), buffer.base())?,
        };
        let start = found.range.start;
        let (groups, names) = match found.groups {
            Some(groups) => {
                let relative = groups
                    .ranges
                    .into_iter()
                    .map(|g| g.map(|r| r.start - start..r.end - start))
                    .collect();
                (relative, groups.names)
            }
            None => (Vec::new(), Arc::from([])),
        };
        if self.keeps && self.patterns[index].keep {
            // Nothing is consumed (`Pattern::keep`): copies, and the buffer stays as it
            // was for the next expect; this set goes on after the match.
            let bytes = buffer.as_slice();
            let before = bytes[..start].to_vec();
            let matched = bytes[start..found.range.end].to_vec();
            let after = buffer.base() + found.range.end as u64;
            for scanner in &mut self.scanners {
                scanner.restart(after);
            }
            return Some(Match::data(index, before, matched, groups, names));
        }
        let before = buffer.take_front(start);
        let matched = buffer.take_front(found.range.len());
        // Matches do not overlap: the next one starts after this one.
        for scanner in &mut self.scanners {
            scanner.restart(buffer.base());
        }
        Some(Match::data(index, before, matched, groups, names))
    }

    /// The match of the first [`eof`](Pattern::eof) pattern, taking everything buffered.
    pub(crate) fn eof_match(&self, buffer: &mut Buffer) -> Option<Match> {
        let index = self.position(|k| matches!(k, Kind::Eof))?;
        Some(Match::eof(index, buffer.take_all()))
    }

    /// The match of the first [`timeout`](Pattern::timeout) pattern; the buffer is kept.
    pub(crate) fn timeout_match(&self, buffer: &Buffer) -> Option<Match> {
        let index = self.position(|k| matches!(k, Kind::Timeout))?;
        Some(Match::timeout(index, buffer.as_slice().to_vec()))
    }

    /// The match of the first [`signal`](Pattern::signal) pattern whose signal is in
    /// `pending`, which loses that signal; the buffer is kept.
    pub(crate) fn signal_match(&self, pending: &mut Vec<Signal>, buffer: &Buffer) -> Option<Match> {
        let (index, at) = self.patterns.iter().enumerate().find_map(|(index, p)| {
            let Kind::Signal(wanted) = p.kind else {
                return None;
            };
            Some((index, pending.iter().position(|s| *s == wanted)?))
        })?;
        let signal = pending.remove(at);
        Some(Match::on_signal(index, signal, buffer.as_slice().to_vec()))
    }

    fn position(&self, is: impl Fn(&Kind) -> bool) -> Option<usize> {
        self.patterns.iter().position(|p| is(&p.kind))
    }

    /// The match that starts first; ties go to the pattern listed first.
    fn earliest(&mut self, hay: &[u8], base: u64) -> Option<(usize, Found)> {
        let mut best: Option<(usize, Found)> = None;
        for (index, scanner) in self.scanners.iter_mut().enumerate() {
            if let Some(found) = scanner.find(hay, base) {
                if best
                    .as_ref()
                    .is_none_or(|(_, b)| found.range.start < b.range.start)
                {
                    best = Some((index, found));
                }
            }
        }
        best
    }
}

impl MatchSet<'_> {
    /// The match of the first pattern in the list that matches anywhere.
    fn first_listed(&mut self, hay: &[u8], base: u64) -> Option<(usize, Found)> {
        self.scanners
            .iter_mut()
            .enumerate()
            .find_map(|(index, scanner)| Some((index, scanner.find(hay, base)?)))
    }
}

/// Where a pattern matched in the buffer (positions relative to the unmatched buffer).
struct Found {
    range: Range<usize>,
    /// Capture groups for regexes.
    groups: Option<Groups>,
}

/// A regex match's capture groups, group 0 included.
struct Groups {
    ranges: Vec<Option<Range<usize>>>,
    names: Arc<[Option<String>]>,
}

enum Scanner<'p> {
    Exact {
        finder: &'p memchr::memmem::Finder<'static>,
        /// Absolute position up to which no match can start.
        next_start: u64,
    },
    Regex(Box<RegexScanner<'p>>),
    NBytes(usize),
    /// EOF, timeout and signal patterns: they never match data.
    Never,
}

struct RegexScanner<'p> {
    re: &'p CompiledRegex,
    locations: CaptureLocations,
    dfa: Option<DfaScan<'p>>,
}

struct DfaScan<'p> {
    inc: &'p IncrementalDfa,
    cache: Option<Cache>,
    state: Option<LazyStateID>,
    /// Absolute position of the next byte to feed the DFA.
    scanned: u64,
}

impl<'p> Scanner<'p> {
    fn new(pattern: &'p Pattern, base: u64) -> Self {
        match &pattern.kind {
            Kind::Exact(finder) => Scanner::Exact {
                finder,
                next_start: base,
            },
            Kind::Regex(re) => Scanner::Regex(Box::new(RegexScanner {
                re,
                locations: re.regex.capture_locations(),
                dfa: re.scan.as_ref().map(|inc| DfaScan {
                    inc,
                    cache: None,
                    state: None,
                    scanned: base,
                }),
            })),
            Kind::NBytes(n) => Scanner::NBytes(*n),
            Kind::Eof | Kind::Timeout | Kind::Signal(_) => Scanner::Never,
        }
    }

    /// Forgets what was scanned: the next match may start at absolute position `base` (the
    /// buffer's start after a match was taken out of it).
    fn restart(&mut self, base: u64) {
        match self {
            Scanner::Exact { next_start, .. } => *next_start = base,
            Scanner::Regex(scanner) => {
                if let Some(dfa) = &mut scanner.dfa {
                    dfa.state = None;
                    dfa.scanned = base;
                }
            }
            Scanner::NBytes(_) | Scanner::Never => {}
        }
    }

    /// The leftmost match in `hay` (the unmatched buffer, whose first byte is at absolute
    /// position `base`), looking only at bytes not examined by earlier calls.
    fn find(&mut self, hay: &[u8], base: u64) -> Option<Found> {
        match self {
            Scanner::Exact { finder, next_start } => {
                let from = next_start.saturating_sub(base) as usize;
                let found = finder.find(&hay[from.min(hay.len())..]).map(|at| from + at);
                let needle = finder.needle().len();
                match found {
                    Some(start) => Some(Found {
                        range: start..start + needle,
                        groups: None,
                    }),
                    None => {
                        // A match may still start in the last `needle - 1` bytes.
                        let keep = needle.saturating_sub(1).min(hay.len());
                        *next_start = base + (hay.len() - keep) as u64;
                        None
                    }
                }
            }
            Scanner::Regex(scanner) => scanner.find(hay, base),
            Scanner::NBytes(n) if hay.len() >= *n => Some(Found {
                range: 0..*n,
                groups: None,
            }),
            Scanner::NBytes(_) | Scanner::Never => None,
        }
    }
}

impl RegexScanner<'_> {
    fn find(&mut self, hay: &[u8], base: u64) -> Option<Found> {
        if let Some(scan) = &mut self.dfa {
            match scan.match_has_ended(hay, base) {
                Ok(false) => return None,
                Ok(true) => {}
                // The lazy DFA gave up: from now on, re-run the regex after each read.
                Err(()) => self.dfa = None,
            }
        }
        let m = self.re.regex.captures_read(&mut self.locations, hay)?;
        let ranges = (0..self.locations.len())
            .map(|i| self.locations.get(i).map(|(s, e)| s..e))
            .collect();
        Some(Found {
            range: m.range(),
            groups: Some(Groups {
                ranges,
                names: self.re.names.clone(),
            }),
        })
    }
}

impl DfaScan<'_> {
    /// Feeds the bytes not yet seen to the DFA. `Ok(true)` once some match has ended in
    /// `hay` (its start is not known yet), `Err` if the lazy DFA gave up.
    fn match_has_ended(&mut self, hay: &[u8], base: u64) -> Result<bool, ()> {
        let inc = self.inc;
        let dfa = &inc.dfa;
        let start_state = |cache: &mut Cache, at: usize| {
            dfa.start_state_forward(cache, &Input::new(hay).range(at..))
                .map_err(|_| ())
        };
        let mut at = match self.scanned.checked_sub(base) {
            Some(at) => at as usize,
            None => {
                // Bytes never scanned were dropped from a full buffer: start over.
                self.state = None;
                0
            }
        };
        if self.state.is_none() && at >= hay.len() && !inc.matches_empty {
            // Nothing to scan, and no match in no bytes: no cache needed yet. A wait over
            // many sessions takes a cache only for those with output to scan.
            return Ok(false);
        }
        let cache = self.cache.get_or_insert_with(|| inc.take_cache());
        let mut sid = match self.state {
            Some(sid) => sid,
            None => start_state(cache, at)?,
        };
        while at < hay.len() {
            if sid.is_tagged() {
                if sid.is_match() {
                    break;
                }
                if sid.is_dead() {
                    at = hay.len();
                    break;
                }
                if sid.is_quit() {
                    return Err(());
                }
                if sid.is_start() {
                    if let Some(pre) = &self.inc.prefilter {
                        // Jump to the next place a match could start. Without a candidate, a
                        // literal may still begin in the last `max_needle_len - 1` bytes.
                        let target = match pre.find(hay, Span::from(at..hay.len())) {
                            Some(span) => span.start,
                            None => hay
                                .len()
                                .saturating_sub(pre.max_needle_len().saturating_sub(1))
                                .max(at),
                        };
                        if target > at {
                            at = target;
                            if !self.inc.universal_start {
                                sid = start_state(cache, at)?;
                            }
                            if at >= hay.len() {
                                break;
                            }
                        }
                    }
                }
            }
            sid = dfa.next_state(cache, sid, hay[at]).map_err(|_| ())?;
            at += 1;
        }
        self.state = Some(sid);
        self.scanned = base + at as u64;
        if sid.is_match() {
            return Ok(true);
        }
        if sid.is_quit() {
            return Err(());
        }
        // Matches show one byte late; ask whether the data so far, if it ended here, matches
        // (this is what `$` and `\b` at the end of the buffer need).
        let eoi = dfa.next_eoi_state(cache, sid).map_err(|_| ())?;
        Ok(eoi.is_match())
    }
}

impl Drop for DfaScan<'_> {
    fn drop(&mut self) {
        if let Some(cache) = self.cache.take() {
            self.inc.return_cache(cache);
        }
    }
}

/// The property test of the matcher core, shared by its two drivers (`expect` here, the
/// interact hooks in `interact/hooks.rs`): random text in random chunks, checked after every
/// chunk against `Regex::find` on all the text so far, with the earliest-match rule across
/// two patterns.
#[cfg(test)]
pub(crate) mod property {
    use crate::engine::matched::Match;
    use crate::engine::pattern::{Kind, Pattern};

    /// A tiny deterministic generator (xorshift64*), so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const REGEXES: &[&str] = &[
        "abc",
        "a+b",
        "ab|ba|cab",
        r"\d{3}",
        "(?m)^ab$",
        "b$",
        r"\bab\b",
        "a.*c",
        "é+",
        "(?i)ABC",
        r"x?\r\n",
        "(?s)c.a",
        "[^ab]{2}",
        "^a",
    ];
    /// Globs run as regexes: the same checks apply to their translation.
    const GLOBS: &[&str] = &["a*c", "?b", "[ab]c*", "^a?", "*1", "b$"];
    const ALPHABET: &[&[u8]] = &[
        b"a",
        b"b",
        b"c",
        b" ",
        b"\n",
        b"\r",
        b"1",
        b"2",
        b"x",
        "é".as_bytes(),
        b"\xff",
        b"A",
    ];

    fn reference(pattern: &Pattern) -> regex::bytes::Regex {
        match &pattern.kind {
            Kind::Regex(re) => re.regex.clone(),
            Kind::Exact(f) => {
                regex::bytes::Regex::new(&regex::escape(std::str::from_utf8(f.needle()).unwrap()))
                    .unwrap()
            }
            _ => unreachable!(),
        }
    }

    /// A driver of the matcher core, started on a pattern list: fed one chunk of output at
    /// a time, it says what match (if any) the output so far completes.
    pub(crate) type Feed<'p> = Box<dyn FnMut(&[u8]) -> Option<Match> + 'p>;

    /// Starts a driver with `start` on random inputs in random chunkings and checks, after
    /// every chunk up to the first match, that it reports what `Regex::find` says of the
    /// text so far. Each regex is tried alone and together with an exact pattern listed
    /// after it, which wins only when it starts strictly earlier.
    pub(crate) fn check_driver(start: impl for<'p> Fn(&'p [Pattern]) -> Feed<'p>) {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut lists: Vec<Vec<Pattern>> = Vec::new();
        let regexes = REGEXES.iter().map(|source| Pattern::regex(source).unwrap());
        let globs = GLOBS.iter().map(|glob| Pattern::glob(glob).unwrap());
        for (source, regex) in REGEXES.iter().chain(GLOBS).zip(regexes.chain(globs)) {
            let Kind::Regex(re) = &regex.kind else {
                unreachable!()
            };
            assert!(re.scan.is_some(), "{source} should scan incrementally");
            lists.push(vec![regex.clone()]);
            lists.push(vec![regex, Pattern::exact("b1")]);
        }
        lists.push(vec![Pattern::exact("abab")]);
        for patterns in &lists {
            let references: Vec<_> = patterns.iter().map(reference).collect();
            for _ in 0..150 {
                let mut text = Vec::new();
                for _ in 0..rng.below(60) {
                    text.extend_from_slice(ALPHABET[rng.below(ALPHABET.len())]);
                }
                let mut chunks = Vec::new();
                let mut fed = 0;
                while fed < text.len() {
                    let n = 1 + rng.below(8.min(text.len() - fed));
                    chunks.push(&text[fed..fed + n]);
                    fed += n;
                }
                let mut feed = start(patterns);
                let mut fed = 0;
                for chunk in chunks {
                    fed += chunk.len();
                    let got = feed(chunk).map(|m| {
                        let start = m.before().len();
                        (m.index(), start..start + m.matched().len())
                    });
                    let want = references
                        .iter()
                        .enumerate()
                        .filter_map(|(i, re)| Some((i, re.find(&text[..fed])?.range())))
                        .min_by_key(|(i, range)| (range.start, *i));
                    assert_eq!(
                        got,
                        want,
                        "[{}] on \"{}\" after {fed} bytes",
                        patterns
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        crate::escape(&text[..fed])
                    );
                    if want.is_some() {
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `expect` driver: a session buffer (some output already consumed before the call,
    /// so the scan starts at a nonzero position) and `take_match` after each read.
    #[test]
    fn expect_driver_agrees_with_regex_on_every_prefix() {
        property::check_driver(|patterns| {
            let mut buffer = Buffer::new(0);
            buffer.extend(b"zzz");
            buffer.consume(3);
            let mut set = MatchSet::new(patterns, buffer.base());
            Box::new(move |chunk| {
                buffer.extend(chunk);
                set.take_match(&mut buffer)
            })
        });
    }

    #[test]
    fn list_order_takes_the_first_pattern_that_matches_anywhere() {
        let patterns = [Pattern::exact("two"), Pattern::exact("one")];
        let take = |order| {
            let mut buffer = Buffer::new(0);
            buffer.extend(b"one two");
            let mut set = MatchSet::new(&patterns, buffer.base()).with_order(order);
            let m = set.take_match(&mut buffer).unwrap();
            (m.index(), m.before().to_vec())
        };
        assert_eq!(take(MatchOrder::Earliest), (1, b"".to_vec()));
        assert_eq!(take(MatchOrder::ListOrder), (0, b"one ".to_vec()));
    }

    #[test]
    fn a_kept_match_leaves_the_buffer_and_the_set_moves_past_it() {
        let patterns = [Pattern::exact("ab").keep()];
        let mut buffer = Buffer::new(0);
        buffer.extend(b"xabyab");
        let mut set = MatchSet::new(&patterns, buffer.base());
        let m = set.take_match(&mut buffer).unwrap();
        assert_eq!((m.before(), m.matched()), (&b"x"[..], &b"ab"[..]));
        assert_eq!(buffer.as_slice(), b"xabyab");
        let m = set.take_match(&mut buffer).unwrap();
        assert_eq!(m.before(), b"xaby", "the second one, not the first again");
        // A stream watch (interact's hooks) takes every match, kept or not.
        let mut set = MatchSet::new(&patterns, buffer.base()).consuming();
        set.take_match(&mut buffer).unwrap();
        assert_eq!(buffer.as_slice(), b"yab");
    }

    /// A regex scanner takes its lazy-DFA cache only once it has bytes to scan, unless the
    /// regex matches no bytes at all: those still match an empty buffer at once.
    #[test]
    fn an_empty_buffer_matches_exactly_the_regexes_that_match_no_bytes() {
        for (regex, empty) in [
            ("x*", true),
            ("$", true),
            ("^", true),
            ("a|", true),
            ("ping-(\\d+)", false),
            ("\\b", false),
            ("(?m)^x", false),
        ] {
            let patterns = [Pattern::regex(regex).unwrap()];
            let mut buffer = Buffer::new(0);
            let mut set = MatchSet::new(&patterns, buffer.base());
            assert_eq!(set.take_match(&mut buffer).is_some(), empty, "{regex}");
            if !empty {
                buffer.extend(b"x ping-12");
                assert!(set.take_match(&mut buffer).is_some(), "{regex}");
            }
        }
    }
}
