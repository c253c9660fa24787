//! JSON Lines: one JSON object per line on stdin/stdout. Blank lines are skipped on input;
//! each record is flushed as it is written so pipelines stream.

use crate::cli::{Failure, Result};
use crate::exit::Exit;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{BufRead, Write};

/// One input record, or the error that replaced it, with its 1-based line number.
pub struct Line<T> {
    pub line: usize,
    pub record: Result<T>,
}

/// Reads records from `reader`; `source` names the stream in errors (`-` for stdin).
/// A line that is not valid JSON for `T` yields a `DataErr` naming `source:line` and the
/// stream goes on; an I/O error ends it.
pub fn read<T: DeserializeOwned, R: BufRead + 'static>(
    reader: R,
    source: &str,
) -> impl Iterator<Item = Line<T>> + '_ {
    let source = source.to_string();
    let mut lines = reader.lines().enumerate();
    let mut done = false;
    std::iter::from_fn(move || loop {
        if done {
            return None;
        }
        let (idx, text) = lines.next()?;
        let line = idx + 1;
        match text {
            Err(e) => {
                done = true;
                return Some(Line {
                    line,
                    record: Err(Failure::io(format!("{source}:{line}"), &e)),
                });
            }
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => {
                let record = parse::<T>(&text).map_err(|f| f.context(format!("{source}:{line}")));
                return Some(Line { line, record });
            }
        }
    })
}

/// Opens a tool's input: a file, or stdin when the path is absent or `-`; also returns the
/// source name for error messages (`-` for stdin).
pub fn open(path: Option<&std::path::Path>) -> Result<(Box<dyn BufRead>, String)> {
    match path {
        Some(p) if p != std::path::Path::new("-") => {
            let f = std::fs::File::open(p).map_err(|e| Failure::io(p.display(), &e))?;
            Ok((Box::new(std::io::BufReader::new(f)), p.display().to_string()))
        }
        _ => Ok((Box::new(std::io::BufReader::new(std::io::stdin())), "-".into())),
    }
}

/// Parses one JSON Lines record.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| Failure::new(Exit::DataErr, format!("invalid record: {e}")))
}

/// Writes records as JSON Lines, flushing after each.
pub struct Writer<W: Write> {
    out: W,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Writer<W> {
        Writer { out }
    }
    pub fn write<T: Serialize + ?Sized>(&mut self, record: &T) -> Result<()> {
        let mut buf = serde_json::to_vec(record)
            .map_err(|e| Failure::software(format!("cannot serialize record: {e}")))?;
        buf.push(b'\n');
        self.out.write_all(&buf).map_err(|e| Failure::io("stdout", &e))?;
        self.out.flush().map_err(|e| Failure::io("stdout", &e))
    }
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A writer on the process's stdout.
pub fn stdout() -> Writer<std::io::Stdout> {
    Writer::new(std::io::stdout())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct R {
        a: u32,
    }

    #[test]
    fn reads_skips_blank_and_reports_bad_lines() {
        let input = "{\"a\":1}\n\n  \nnot json\n{\"a\":2}\n";
        let got: Vec<_> =
            read::<R, _>(std::io::Cursor::new(input.as_bytes().to_vec()), "-").collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].record.as_ref().unwrap(), &R { a: 1 });
        let err = got[1].record.as_ref().unwrap_err();
        assert_eq!(got[1].line, 4);
        assert!(err.message.starts_with("-:4: invalid record"), "{}", err.message);
        assert_eq!(err.exit, Exit::DataErr);
        assert_eq!(got[2].record.as_ref().unwrap(), &R { a: 2 });
    }

    #[test]
    fn writes_one_line_per_record() {
        let mut w = Writer::new(Vec::new());
        w.write(&R { a: 1 }).unwrap();
        w.write(&R { a: 2 }).unwrap();
        assert_eq!(String::from_utf8(w.into_inner()).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
    }
}
