//! The logs of a running script (`--verbose`, `--log`, `--log-output`, `--record`,
//! `log_user`, `log_file`, `record`), attached to every program the script spawns.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::engine::transcript::{Transcript, TranscriptId};
use crate::group::{Group, SessionId};
use crate::logging::{AsciicastRecorder, Direction, LogWriter, Shared};
use crate::transport::pty::Pty;

/// One of the script's own output streams (its standard output or its log), shared with
/// the transcripts that echo the program's output to it.
pub(crate) type ScriptWriter = Shared<Box<dyn Write + Send>>;

/// What a log is for: each holds at most one sink, which the script can replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// `--verbose`: the output, to the script's log.
    Verbose,
    /// `log_user on`: the output, to the script's standard output.
    User,
    /// `--log FILE`.
    LogOption,
    /// `--log-output FILE`.
    LogOutputOption,
    /// `--record FILE`.
    RecordOption,
    /// `log_file PATH`.
    LogFile,
    /// `record PATH`.
    Record,
}

/// Where a log goes.
pub(crate) enum Sink {
    /// The program's output, copied to one of the script's streams.
    Echo(ScriptWriter),
    /// A log file.
    Log {
        path: String,
        log: Shared<LogWriter<File>>,
    },
    /// An asciicast file.
    Cast {
        path: String,
        cast: Shared<AsciicastRecorder<File>>,
    },
}

fn create(path: &Path, append: bool) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

impl Sink {
    /// A log of `direction` to the file at `path`, created, truncated unless `append`.
    pub(crate) fn log(path: &OsStr, direction: Direction, append: bool) -> io::Result<Sink> {
        let path = Path::new(path);
        let file = create(path, append)?;
        Ok(Sink::Log {
            path: path.display().to_string(),
            log: Shared::new(LogWriter::new(file, direction)),
        })
    }

    /// An asciicast recording of a `cols` x `rows` terminal to the file at `path`.
    pub(crate) fn cast(path: &OsStr, cols: u16, rows: u16, input: bool) -> io::Result<Sink> {
        let path = Path::new(path);
        let file = create(path, false)?;
        let mut recorder = AsciicastRecorder::new(file, cols, rows).record_input(input);
        for name in ["SHELL", "TERM"] {
            if let Ok(value) = std::env::var(name) {
                recorder = recorder.with_env(name, value);
            }
        }
        Ok(Sink::Cast {
            path: path.display().to_string(),
            cast: Shared::new(recorder),
        })
    }

    /// A transcript that feeds this sink, for one more program.
    pub(crate) fn transcript(&self) -> Box<dyn Transcript> {
        match self {
            Sink::Echo(writer) => Box::new(LogWriter::new(writer.clone(), Direction::Output)),
            Sink::Log { log, .. } => Box::new(log.clone()),
            Sink::Cast { cast, .. } => Box::new(cast.clone()),
        }
    }

    /// Finishes the sink; what went wrong writing it, if anything.
    pub(crate) fn close(self) -> Option<String> {
        let (path, error) = match self {
            Sink::Echo(_) => return None,
            Sink::Log { path, log } => {
                let error = log.lock().take_error();
                (path, error)
            }
            Sink::Cast { path, cast } => match cast.try_into_inner() {
                Ok(recorder) => (path, recorder.finish().err()),
                // Still held by a transcript: it finishes when that is dropped.
                Err(cast) => (
                    path,
                    cast.lock()
                        .error()
                        .map(|e| io::Error::new(e.kind(), e.to_string())),
                ),
            },
        };
        error.map(|e| format!("writing {path} failed: {e}"))
    }
}

struct Entry {
    slot: Slot,
    sink: Sink,
    /// Its transcript on each program it is attached to.
    ids: Vec<(SessionId, TranscriptId)>,
}

impl Entry {
    /// Takes its transcript off every program of `group` it is attached to.
    fn detach(&mut self, group: &mut Group<Pty>) {
        for (id, transcript) in self.ids.drain(..) {
            if let Some(session) = group.get_mut(id) {
                drop(session.remove_transcript(transcript));
            }
        }
    }
}

/// The script's logs.
#[derive(Default)]
pub(crate) struct ScriptLogs {
    entries: Vec<Entry>,
}

impl ScriptLogs {
    /// Puts `sink` in `slot` (`None` empties it), attached to every running program.
    /// Returns what went wrong writing the sink it replaces.
    pub(crate) fn set(
        &mut self,
        slot: Slot,
        sink: Option<Sink>,
        group: &mut Group<Pty>,
    ) -> Option<String> {
        let old = match self.entries.iter().position(|e| e.slot == slot) {
            Some(index) => {
                let mut entry = self.entries.remove(index);
                entry.detach(group);
                Some(entry.sink)
            }
            None => None,
        };
        if let Some(sink) = sink {
            let ids = group
                .iter_mut()
                .map(|(id, session)| (id, session.add_transcript(sink.transcript())))
                .collect();
            self.entries.push(Entry { slot, sink, ids });
        }
        old.and_then(Sink::close)
    }

    /// Attaches every log to the program just spawned as `id`.
    pub(crate) fn attach(&mut self, group: &mut Group<Pty>, id: SessionId) {
        for entry in &mut self.entries {
            // Programs closed or spawned again took their transcripts with them.
            entry.ids.retain(|(old, _)| group.get(*old).is_some());
            if let Some(session) = group.get_mut(id) {
                entry
                    .ids
                    .push((id, session.add_transcript(entry.sink.transcript())));
            }
        }
    }

    /// Detaches (`on` false) or reattaches the logs that copy the output of the program
    /// `id` to the script's own streams (`--verbose`, `log_user`): while `interact` shows
    /// that program's output on the user's terminal, they would show it twice.
    pub(crate) fn set_echoes(&mut self, on: bool, group: &mut Group<Pty>, id: SessionId) {
        let Some(session) = group.get_mut(id) else {
            return;
        };
        for entry in &mut self.entries {
            if !matches!(entry.sink, Sink::Echo(_)) {
                continue;
            }
            let attached = entry.ids.iter().position(|(of, _)| *of == id);
            match (on, attached) {
                (false, Some(index)) => {
                    let (_, transcript) = entry.ids.remove(index);
                    drop(session.remove_transcript(transcript));
                }
                (true, None) => {
                    entry
                        .ids
                        .push((id, session.add_transcript(entry.sink.transcript())));
                }
                _ => {}
            }
        }
    }

    /// Tells the recordings that the terminal is now `cols` x `rows`.
    pub(crate) fn resize(&self, cols: u16, rows: u16) {
        for entry in &self.entries {
            if let Sink::Cast { cast, .. } = &entry.sink {
                cast.lock().resize(cols, rows);
            }
        }
    }

    /// Detaches and finishes every log; what went wrong writing them.
    pub(crate) fn close(&mut self, group: &mut Group<Pty>) -> Vec<String> {
        let mut problems = Vec::new();
        for mut entry in self.entries.drain(..) {
            entry.detach(group);
            problems.extend(entry.sink.close());
        }
        problems
    }
}
