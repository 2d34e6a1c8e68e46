//! The screen commands of a script: `expect_screen`, `key`, `click` and `snapshot`. They
//! need a screen, so a script that uses any of them runs every program with one (see
//! [`uses_screen`]).

use std::str::FromStr;

use super::{Op, Stmt};
use crate::KeyPress;
use crate::script::lex::{Token, Word};
use crate::script::value;

/// The screen commands, by name.
pub(crate) const COMMANDS: &[&str] = &["expect_screen", "key", "click", "snapshot"];

/// A screen command; the program it addresses is in [`Op::Screen`].
#[derive(Debug, Clone)]
pub(crate) enum ScreenOp {
    Expect(ScreenExpect),
    /// `key KEY...`: named keys, like `Down`, `ctrl+c`, `F5`.
    Keys(Vec<Word>),
    /// `click "TEXT"` or `click ROW COL`.
    Click(ClickAt),
    /// `snapshot [-svg] [PATH]`: no path prints the screen as text.
    Snapshot {
        svg: bool,
        path: Option<Word>,
    },
}

/// `expect_screen [-t S] [-row N | -rect TOP LEFT HEIGHT WIDTH] [-inverse] [-bold]
/// [-absent] PATTERN...`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScreenExpect {
    pub(crate) timeout: Option<Word>,
    pub(crate) row: Option<Word>,
    pub(crate) rect: Option<[Word; 4]>,
    pub(crate) inverse: bool,
    pub(crate) bold: bool,
    pub(crate) absent: bool,
    pub(crate) patterns: Vec<ScreenSpec>,
}

/// A pattern of `expect_screen`.
#[derive(Debug, Clone)]
pub(crate) enum ScreenSpec {
    Text(Word),
    /// The regex source (checked when parsed) and its capture group names.
    Regex(String, Vec<Option<String>>),
    /// `-cursor ROW COL`.
    Cursor(Word, Word),
    /// `-stable SECONDS`: nothing changed for that long.
    Stable(Word),
}

#[derive(Debug, Clone)]
pub(crate) enum ClickAt {
    Text(Word),
    Cell(Word, Word),
}

const EXPECT_USAGE: &str = "usage: expect_screen [-i NAME] [-t SECONDS] [-row N | -rect \
                            TOP LEFT HEIGHT WIDTH] [-inverse] [-bold] [-absent] PATTERN... \
                            (a PATTERN is \"text\", /regex/, -cursor ROW COL or -stable SECONDS)";

type Args = std::iter::Peekable<std::vec::IntoIter<Token>>;

