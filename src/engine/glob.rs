//! Glob patterns with Tcl's `string match` rules, as Expect uses them (its default pattern
//! type): translated into a regex, so they run in the same incremental matcher.
//!
//! | glob | matches |
//! |---|---|
//! | `*` | any run of characters, newlines included, possibly empty |
//! | `?` | any one character |
//! | `[abc]`, `[a-z]` | one character of the set (a reversed range `[z-a]` is the same range) |
//! | `\x` | the character `x` itself (so `\*` is an asterisk) |
//! | `^` first, `$` last | the start, or the end, of the output buffered so far |
//!
//! As in Expect, a glob is unanchored: it matches anywhere in the output unless it starts
//! with `^` or ends with `$`; a leading or trailing `*` makes the match take in everything
//! buffered before or after the text, as Expect's `expect_out(0,string)` does.

/// The regex, in the `regex` crate's syntax, that matches what `glob` matches.
pub(crate) fn to_regex(glob: &str) -> Result<String, String> {
    let mut regex = String::with_capacity(glob.len() * 2);
    let mut chars = glob.chars().peekable();
    if chars.peek() == Some(&'^') {
        chars.next();
        regex.push('^');
    }
    while let Some(c) = chars.next() {
        match c {
            '*' => regex.push_str("(?s:.*)"),
            '?' => regex.push_str("(?s:.)"),
            '[' => class(&mut chars, &mut regex, glob)?,
            // A trailing backslash stands for itself, as in Tcl.
            '\\' => push_literal(&mut regex, chars.next().unwrap_or('\\')),
            '$' if chars.peek().is_none() => regex.push('$'),
            c => push_literal(&mut regex, c),
        }
    }
    Ok(regex)
}

/// Translates a `[...]` set (the `[` already read) into a regex class.
fn class(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    regex: &mut String,
    glob: &str,
) -> Result<(), String> {
    let mut members = String::new();
    loop {
        let first = match chars.next() {
            None => {
                return Err(format!(
                    "the glob \"{glob}\" has a `[` without its `]` (write `\\[` for a bracket)"
                ));
            }
            Some(']') => break,
            Some('\\') => chars.next().unwrap_or('\\'),
            Some(c) => c,
        };
        let mut ahead = chars.clone();
        let range_end = match (ahead.next(), ahead.next()) {
            (Some('-'), Some(end)) if end != ']' => Some(end),
            _ => None,
        };
        match range_end {
            Some(mut last) => {
                chars.next();
                chars.next();
                if last == '\\' {
                    last = chars.next().unwrap_or('\\');
                }
                let (low, high) = if first <= last {
                    (first, last)
                } else {
                    (last, first)
                };
                push_class_member(&mut members, low);
                members.push('-');
                push_class_member(&mut members, high);
            }
            None => push_class_member(&mut members, first),
        }
    }
    if members.is_empty() {
        // `[]` is an empty set: it never matches, as in Tcl.
        regex.push_str("[^\\s\\S]");
    } else {
        regex.push('[');
        regex.push_str(&members);
        regex.push(']');
    }
    Ok(())
}

fn push_literal(regex: &mut String, c: char) {
    let mut buf = [0u8; 4];
    regex.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

fn push_class_member(members: &mut String, c: char) {
    if matches!(c, '\\' | ']' | '[' | '^' | '-' | '&' | '~') {
        members.push('\\');
    }
    members.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the glob matches in `text` (as the session would find it), or `None`.
    fn find<'t>(glob: &str, text: &'t str) -> Option<&'t str> {
        let regex = regex::Regex::new(&to_regex(glob).unwrap()).unwrap();
        regex.find(text).map(|m| m.as_str())
    }

    #[test]
    fn stars_and_question_marks_follow_tcl() {
        assert_eq!(find("*assword*", "Password: "), Some("Password: "));
        assert_eq!(find("assword:", "Password: "), Some("assword:"));
        assert_eq!(find("a?c", "xxabcxx"), Some("abc"));
        assert_eq!(find("a?c", "a\nc"), Some("a\nc"));
        assert_eq!(find("a*c", "a\n\nc"), Some("a\n\nc"));
        assert_eq!(find("a?c", "ac"), None);
    }

    #[test]
    fn sets_ranges_and_escapes() {
        assert_eq!(find("[Pp]assword", "password"), Some("password"));
        assert_eq!(find("[0-9][0-9]", "a42"), Some("42"));
        assert_eq!(find("[9-0]", "5"), Some("5"));
        assert_eq!(find("[^]", "^"), Some("^"));
        assert_eq!(find("[a\\]]", "]"), Some("]"));
        assert_eq!(find("[]", "anything"), None);
        assert_eq!(find("\\*", "a*b"), Some("*"));
        assert_eq!(find("\\[x\\]", "[x]"), Some("[x]"));
        assert_eq!(find("a.b+(c)", "a.b+(c)"), Some("a.b+(c)"));
        assert_eq!(find("a.b", "axb"), None);
        assert_eq!(find("tail\\", "tail\\"), Some("tail\\"));
    }

    #[test]
    fn caret_first_and_dollar_last_anchor() {
        assert_eq!(find("^ab", "abab"), Some("ab"));
        assert_eq!(find("^b", "ab"), None);
        assert_eq!(find("b$", "abab"), Some("b"));
        assert_eq!(find("a$", "abab"), None);
        assert_eq!(find("a^b$c", "a^b$c"), Some("a^b$c"));
    }

    #[test]
    fn an_unclosed_set_is_an_error() {
        let err = to_regex("[abc").unwrap_err();
        assert!(err.contains("`[` without its `]`"), "{err}");
    }
}
