//! What an `expect` call waits for.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex};

use memchr::memmem;
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::util::prefilter::Prefilter;
use regex_automata::util::syntax;

use crate::engine::escape_skipping;
use crate::error::Result;
use crate::escape::escape;

/// One thing to wait for in a program's output.
///
/// Build patterns with the constructors, or let `&str`, `String`, `&[u8]` and
/// [`regex::bytes::Regex`] convert into one. A pattern is cheap to clone (compiled state is
/// shared) and can be reused across `expect` calls.
///
/// ```
/// use ptychat::Pattern;
/// let prompt = Pattern::regex(r"(?m)^\$ $")?;   // a regex, compiled now
/// let greeting = Pattern::exact("hello");         // exact text, also `"hello".into()`
/// let done = Pattern::eof();                      // the program closed its output
/// assert_eq!(greeting.to_string(), r#""hello""#);
/// assert!(Pattern::regex("(unclosed").is_err());  // an invalid regex is an error, not a panic
/// # Ok::<(), ptychat::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Pattern {
    pub(crate) kind: Kind,
    /// A match leaves the buffer as it was ([`Pattern::keep`]).
    pub(crate) keep: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Exact(Arc<memmem::Finder<'static>>),
    Regex(Arc<CompiledRegex>),
    Eof,
    NBytes(usize),
    Timeout,
    Signal(nix::sys::signal::Signal),
}

impl Pattern {
    /// Matches these exact bytes (or text) wherever they appear.
    ///
    /// An empty needle matches immediately with empty `matched`.
    pub fn exact(needle: impl AsRef<[u8]>) -> Self {
        let finder = memmem::Finder::new(needle.as_ref()).into_owned();
        Pattern {
            kind: Kind::Exact(Arc::new(finder)),
            keep: false,
        }
    }

    /// Matches a regular expression (syntax of the [`regex`] crate, bytes flavour: `.` and
    /// classes match UTF-8 characters, `(?-u:\xFF)` matches a raw byte). Flags go inline,
    /// e.g. `(?i)` for case-insensitive or `(?m)` so `^`/`$` match at line boundaries.
    ///
    /// The regex is applied to everything buffered when it is checked: `$` without `(?m)`
    /// matches at the end of the data received so far, and a greedy `\d+` takes the digits
    /// that have arrived. Captures are available from the [`Match`](crate::Match).
    ///
    /// **`.` and newlines.** As everywhere in Rust's `regex`, `.` does not match `\n`;
    /// in pexpect and Tcl Expect's `-re` it does, so a ported `BEGIN(.*)END` must be
    /// written `(?s)BEGIN(.*)END`. We keep Rust's rule because the common `(.*)\r\n`
    /// ("the rest of this line") would otherwise run greedily across every line that has
    /// arrived, and because the syntax is the `regex` crate's, documented there. When a
    /// call fails with a timeout or end of output and a regex would have matched with
    /// `(?s)`, the error's hint says so.
    pub fn regex(pattern: &str) -> Result<Self> {
        let regex = regex::bytes::Regex::new(pattern)?;
        let scan = IncrementalDfa::build(pattern);
        Ok(Pattern {
            kind: Kind::Regex(Arc::new(CompiledRegex::new(regex, scan))),
            keep: false,
        })
    }

    /// Matches a glob pattern, Tcl Expect's default pattern type, with Tcl's `string
    /// match` rules: `*` any run of characters (newlines included), `?` any one character,
    /// `[a-z]` one of a set, `\x` the character `x`. As in Expect it is unanchored (it
    /// matches anywhere in the output) unless it starts with `^` or ends with `$`, which
    /// anchor to the start and the end of the output buffered so far. It runs in the same
    /// incremental matcher as [`regex`](Pattern::regex).
    ///
    /// A leading or trailing `*` makes the match take in everything buffered before or
    /// after the text (as Expect's `expect_out(0,string)`), so `*assword*` and
    /// `assword` find the same place; [`Match::before`](crate::Match::before) is empty
    /// after a leading `*`.
    ///
    /// ```
    /// use ptychat::{Command, Pattern};
    /// let mut s = Command::new("echo").arg("Password for ann: ").spawn()?;
    /// let m = s.expect(Pattern::glob("for ?nn:")?)?;
    /// assert_eq!(m.matched(), b"for ann:");
    /// assert_eq!(Pattern::glob("[Pp]assword*")?.to_string(), r#"glob "[Pp]assword*""#);
    /// assert!(Pattern::glob("[unclosed").is_err());
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn glob(glob: &str) -> Result<Self> {
        let source = super::glob::to_regex(glob).map_err(crate::Error::InvalidArgument)?;
        let regex = regex::bytes::Regex::new(&source)?;
        let scan = IncrementalDfa::build(&source);
        let mut compiled = CompiledRegex::new(regex, scan);
        compiled.glob = Some(glob.to_owned());
        compiled.shown = Some(format!("glob \"{}\"", escape(glob.as_bytes())));
        Ok(Pattern {
            kind: Kind::Regex(Arc::new(compiled)),
            keep: false,
        })
    }