/// Parses the screen command `name`, its `-i NAME` taken out already.
pub(crate) fn parse(name: &str, args: Vec<Token>) -> Result<ScreenOp, String> {
    let mut args = args.into_iter().peekable();
    let args = &mut args;
    let word = |args: &mut Args, what: &str, check: &dyn Fn(&[u8]) -> Result<(), String>| match args
        .next()
    {
        Some(Token::Word(w)) => {
            if let Some(value) = w.constant() {
                check(&value).map_err(|m| format!("{name} {what}: {m}"))?;
            }
            Ok(w)
        }
        _ => Err(format!("{name}: {what} needs a value")),
    };
    let seconds = |v: &[u8]| value::duration(v).map(drop);
    let index = |v: &[u8]| value::cell_index(v).map(drop);
    let dimension = |v: &[u8]| value::dimension(v).map(drop);
    match name {
        "expect_screen" => {
            let mut expect = ScreenExpect::default();
            loop {
                let flag = match args.peek() {
                    Some(Token::Word(w)) => w.plain().filter(|f| f.starts_with('-')),
                    _ => None,
                };
                let Some(flag) = flag.map(str::to_owned) else {
                    break;
                };
                match flag.as_str() {
                    "-t" | "--timeout" | "-timeout" | "-row" | "-rect" | "-inverse" | "-bold"
                    | "-absent" => {
                        args.next();
                    }
                    // Pattern flags end the options.
                    _ => break,
                }
                match flag.as_str() {
                    "-t" | "--timeout" | "-timeout" => {
                        expect.timeout = Some(word(args, "-t", &|v| value::seconds(v).map(drop))?)
                    }
                    "-row" => expect.row = Some(word(args, "-row", &index)?),
                    "-rect" => {
                        expect.rect = Some([
                            word(args, "-rect TOP", &index)?,
                            word(args, "-rect LEFT", &index)?,
                            word(args, "-rect HEIGHT", &dimension)?,
                            word(args, "-rect WIDTH", &dimension)?,
                        ])
                    }
                    "-inverse" => expect.inverse = true,
                    "-bold" => expect.bold = true,
                    _ => expect.absent = true,
                }
            }
            if expect.row.is_some() && expect.rect.is_some() {
                return Err("expect_screen: -row and -rect cannot be used together".into());
            }
            while let Some(token) = args.next() {
                let spec = match token {
                    Token::Regex(source) => {
                        let regex = regex::Regex::new(&source)
                            .map_err(|e| format!("invalid regex /{source}/: {e}"))?;
                        let names = regex.capture_names().map(|n| n.map(str::to_owned));
                        ScreenSpec::Regex(source, names.collect())
                    }
                    Token::Word(w) => match w.plain() {
                        Some("-cursor") => {
                            let row = word(args, "-cursor ROW", &index)?;
                            ScreenSpec::Cursor(row, word(args, "-cursor COL", &index)?)
                        }
                        Some("-stable") => ScreenSpec::Stable(word(args, "-stable", &seconds)?),
                        Some(flag) if flag.starts_with('-') && flag.len() > 1 => {
                            return Err(format!(
                                "expect_screen: unknown option `{flag}` (options come before \
                                 the patterns); {EXPECT_USAGE}"
                            ));
                        }
                        _ if w.constant().is_some_and(|c| c.is_empty()) => {
                            return Err("an empty pattern matches at once; leave it out".to_owned());
                        }
                        _ => ScreenSpec::Text(w),
                    },
                    Token::Semi | Token::End => unreachable!("arguments are words"),
                };
                expect.patterns.push(spec);
            }
            if expect.patterns.is_empty() {
                return Err(EXPECT_USAGE.into());
            }
            Ok(ScreenOp::Expect(expect))
        }
        "key" => {
            let keys = args
                .by_ref()
                .map(|token| match token {
                    Token::Word(w) => {
                        if let Some(value) = w.constant() {
                            key(&value)?;
                        }
                        Ok(w)
                    }
                    _ => Err("key: a key is a name like Down, Enter, ctrl+c or F5".to_owned()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if keys.is_empty() {
                return Err("usage: key [-i NAME] KEY... (like `key Down Down Enter`)".into());
            }
            Ok(ScreenOp::Keys(keys))
        }
        "click" => {
            const USAGE: &str = "usage: click [-i NAME] \"TEXT\" | click [-i NAME] ROW COL";
            let words: Vec<Word> = args
                .by_ref()
                .map(|token| match token {
                    Token::Word(w) => Ok(w),
                    _ => Err(USAGE.to_owned()),
                })
                .collect::<Result<_, _>>()?;
            let mut words = words.into_iter();
            match (words.next(), words.next(), words.next()) {
                (Some(text), None, None) => Ok(ScreenOp::Click(ClickAt::Text(text))),
                (Some(row), Some(col), None) => {
                    for w in [&row, &col] {
                        if let Some(value) = w.constant() {
                            value::cell_index(&value).map_err(|m| format!("click: {m}"))?;
                        }
                    }
                    Ok(ScreenOp::Click(ClickAt::Cell(row, col)))
                }
                _ => Err(USAGE.into()),
            }
        }
        _ => {
            const USAGE: &str = "usage: snapshot [-i NAME] [-svg] [PATH] (no PATH: print the \
                                 screen)";
            let mut svg = false;
            let mut path = None;
            for token in args.by_ref() {
                let Token::Word(w) = token else {
                    return Err(USAGE.into());
                };
                match w.plain() {
                    Some("-svg") => svg = true,
                    Some(flag) if flag.starts_with('-') && flag.len() > 1 => {
                        return Err(format!("snapshot: unknown option `{flag}`; {USAGE}"));
                    }
                    _ if path.is_none() => path = Some(w),
                    _ => return Err(USAGE.into()),
                }
            }
            if svg && path.is_none() {
                return Err(format!("snapshot: -svg needs a PATH; {USAGE}"));
            }
            Ok(ScreenOp::Snapshot { svg, path })
        }
    }
}

/// A key name, as `key` takes it.
pub(crate) fn key(value: &[u8]) -> Result<KeyPress, String> {
    let name = String::from_utf8_lossy(value);
    KeyPress::from_str(&name).map_err(|e| match e {
        crate::Error::InvalidArgument(message) => format!("key: {message}"),
        e => format!("key: {e}"),
    })
}

/// Whether any command of `stmts`, in blocks too, needs a screen.
pub(crate) fn uses_screen(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|stmt| match &stmt.op {
        Op::Screen(..) => true,
        Op::Expect(expect) => expect.branches.iter().any(|b| uses_screen(&b.action)),
        _ => false,
    })
}
