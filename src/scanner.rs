//! Incremental matching: the per-`expect`-call state of each pattern.
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

use regex::bytes::CaptureLocations;
use regex_automata::hybrid::LazyStateID;
use regex_automata::hybrid::dfa::Cache;
use regex_automata::{Input, Span};

use crate::pattern::{CompiledRegex, IncrementalDfa, Kind, Pattern};

/// Where a pattern matched in the buffer (positions relative to the unmatched buffer).
pub(crate) struct Found {
    pub(crate) range: Range<usize>,
    /// Capture groups (group 0 included) for regexes.
    pub(crate) groups: Option<(Vec<Option<Range<usize>>>, Vec<Option<String>>)>,
}

pub(crate) enum Scanner<'p> {
    Exact {
        finder: &'p memchr::memmem::Finder<'static>,
        /// Absolute position up to which no match can start.
        next_start: u64,
    },
    Regex(RegexScanner<'p>),
    Eof,
    NBytes(usize),
    Timeout,
}

pub(crate) struct RegexScanner<'p> {
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
    pub(crate) fn new(pattern: &'p Pattern, base: u64) -> Self {
        match &pattern.kind {
            Kind::Exact(finder) => Scanner::Exact {
                finder,
                next_start: base,
            },
            Kind::Regex(re) => Scanner::Regex(RegexScanner {
                re,
                locations: re.regex.capture_locations(),
                dfa: re.scan.as_ref().map(|inc| DfaScan {
                    inc,
                    cache: Some(inc.take_cache()),
                    state: None,
                    scanned: base,
                }),
            }),
            Kind::Eof => Scanner::Eof,
            Kind::NBytes(n) => Scanner::NBytes(*n),
            Kind::Timeout => Scanner::Timeout,
        }
    }

    /// The leftmost match in `hay` (the unmatched buffer, whose first byte is at absolute
    /// position `base`), looking only at bytes not examined by earlier calls.
    pub(crate) fn find(&mut self, hay: &[u8], base: u64) -> Option<Found> {
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
            Scanner::NBytes(_) | Scanner::Eof | Scanner::Timeout => None,
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
        let groups = (0..self.locations.len())
            .map(|i| self.locations.get(i).map(|(s, e)| s..e))
            .collect();
        let names = self
            .re
            .regex
            .capture_names()
            .map(|n| n.map(str::to_owned))
            .collect();
        Some(Found {
            range: m.range(),
            groups: Some((groups, names)),
        })
    }
}

impl DfaScan<'_> {
    /// Feeds the bytes not yet seen to the DFA. `Ok(true)` once some match has ended in
    /// `hay` (its start is not known yet), `Err` if the lazy DFA gave up.
    fn match_has_ended(&mut self, hay: &[u8], base: u64) -> Result<bool, ()> {
        let dfa = &self.inc.dfa;
        let cache = self.cache.as_mut().ok_or(())?;
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