    /// This pattern in text mode: it matches as if terminal escape sequences (colours,
    /// cursor moves, titles, ...) had been removed from the output, so `"No"` matches
    /// however a program puts sequences between `N` and `o`. Other patterns of the same
    /// call still see the raw bytes, and [`before`](crate::Match::before),
    /// [`matched`](crate::Match::matched) and captures are the raw bytes, sequences
    /// included; a match and each capture start at their first character, not at the
    /// sequences before it (unless the pattern may begin with nothing, like `x*%`, or starts
    /// with `^`). For every
    /// pattern of a session at once, see
    /// [`Session::set_strip_escapes`](crate::Session::set_strip_escapes).
    ///
    /// Exact text, regexes and globs are rewritten into a regex that allows a run of
    /// complete escape sequences between any two characters, so they keep the incremental
    /// matcher's O(new bytes) scanning. [`eof`](Pattern::eof), [`nbytes`](Pattern::nbytes),
    /// [`timeout`](Pattern::timeout) and [`signal`](Pattern::signal) patterns are returned
    /// unchanged. (Neither Tcl Expect nor pexpect has this; their users write the sequences
    /// into their regexes.) Sequences are also skipped after `^` and before `$`; a word
    /// boundary (`\b`) still sees the raw bytes next to it, so for those (and for output
    /// with cursor moves) strip the whole output with `set_strip_escapes` or use the
    /// screen. A regex made by `RegexBuilder` (`Pattern::from(regex)`) is refused: its
    /// options cannot be read back to rewrite it.
    ///
    /// ```
    /// use ptychat::{Command, Pattern};
    /// let mut s = Command::new("printf").arg(r"\033[1mN\033[0mo way\n").spawn()?;
    /// let m = s.expect(Pattern::exact("No way").strip_escapes()?)?;
    /// assert_eq!(m.matched(), b"N\x1b[0mo way");
    /// assert_eq!(m.before(), b"\x1b[1m");
    /// let idle = Pattern::regex(r"(\d+)% idle")?.strip_escapes()?;
    /// assert_eq!(idle.to_string(), r"/(\d+)% idle/ (escapes stripped)");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn strip_escapes(self) -> Result<Self> {
        let (source, shown) = match &self.kind {
            Kind::Exact(finder) => (
                escape_skipping::skip_escapes_in_literal(finder.needle()),
                self.to_string(),
            ),
            Kind::Regex(re) if !re.source_known => {
                return Err(crate::Error::InvalidArgument(format!(
                    "strip_escapes needs a regex made by Pattern::regex (or a glob): the \
                     options of a RegexBuilder regex cannot be read back; write them inline, \
                     like (?i), in {self}"
                )));
            }
            Kind::Regex(re) => (
                escape_skipping::skip_escapes(re.regex.as_str()),
                self.to_string(),
            ),
            Kind::Eof | Kind::NBytes(_) | Kind::Timeout | Kind::Signal(_) => return Ok(self),
        };
        let source = source?;
        let regex = regex::bytes::Regex::new(&source)?;
        let scan = IncrementalDfa::build(&source);
        let mut compiled = CompiledRegex::new(regex, scan);
        if let Kind::Regex(re) = &self.kind {
            compiled.glob.clone_from(&re.glob);
        }
        compiled.shown = Some(format!("{shown} (escapes stripped)"));
        Ok(Pattern {
            kind: Kind::Regex(Arc::new(compiled)),
            keep: self.keep,
        })
    }

    /// The same pattern, whose match leaves the output where it is: `before` and
    /// `matched` are copies, the buffer keeps them, and the next `expect` sees the same
    /// output again (Tcl Expect's `expect -notransfer`). For a peek at what came, or to
    /// hand the same output to a second `expect`.
    ///
    /// ```
    /// use ptychat::{Command, Pattern};
    /// let mut s = Command::new("echo").arg("user: ann").spawn()?;
    /// let m = s.expect(Pattern::exact("user: ").keep())?;
    /// assert_eq!(m.matched(), b"user: ");
    /// let name = s.expect(Pattern::regex(r"user: (\w+)")?)?;  // the same output, again
    /// assert_eq!(name.group(1), Some(&b"ann"[..]));
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn keep(mut self) -> Self {
        self.keep = true;
        self
    }

    /// Matches when the program has closed its output (for a pty: all its processes closed
    /// the terminal, usually by exiting). `before` is everything that was still unmatched.
    pub fn eof() -> Self {
        Pattern {
            kind: Kind::Eof,
            keep: false,
        }
    }

    /// Matches as soon as `n` bytes are buffered, whatever they are; `matched` is those `n`
    /// bytes. `Pattern::nbytes(0)` matches immediately.
    pub fn nbytes(n: usize) -> Self {
        Pattern {
            kind: Kind::NBytes(n),
            keep: false,
        }
    }

    /// Matches when the deadline passes, so `expect` returns a [`Match`](crate::Match)
    /// instead of failing with [`Error::Timeout`](crate::Error::Timeout). Nothing is consumed:
    /// `before` is a copy of the unmatched buffer, which stays buffered.
    pub fn timeout() -> Self {
        Pattern {
            kind: Kind::Timeout,
            keep: false,
        }
    }

    /// The names of the groups a match of this pattern has, indexed by group number:
    /// `None` for group 0 (the whole match) and for unnamed groups. A regex has one entry
    /// per group (the ones [`Match::group`](crate::Match::group) can return); any other
    /// pattern has only group 0, so one `None`.
    ///
    /// ```
    /// use ptychat::Pattern;
    /// let pattern = Pattern::regex(r"(?<key>\w+)=(\d+)")?;
    /// let names: Vec<Option<&str>> = pattern.capture_names().collect();
    /// assert_eq!(names, [None, Some("key"), None]);
    /// assert_eq!(Pattern::exact("hello").capture_names().collect::<Vec<_>>(), [None]);
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn capture_names(&self) -> impl Iterator<Item = Option<&str>> {
        const GROUP_0: &[Option<String>] = &[None];
        let names: &[Option<String>] = match &self.kind {
            Kind::Regex(re) => &re.names,
            _ => GROUP_0,
        };
        names.iter().map(Option::as_deref)
    }
}

