//! Running the screen commands (`expect_screen`, `key`, `click`, `snapshot`) and printing
//! the final screens for `ptychat run --screen`.

use std::io::Write;

use super::{Fault, Flow, Runner};
use crate::ScreenPattern;
use crate::screen::pattern::{Rect, Style};
use crate::script::parse::{ClickAt, MAIN, Program, ScreenExpect, ScreenOp, ScreenSpec, key};
use crate::script::value;

impl Runner<'_> {
    pub(super) fn screen(&mut self, program: &Program, op: &ScreenOp) -> Result<Flow, Fault> {
        match op {
            ScreenOp::Expect(expect) => self.expect_screen(program, expect)?,
            ScreenOp::Keys(words) => {
                let keys = words
                    .iter()
                    .map(|w| Ok(key(&self.eval(w)?)?))
                    .collect::<Result<Vec<_>, Fault>>()?;
                self.with_session(program, |s| s.send_keys(keys))?;
            }
            ScreenOp::Click(ClickAt::Text(text)) => {
                let text = String::from_utf8_lossy(&self.eval(text)?).into_owned();
                self.with_session(program, |s| s.click_text(&text))?;
            }
            ScreenOp::Click(ClickAt::Cell(row, col)) => {
                let row = value::cell_index(&self.eval(row)?)?;
                let col = value::cell_index(&self.eval(col)?)?;
                self.with_session(program, |s| s.click(row, col))?;
            }
            ScreenOp::Snapshot { svg, path } => {
                let picture = self.with_session(program, |s| {
                    let screen = s
                        .screen()
                        .expect("scripts with screen commands have screens");
                    Ok(if *svg { screen.svg() } else { screen.text() })
                })?;
                match path {
                    Some(path) => {
                        let path = std::ffi::OsString::from(
                            String::from_utf8_lossy(&self.eval(path)?).into_owned(),
                        );
                        std::fs::write(&path, picture).map_err(|e| {
                            format!("snapshot: cannot write {}: {e}", path.to_string_lossy())
                        })?;
                    }
                    None => self.print(picture.as_bytes())?,
                }
            }
        }
        Ok(Flow::Next)
    }

    fn expect_screen(&mut self, program: &Program, expect: &ScreenExpect) -> Result<(), Fault> {
        let timeout = match &expect.timeout {
            Some(seconds) => value::seconds(&self.eval(seconds)?)?,
            None => self.settings.timeout,
        };
        let area = |p: ScreenPattern, runner: &Self| -> Result<ScreenPattern, Fault> {
            let mut p = match (&expect.row, &expect.rect) {
                (Some(row), _) => p.in_row(value::cell_index(&runner.eval(row)?)?),
                (_, Some([top, left, height, width])) => p.in_rect(Rect::new(
                    value::cell_index(&runner.eval(top)?)?,
                    value::cell_index(&runner.eval(left)?)?,
                    value::dimension(&runner.eval(height)?)?,
                    value::dimension(&runner.eval(width)?)?,
                )),
                _ => p,
            };
            if expect.inverse || expect.bold {
                let mut style = Style::new();
                if expect.inverse {
                    style = style.inverse();
                }
                if expect.bold {
                    style = style.bold();
                }
                p = p.styled(style);
            }
            Ok(if expect.absent { p.absent() } else { p })
        };
        let mut patterns = Vec::new();
        for spec in &expect.patterns {
            patterns.push(match spec {
                ScreenSpec::Text(text) => {
                    let text = String::from_utf8_lossy(&self.eval(text)?).into_owned();
                    area(ScreenPattern::text(text), self)?
                }
                ScreenSpec::Regex(source, _) => area(ScreenPattern::regex(source)?, self)?,
                ScreenSpec::Cursor(row, col) => ScreenPattern::cursor_at(
                    value::cell_index(&self.eval(row)?)?,
                    value::cell_index(&self.eval(col)?)?,
                ),
                ScreenSpec::Stable(quiet) => {
                    ScreenPattern::stable(value::duration(&self.eval(quiet)?)?)
                }
            });
        }
        let found = self.with_session(program, |s| s.expect_screen_timeout(patterns, timeout))?;
        // `$0` is the text found, `$1`... the groups of a regex; `$before` is unset (a
        // screen has no "before").
        for name in self.captures.drain(..) {
            self.vars.remove(&name);
        }
        let mut set = |name: String, value: &str| {
            self.vars.insert(name.clone(), value.as_bytes().to_vec());
            self.captures.push(name);
        };
        set("0".to_owned(), found.text());
        let name = program.as_deref().unwrap_or(&self.current).to_owned();
        set("program".to_owned(), &name);
        if let Some(ScreenSpec::Regex(_, names)) = expect.patterns.get(found.index()) {
            for (i, group_name) in names.iter().enumerate().skip(1) {
                let group = found.group(i).unwrap_or_default().to_owned();
                set(i.to_string(), &group);
                if let Some(group_name) = group_name {
                    set(group_name.clone(), &group);
                }
            }
        }
        Ok(())
    }

    /// `ptychat run --screen`: the screen of each program still open, after reading what
    /// it wrote, framed with the cursor marked.
    pub(super) fn print_screens(&mut self) -> Result<(), Fault> {
        let mut names: Vec<String> = self.programs.keys().cloned().collect();
        names.sort_by_key(|n| (n != MAIN, n.clone()));
        let mut shown = Vec::new();
        for name in names {
            let Some(id) = self.programs[&name].id else {
                continue;
            };
            let session = self
                .group
                .get_mut(id)
                .expect("running programs are in the group");
            // Output not read yet still belongs on the final screen; a read error
            // (the program is gone) leaves the screen as it is.
            let _ = session.read_available();
            if let Some(screen) = session.screen() {
                if self.named {
                    shown.extend_from_slice(format!("program `{name}`: ").as_bytes());
                }
                shown.extend_from_slice(screen.render().as_bytes());
            }
        }
        self.print(&shown)
    }

    /// Writes `bytes` to the script's output and flushes it.
    pub(super) fn print(&mut self, bytes: &[u8]) -> Result<(), Fault> {
        self.out
            .write_all(bytes)
            .and_then(|()| self.out.flush())
            .map_err(|e| {
                crate::Error::Io {
                    context: "writing to standard output",
                    source: e,
                }
                .into()
            })
    }
}
