//! Comparing a run's output with the stored one: normalising, `[..]` and `...` wildcards,
//! and a line diff (longest common subsequence) for the failure message.

/// The output as it is stored: lossy UTF-8, `\r\n` as `\n`, other control characters
/// (but `\n` and `\t`) written as escapes (`\r`, `\e`, `\xNN`) so the file stays text.
pub(crate) fn normalise(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            c if c.is_control() && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// The wildcard that matches any text within a line.
pub(crate) const IN_LINE: &str = "[..]";
/// A line that matches any number of lines (none included).
pub(crate) const ANY_LINES: &str = "...";

/// Whether the line `actual` matches `expected`, where `[..]` in `expected` matches any
/// text (none included).
pub(crate) fn line_matches(expected: &str, actual: &str) -> bool {
    let mut pieces = expected.split(IN_LINE);
    let first = pieces.next().unwrap_or("");
    let Some(mut rest) = actual.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Whether `actual` matches the stored `expected`: line by line with [`line_matches`], a
/// line `...` matching any number of lines.
pub(crate) fn matches(expected: &str, actual: &str) -> bool {
    let expected: Vec<&str> = expected.split('\n').collect();
    let actual: Vec<&str> = actual.split('\n').collect();
    // can[j]: expected[i..] matches actual[j..], computed for i from the end.
    let mut can = vec![false; actual.len() + 1];
    can[actual.len()] = true;
    for e in expected.iter().rev() {
        let mut next = vec![false; actual.len() + 1];
        if *e == ANY_LINES {
            // Any number of lines: matches at j if the rest matches at some k >= j.
            let mut any = false;
            for j in (0..=actual.len()).rev() {
                any |= can[j];
                next[j] = any;
            }
        } else {
            for j in 0..actual.len() {
                next[j] = can[j + 1] && line_matches(e, actual[j]);
            }
        }
        can = next;
    }
    can[0]
}

/// Lines of context shown around each change.
const CONTEXT: usize = 3;
/// Above this many cells the diff does not look for the best alignment: it shows the
/// differing middle as removed, then added.
const MAX_CELLS: usize = 16_000_000;

/// A line diff of `expected` (the stored text) against `actual`: `-` for stored lines the
/// run did not print, `+` for lines it printed instead, ` ` for common lines, with a few
/// lines of context around each change and `@@ line N @@` before each hunk. Stored lines
/// with `[..]` count as common where they match.
pub(crate) fn diff(expected: &str, actual: &str) -> String {
    render(&align(expected, actual).0)
}

/// What bless mode stores for `actual` when `expected` was stored: `actual`, with the
/// stored lines kept where they match it (so their `[..]` wildcards stay).
pub(crate) fn bless(expected: &str, actual: &str) -> String {
    let (ops, newline) = align(expected, actual);
    let mut text: Vec<&str> = ops
        .iter()
        .filter(|(op, _)| *op != '-')
        .map(|(_, line)| *line)
        .collect();
    if newline {
        text.push("");
    }
    let text = text.join("\n");
    if matches(&text, actual) {
        text
    } else {
        actual.to_owned()
    }
}

/// The lines of `expected` and `actual` aligned: `(' ', stored line)` where they match,
/// `('-', stored line)`, `('+', new line)`; and whether both end with a newline (then
/// the empty text after it is left out).
fn align<'a>(expected: &'a str, actual: &'a str) -> (Vec<(char, &'a str)>, bool) {
    let mut e: Vec<&str> = expected.split('\n').collect();
    let mut a: Vec<&str> = actual.split('\n').collect();
    // Both end with a newline: no empty line after it to show.
    let newline = e.last() == Some(&"") && a.last() == Some(&"");
    if newline {
        e.pop();
        a.pop();
    }
    let same = |i: usize, j: usize| e[i] == a[j] || line_matches(e[i], a[j]);
    // Common prefix and suffix first: usually the change is small.
    let mut start = 0;
    while start < e.len() && start < a.len() && same(start, start) {
        start += 1;
    }
    let mut end = 0;
    while end < e.len() - start
        && end < a.len() - start
        && same(e.len() - 1 - end, a.len() - 1 - end)
    {
        end += 1;
    }
    let (n, m) = (e.len() - start - end, a.len() - start - end);
    let mut ops: Vec<(char, &str)> = e[..start].iter().map(|l| (' ', *l)).collect();
    if n.saturating_mul(m) <= MAX_CELLS {
        // lcs[i][j]: the longest common subsequence of the middles from i and j on.
        let w = m + 1;
        let mut lcs = vec![0u32; (n + 1) * w];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * w + j] = if same(start + i, start + j) {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && same(start + i, start + j) {
                ops.push((' ', e[start + i]));
                i += 1;
                j += 1;
            } else if j < m && (i == n || lcs[i * w + j + 1] >= lcs[(i + 1) * w + j]) {
                ops.push(('+', a[start + j]));
                j += 1;
            } else {
                ops.push(('-', e[start + i]));
                i += 1;
            }
        }
        // Removals before additions within a run of changes reads better.
        let mut k = 0;
        while k < ops.len() {
            if ops[k].0 == ' ' {
                k += 1;
                continue;
            }
            let run_end = (k..ops.len())
                .find(|&x| ops[x].0 == ' ')
                .unwrap_or(ops.len());
            ops[k..run_end].sort_by_key(|(op, _)| *op != '-');
            k = run_end;
        }
    } else {
        ops.extend(e[start..start + n].iter().map(|l| ('-', *l)));
        ops.extend(a[start..start + m].iter().map(|l| ('+', *l)));
    }
    ops.extend(e[e.len() - end..].iter().map(|l| (' ', *l)));
    (ops, newline)
}