impl Pattern {
    /// Matches when `signal` arrives through the session's watched
    /// [`SignalPipe`](crate::SignalPipe) (see
    /// [`Session::watch_signals`](crate::Session::watch_signals)). Nothing is consumed:
    /// `before` is a copy of the unmatched buffer.
    pub fn signal(signal: nix::sys::signal::Signal) -> Self {
        Pattern {
            kind: Kind::Signal(signal),
            keep: false,
        }
    }
}

impl From<&str> for Pattern {
    fn from(text: &str) -> Self {
        Pattern::exact(text)
    }
}

impl From<&String> for Pattern {
    fn from(text: &String) -> Self {
        Pattern::exact(text)
    }
}

impl From<String> for Pattern {
    fn from(text: String) -> Self {
        Pattern::exact(text)
    }
}

impl From<&[u8]> for Pattern {
    fn from(bytes: &[u8]) -> Self {
        Pattern::exact(bytes)
    }
}

impl<const N: usize> From<&[u8; N]> for Pattern {
    fn from(bytes: &[u8; N]) -> Self {
        Pattern::exact(bytes)
    }
}

impl From<regex::bytes::Regex> for Pattern {
    /// Uses a regex as it was built, options of a `RegexBuilder` included. Such a regex
    /// is matched by re-running it over the unmatched buffer after each read, because its
    /// options cannot be read back to build the incremental scanner: for long outputs,
    /// prefer [`Pattern::regex`] with inline flags such as `(?i)`.
    fn from(regex: regex::bytes::Regex) -> Self {
        let mut compiled = CompiledRegex::new(regex, None);
        compiled.source_known = false;
        Pattern {
            kind: Kind::Regex(Arc::new(compiled)),
            keep: false,
        }
    }
}

