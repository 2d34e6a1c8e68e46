//! Recordings checked with python3's `json` module: an asciicast v2 file's header and
//! events.

use std::path::Path;
use std::process::Command;

/// An asciicast v2 file as python3's `json` module reads it.
#[derive(Debug)]
pub struct Cast {
    /// `WIDTHxHEIGHT` from the header.
    pub size: String,
    /// `(kind, data)` of each event, in order.
    pub events: Vec<(char, String)>,
}

impl Cast {
    /// The events, with neighbours of the same kind merged: how the output was cut into
    /// reads is up to the terminal.
    pub fn merged(&self) -> Vec<(char, String)> {
        let mut merged: Vec<(char, String)> = Vec::new();
        for (kind, data) in &self.events {
            match merged.last_mut() {
                Some((last, text)) if last == kind && *kind != 'r' => text.push_str(data),
                _ => merged.push((*kind, data.clone())),
            }
        }
        merged
    }

    /// The data of every event of `kind`, joined.
    pub fn data(&self, kind: char) -> String {
        self.events
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, d)| d.as_str())
            .collect()
    }
}

/// Parses every line with `json.loads`, checks the header and that event times never
/// decrease, and returns the events. Panics with python's message if anything is off.
pub fn check_cast(path: &Path) -> Cast {
    const CHECK: &str = r#"
import json, sys
text = open(sys.argv[1], encoding='utf-8').read()
assert text.endswith('\n'), 'no final newline'
lines = text[:-1].split('\n')
header = json.loads(lines[0])
assert header['version'] == 2, header
assert isinstance(header['width'], int) and isinstance(header['height'], int), header
assert isinstance(header['timestamp'], int), header
print('%dx%d' % (header['width'], header['height']))
last = 0
for line in lines[1:]:
    time, kind, data = json.loads(line)
    assert isinstance(time, (int, float)) and time >= last, 'time goes back: ' + line
    last = time
    assert kind in 'oirm' and len(kind) == 1 and isinstance(data, str), line
    print(kind, data.encode('utf-8').hex())
"#;
    let out = Command::new("python3")
        .args(["-c", CHECK])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{} is not a valid asciicast v2 file: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let size = lines.next().unwrap().to_owned();
    let events = lines
        .map(|line| {
            let (kind, hex) = line.split_once(' ').unwrap();
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (
                kind.chars().next().unwrap(),
                String::from_utf8(bytes).unwrap(),
            )
        })
        .collect();
    Cast { size, events }
}
