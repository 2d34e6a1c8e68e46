//! Decoding a byte stream that arrives in pieces as UTF-8 text, lossily.

/// Turns chunks of bytes into text the way `String::from_utf8_lossy` would turn their
/// concatenation: a character split between two chunks is held back until its end
/// arrives, instead of becoming two replacement characters.
#[derive(Debug, Default)]
pub(crate) struct Utf8Stream {
    /// The start of a character whose end has not arrived (at most 3 bytes).
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// The text of `bytes` after what came before, holding back an unfinished character
    /// at its end. Invalid bytes become U+FFFD.
    pub(crate) fn decode(&mut self, bytes: &[u8]) -> String {
        let joined;
        let bytes = if self.pending.is_empty() {
            bytes
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(bytes);
            joined = pending;
            &joined[..]
        };
        let mut text = String::with_capacity(bytes.len());
        let mut chunks = bytes.utf8_chunks().peekable();
        while let Some(chunk) = chunks.next() {
            text.push_str(chunk.valid());
            let invalid = chunk.invalid();
            if invalid.is_empty() {
                continue;
            }
            // Only the last chunk can end in a character that is cut short rather than
            // wrong: the bytes that follow may complete it.
            let unfinished = chunks.peek().is_none()
                && std::str::from_utf8(invalid).is_err_and(|e| e.error_len().is_none());
            if unfinished {
                self.pending.extend_from_slice(invalid);
            } else {
                text.push(char::REPLACEMENT_CHARACTER);
            }
        }
        text
    }

    /// The end of the stream: an unfinished character becomes U+FFFD.
    pub(crate) fn finish(&mut self) -> String {
        if self.pending.is_empty() {
            return String::new();
        }
        self.pending.clear();
        char::REPLACEMENT_CHARACTER.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `bytes` split at every possible set of up to two points, and checks the
    /// result against a lossy decoding of the whole.
    fn check(bytes: &[u8]) {
        let whole = String::from_utf8_lossy(bytes);
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut stream = Utf8Stream::default();
                let mut text = stream.decode(&bytes[..i]);
                text += &stream.decode(&bytes[i..j]);
                text += &stream.decode(&bytes[j..]);
                text += &stream.finish();
                assert_eq!(text, whole, "{bytes:x?} split at {i} and {j}");
            }
        }
    }

    #[test]
    fn matches_a_lossy_decoding_of_the_whole() {
        check("a€b😀c".as_bytes());
        check(b"\xe2\x82");
        check(b"x\xe2\x82y");
        check(b"\xff\xfe\xe2\x82\xac\xf0\x9f");
        check(b"\xc3\xa9\xc3");
        check(b"\xed\xa0\x80 surrogate");
        check(b"\xf4\x90\x80\x80 too big");
    }

    #[test]
    fn holds_back_only_an_unfinished_character() {
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.decode(b"A\xe2"), "A");
        assert_eq!(stream.decode(b"\x82"), "");
        assert_eq!(stream.decode(b"\xacB"), "\u{20ac}B");
        assert_eq!(stream.decode(b"\xe2\x28"), "\u{fffd}(");
        assert_eq!(stream.decode(b"\xf0"), "");
        assert_eq!(stream.finish(), "\u{fffd}");
        assert_eq!(stream.finish(), "");
    }
}