impl From<&regex::bytes::Regex> for Pattern {
    fn from(regex: &regex::bytes::Regex) -> Self {
        Pattern::from(regex.clone())
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Exact(finder) => write!(f, "\"{}\"", escape(finder.needle())),
            Kind::Regex(re) => match &re.shown {
                Some(shown) => f.write_str(shown),
                None => write!(f, "/{}/", re.regex.as_str()),
            },
            Kind::Eof => f.write_str("EOF"),
            Kind::NBytes(1) => f.write_str("1 byte"),
            Kind::NBytes(n) => write!(f, "{n} bytes"),
            Kind::Timeout => f.write_str("TIMEOUT"),
            Kind::Signal(signal) => write!(f, "signal {signal}"),
        }
    }
}

/// The patterns given to one `expect` call: one pattern, or a list of them.
///
/// Anything that converts into a [`Pattern`] converts into `Patterns`, and so do arrays
/// and vectors of such things, and slices of patterns or of strings (a string is an
/// exact pattern):
///
/// ```
/// use ptychat::{Command, Pattern};
/// let mut s = Command::new("echo").arg("b then a").spawn()?;
/// assert_eq!(s.expect(["a", "b"])?.index(), 1);
/// let words = vec!["then".to_owned()];
/// s.expect(&words)?;
/// s.expect(vec![Pattern::exact("a"), Pattern::eof()])?;
/// # Ok::<(), ptychat::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Patterns<'a>(pub(crate) Cow<'a, [Pattern]>);

impl<P: Into<Pattern>> From<P> for Patterns<'_> {
    fn from(pattern: P) -> Self {
        Patterns(Cow::Owned(vec![pattern.into()]))
    }
}

impl<'a> From<&'a [Pattern]> for Patterns<'a> {
    fn from(patterns: &'a [Pattern]) -> Self {
        Patterns(Cow::Borrowed(patterns))
    }
}

impl<'a> From<&'a Vec<Pattern>> for Patterns<'a> {
    fn from(patterns: &'a Vec<Pattern>) -> Self {
        Patterns(Cow::Borrowed(patterns))
    }
}

impl<'a, const N: usize> From<&'a [Pattern; N]> for Patterns<'a> {
    fn from(patterns: &'a [Pattern; N]) -> Self {
        Patterns(Cow::Borrowed(patterns))
    }
}

impl<'a> From<&'a Pattern> for Patterns<'a> {
    fn from(pattern: &'a Pattern) -> Self {
        Patterns(Cow::Borrowed(std::slice::from_ref(pattern)))
    }
}

impl<P: Into<Pattern>> From<Vec<P>> for Patterns<'_> {
    fn from(patterns: Vec<P>) -> Self {
        Patterns(patterns.into_iter().map(Into::into).collect())
    }
}

impl<P: Into<Pattern>, const N: usize> From<[P; N]> for Patterns<'_> {
    fn from(patterns: [P; N]) -> Self {
        Patterns(patterns.into_iter().map(Into::into).collect())
    }
}

/// Slices (and references to arrays and vectors) of strings: each string an exact pattern.
macro_rules! exact_lists {
    ($($text:ty),*) => {$(
        impl From<&[$text]> for Patterns<'_> {
            fn from(texts: &[$text]) -> Self {
                Patterns(texts.iter().map(Pattern::exact).collect())
            }
        }

        impl From<&Vec<$text>> for Patterns<'_> {
            fn from(texts: &Vec<$text>) -> Self {
                Patterns::from(texts.as_slice())
            }
        }

        impl<const N: usize> From<&[$text; N]> for Patterns<'_> {
            fn from(texts: &[$text; N]) -> Self {
                Patterns::from(texts.as_slice())
            }
        }
    )*};
}

exact_lists!(&str, String, &[u8], Vec<u8>);

