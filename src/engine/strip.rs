//! Text mode: the output with terminal escape sequences removed, for sessions that match
//! byte patterns against what a person would read ([`Session::set_strip_escapes`]).
//!
//! A small ECMA-48 recogniser whose state carries over between reads, so a sequence split
//! across two reads is still removed whole. It removes CSI sequences (`ESC [` ... final
//! byte: colours, cursor moves, modes), OSC strings (`ESC ]` ... BEL or `ESC \`: titles,
//! hyperlinks), DCS, SOS, PM and APC strings (`ESC P`, `X`, `^`, `_` ... `ESC \`) and the
//! other escape sequences (`ESC` + intermediates + final byte: charsets, keypad modes).
//! Everything else, control characters included, is kept. 8-bit C1 controls are not
//! recognised: their bytes are UTF-8 continuation bytes in a UTF-8 stream.
//!
//! [`Session::set_strip_escapes`]: crate::Session::set_strip_escapes

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Text,
    /// After `ESC`.
    Escape,
    /// After `ESC` and intermediate bytes (0x20-0x2F), waiting for the final byte.
    EscapeIntermediate,
    /// Inside `ESC [`, waiting for the final byte (0x40-0x7E).
    Csi,
    /// Inside an OSC string (ends at BEL or `ESC \`).
    Osc,
    /// Inside a DCS, SOS, PM or APC string (ends at `ESC \`).
    ControlString,
    /// After `ESC` inside a string: `\` ends it.
    StringEscape,
}

/// Removes escape sequences from a stream of reads, in place.
#[derive(Debug, Clone, Default)]
pub(crate) struct EscapeStripper {
    state: State,
}

impl EscapeStripper {
    /// Removes the escape sequences (and the parts of sequences begun in earlier reads)
    /// from `bytes`, moving the text to its front; returns the length of the text.
    pub(crate) fn strip_in_place(&mut self, bytes: &mut [u8]) -> usize {
        let mut kept = 0;
        for i in 0..bytes.len() {
            let byte = bytes[i];
            let keep = self.step(byte);
            if keep {
                bytes[kept] = byte;
                kept += 1;
            }
        }
        kept
    }

    /// Advances over one byte; true if it is text to keep.
    fn step(&mut self, byte: u8) -> bool {
        use State::*;
        let (next, keep) = match (self.state, byte) {
            (Text, ESC) => (Escape, false),
            (Text, _) => (Text, true),
            (Escape, b'[') => (Csi, false),
            (Escape, b']') => (Osc, false),
            (Escape, b'P' | b'X' | b'^' | b'_') => (ControlString, false),
            (Escape, ESC) => (Escape, false),
            (Escape, 0x20..=0x2f) => (EscapeIntermediate, false),
            (Escape, 0x30..=0x7e) => (Text, false),
            // A control character cuts the sequence short and is itself kept.
            (Escape, _) => (Text, true),
            (EscapeIntermediate, 0x20..=0x2f) => (EscapeIntermediate, false),
            (EscapeIntermediate, 0x30..=0x7e) => (Text, false),
            (EscapeIntermediate, ESC) => (Escape, false),
            (EscapeIntermediate, _) => (Text, true),
            (Csi, 0x20..=0x3f) => (Csi, false),
            (Csi, 0x40..=0x7e) => (Text, false),
            (Csi, ESC) => (Escape, false),
            // C0 controls inside a CSI sequence take effect (and are kept); the sequence
            // goes on.
            (Csi, 0x00..=0x1f) => (Csi, true),
            (Csi, _) => (Text, true),
            (Osc, BEL) => (Text, false),
            (Osc | ControlString, ESC) => (StringEscape, false),
            (Osc | ControlString, _) => (self.state, false),
            (StringEscape, b'\\') => (Text, false),
            // Any other escape ends the string and starts a sequence of its own.
            (StringEscape, _) => {
                self.state = Escape;
                return self.step(byte);
            }
        };
        self.state = next;
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(input: &[u8]) -> Vec<u8> {
        let mut bytes = input.to_vec();
        let n = EscapeStripper::default().strip_in_place(&mut bytes);
        bytes.truncate(n);
        bytes
    }

    #[test]
    fn removes_the_kinds_of_sequence_and_keeps_text_and_controls() {
        assert_eq!(strip(b"N\x1b[1;31mo\x1b[0m"), b"No");
        assert_eq!(strip(b"\x1b]0;title\x07ok"), b"ok");
        assert_eq!(strip(b"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"), b"link");
        assert_eq!(strip(b"\x1bPdata\x1b\\after"), b"after");
        assert_eq!(strip(b"\x1b(Bplain\x1b=\x1b>"), b"plain");
        assert_eq!(strip(b"\x1b[?2004hline\r\n\t\x08"), b"line\r\n\t\x08");
        assert_eq!(strip("über \x1b[7mñ\x1b[m".as_bytes()), "über ñ".as_bytes());
        // A string cut short by another escape: the new sequence is removed too.
        assert_eq!(strip(b"\x1b]0;t\x1b[1mx"), b"x");
    }

    #[test]
    fn a_sequence_split_anywhere_across_reads_is_removed_whole() {
        let input: &[u8] = b"a\x1b[38;5;196mb\x1b]0;t\x1b\\c\x1b(0d\x1b[?25le";
        for split in 0..=input.len() {
            let mut stripper = EscapeStripper::default();
            let (mut first, mut second) = (input[..split].to_vec(), input[split..].to_vec());
            let n = stripper.strip_in_place(&mut first);
            let m = stripper.strip_in_place(&mut second);
            let mut out = first[..n].to_vec();
            out.extend_from_slice(&second[..m]);
            assert_eq!(out, b"abcde", "split at {split}");
        }
    }
}