/// The diff's text: changed lines with [`CONTEXT`] lines around them.
fn render(ops: &[(char, &str)]) -> String {
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut show = vec![false; ops.len()];
    for &k in &changed {
        let from = k.saturating_sub(CONTEXT);
        let to = (k + CONTEXT + 1).min(ops.len());
        show[from..to].iter_mut().for_each(|s| *s = true);
    }
    let mut out = String::new();
    let mut line = 1; // the stored file's line of ops[k]
    let mut shown_last = false;
    for (k, (op, text)) in ops.iter().enumerate() {
        if show[k] {
            if !shown_last {
                out.push_str(&format!("@@ line {line} @@\n"));
            }
            out.push(*op);
            out.push_str(text);
            out.push('\n');
        }
        shown_last = show[k];
        if *op != '+' {
            line += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_line_ends_and_control_characters() {
        assert_eq!(
            normalise(b"a\r\nb\rc\x1b[1m\x07\td\n\xff"),
            "a\nb\\rc\\e[1m\\x07\td\n\u{fffd}"
        );
    }

    #[test]
    fn wildcards_match_within_lines_and_across_lines() {
        assert!(line_matches("pid [..] started", "pid 42 started"));
        assert!(line_matches("[..]", ""));
        assert!(line_matches("a[..]b[..]c", "abc"));
        assert!(!line_matches("a[..]b", "ab c"));
        assert!(!line_matches("ab[..]ba", "aba"));
        assert!(!line_matches("x", "xy"));
        assert!(matches("a\n...\nz\n", "a\nb\nc\nz\n"));
        assert!(matches("a\n...\nz\n", "a\nz\n"));
        assert!(matches("...\n", "anything\n"));
        assert!(!matches("a\n...\nz\n", "a\nb\n"));
        assert!(matches("n = [..]\n", "n = 7\n"));
        assert!(!matches("a\n", "a\nb\n"));
    }

    #[test]
    fn diffs_show_changes_with_context() {
        let expected = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
        let actual = "1\n2\n3\n4\n5\nsix\n7\n8\n9\n10\n";
        assert_eq!(
            diff(expected, actual),
            "@@ line 3 @@\n 3\n 4\n 5\n-6\n+six\n 7\n 8\n 9\n"
        );
        assert_eq!(diff("a\nb\n", "a\n"), "@@ line 1 @@\n a\n-b\n");
        assert_eq!(
            diff("x [..]\ny\n", "x 1\nz\n"),
            "@@ line 1 @@\n x [..]\n-y\n+z\n"
        );
        assert_eq!(
            diff("a\nb\nc\n", "a\nB\nC\nc\n"),
            "@@ line 1 @@\n a\n-b\n+B\n+C\n c\n"
        );
        assert_eq!(diff("a\n", "a"), "@@ line 1 @@\n a\n-\n");
    }

    #[test]
    fn blessing_keeps_the_stored_lines_that_match() {
        assert_eq!(
            bless("v[..]\nold\nend\n", "v1.2\nnew\nend\n"),
            "v[..]\nnew\nend\n"
        );
        assert_eq!(bless("a\n", "b"), "b");
        assert_eq!(bless("x\n...\n", "x\ny\n"), "x\ny\n");
    }
}
