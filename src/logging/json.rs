//! Writing JSON strings by hand.

use std::fmt::Write;

/// Appends `text` to `out` as a JSON string, quotes included. Control characters, `"`,
/// `\` and DEL are escaped; everything else is written as UTF-8.
pub(crate) fn push_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\0'..='\u{1f}' | '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_json_requires() {
        let mut out = String::new();
        push_string(&mut out, "a\"b\\c\r\n\t\x08\x0c\x1b[0m\x00\x7f é €\u{2028}");
        assert_eq!(
            out,
            r#""a\"b\\c\r\n\t\b\f\u001b[0m\u0000\u007f é €"#.to_owned() + "\u{2028}\""
        );
    }
}
