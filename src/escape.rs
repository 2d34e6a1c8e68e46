//! Rendering raw bytes as readable, unambiguous text for error messages and traces.

use std::fmt::Write;

/// Renders `bytes` as text a person can read: printable ASCII and valid UTF-8 stay as they
/// are, control bytes become `\n`, `\r`, `\t`, `\e` (escape), `\0` or `\xNN`, invalid UTF-8
/// bytes become `\xNN`, and `\` and `"` are backslash-escaped so the result can be quoted.
///
/// ```
/// assert_eq!(ptychat::escape(b"ok\r\n\x1b[0m\xff \xc3\xa9"), r#"ok\r\n\e[0m\xff é"#);
/// ```
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x1b' => out.push_str("\\e"),
                '\0' => out.push_str("\\0"),
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                c if c.is_control() => {
                    let mut utf8 = [0u8; 4];
                    for b in c.encode_utf8(&mut utf8).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// The escaped last `max` bytes of `bytes`, prefixed with `...` when something was cut.
pub(crate) fn escape_tail(bytes: &[u8], max: usize) -> String {
    if bytes.len() <= max {
        return escape(bytes);
    }
    let mut start = bytes.len() - max;
    // Step forward past UTF-8 continuation bytes so a character is not shown as garbage.
    while start < bytes.len() && start + 3 > bytes.len() - max && bytes[start] & 0xC0 == 0x80 {
        start += 1;
    }
    format!("...{}", escape(&bytes[start..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_invalid_bytes() {
        assert_eq!(escape(b"a\"b\\c\x07"), r#"a\"b\\c\x07"#);
        assert_eq!(escape("λ→\u{7f}".as_bytes()), r"λ→\x7f");
    }

    #[test]
    fn tail_cuts_at_a_character_boundary() {
        let text = "ééé".as_bytes(); // 6 bytes
        assert_eq!(escape_tail(text, 3), "...é");
        assert_eq!(escape_tail(b"abcdef", 3), "...def");
        assert_eq!(escape_tail(b"abc", 3), "abc");
    }
}