/// For a timeout or end-of-output error: `; hint: ...` if one of the regexes would have
/// matched `unmatched` with `.` matching a newline (as in pexpect and Tcl Expect), else
/// empty. Compiles regexes, but only when a call has already failed.
pub(crate) fn dot_newline_hint(patterns: &[Pattern], unmatched: &[u8]) -> String {
    for pattern in patterns {
        let Kind::Regex(re) = &pattern.kind else {
            continue;
        };
        let source = re.regex.as_str();
        if re.glob.is_some() || !source.contains('.') {
            continue;
        }
        let dot_all = regex::bytes::Regex::new(&format!("(?s:{source})"));
        if dot_all.is_ok_and(|r| r.is_match(unmatched)) {
            return format!(
                "; hint: /{source}/ would match with (?s): in Rust's regex `.` does not \
                 match a newline (in pexpect's and Tcl's it does); write /(?s){source}/"
            );
        }
    }
    String::new()
}

/// Describes a list of patterns for error messages.
pub(crate) fn describe(patterns: &[Pattern]) -> String {
    match patterns {
        [one] => one.to_string(),
        many => {
            let list: Vec<String> = many.iter().map(Pattern::to_string).collect();
            format!("one of [{}]", list.join(", "))
        }
    }
}

/// A regex plus the lazy DFA that lets a session scan only newly arrived bytes.
#[derive(Debug)]
pub(crate) struct CompiledRegex {
    pub(crate) regex: regex::bytes::Regex,
    /// Capture group names by index, shared by every match.
    pub(crate) names: Arc<[Option<String>]>,
    pub(crate) scan: Option<IncrementalDfa>,
    /// The glob this regex was translated from, if it was (for messages and hints).
    pub(crate) glob: Option<String>,
    /// How to show the pattern in messages when it is not the regex itself (a glob, or a
    /// pattern rewritten by [`Pattern::strip_escapes`]).
    pub(crate) shown: Option<String>,
    /// Whether `regex.as_str()` with no options rebuilds this regex (false for a regex a
    /// `RegexBuilder` made).
    pub(crate) source_known: bool,
}

#[derive(Debug)]
pub(crate) struct IncrementalDfa {
    pub(crate) dfa: DFA,
    pub(crate) prefilter: Option<Prefilter>,
    /// True when the start state does not depend on the byte before the scan position, so
    /// a prefilter skip needs no new start state.
    pub(crate) universal_start: bool,
    /// Whether the pattern matches empty output (then even a scan of no bytes needs a
    /// cache).
    pub(crate) matches_empty: bool,
    caches: Mutex<Vec<Cache>>,
}

impl CompiledRegex {
    fn new(regex: regex::bytes::Regex, scan: Option<IncrementalDfa>) -> Self {
        let names = regex
            .capture_names()
            .map(|n| n.map(str::to_owned))
            .collect();
        CompiledRegex {
            regex,
            names,
            scan,
            glob: None,
            shown: None,
            source_known: true,
        }
    }
}

impl IncrementalDfa {
    /// `None` when the pattern cannot be scanned incrementally; the session then re-runs
    /// the regex over the buffer instead.
    fn build(pattern: &str) -> Option<Self> {
        // The same syntax as `regex::bytes::Regex`: Unicode on, but matches may split UTF-8.
        let syntax = syntax::Config::new().utf8(false);
        let hir = regex_syntax::ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(pattern)
            .ok()?;
        let prefilter = Prefilter::from_hir_prefix(regex_automata::MatchKind::LeftmostFirst, &hir)
            .filter(Prefilter::is_fast);
        let dfa = DFA::builder()
            .syntax(syntax)
            .configure(
                DFA::config()
                    .specialize_start_states(true)
                    .unicode_word_boundary(true),
            )
            .build(pattern)
            .ok()?;
        let universal_start = dfa.get_nfa().look_set_prefix_any().is_empty();
        let mut cache = dfa.create_cache();
        let matches_empty = dfa
            .start_state_forward(&mut cache, &regex_automata::Input::new(b""))
            .ok()
            .and_then(|sid| dfa.next_eoi_state(&mut cache, sid).ok())
            .is_none_or(|eoi| eoi.is_match());
        Some(IncrementalDfa {
            dfa,
            prefilter,
            universal_start,
            matches_empty,
            caches: Mutex::new(vec![cache]),
        })
    }

    pub(crate) fn take_cache(&self) -> Cache {
        let pooled = self.caches.lock().ok().and_then(|mut pool| pool.pop());
        pooled.unwrap_or_else(|| self.dfa.create_cache())
    }

    pub(crate) fn return_cache(&self, cache: Cache) {
        if let Ok(mut pool) = self.caches.lock() {
            if pool.len() < 4 {
                pool.push(cache);
            }
        }
    }
}
