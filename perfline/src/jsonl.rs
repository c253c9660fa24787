//! JSON Lines: one JSON object per line on stdin/stdout. Blank lines are skipped on input;
//! each record is flushed as it is written so pipelines stream.
//!
//! Bad input is reported by line and field and the stream goes on: a line longer than
//! [`MAX_LINE`], not JSON, or not the record type (`-:3: invalid record:
//! plan.total_nodes: invalid value: integer `-1`, expected u32 (column 20)`) is a
//! `DataErr` (65) naming `SOURCE:LINE`; only a failing read is an I/O error. A line that is
//! not UTF-8 is reported too and ends the stream: it is binary or corrupt input, whose
//! further "lines" would each be one more error line.
//!
//! A UTF-8 byte-order mark at the start of a line is skipped (editors on Windows write one;
//! `cat a.jsonl b.jsonl` puts it mid-stream), as the YAML loader skips it. A field path in a
//! message is capped at [`PATH_SHOWN`] characters (a deeply nested line would echo
//! `[0][0][0]…` for hundreds of bytes).

use crate::cli::{Failure, Result};
use crate::exit::Exit;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{BufRead, Read, Write};

/// One input record, or the error that replaced it, with its 1-based line number.
pub struct Line<T> {
    pub line: usize,
    pub record: Result<T>,
}

/// The longest input line read (64 MiB): a longer one is reported, not held in memory.
pub const MAX_LINE: usize = 64 << 20;

/// The most characters of a field path shown in a message.
pub const PATH_SHOWN: usize = 80;

/// The UTF-8 encoding of U+FEFF, the byte-order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// Reads records from `reader`; `source` names the stream in errors (`-` for stdin).
/// A line that is not a valid `T` (not UTF-8, too long, not JSON, a bad field) yields a
/// `DataErr` naming `source:line` and the stream goes on; an I/O error ends it.
pub fn read<T: DeserializeOwned, R: BufRead + 'static>(
    reader: R,
    source: &str,
) -> impl Iterator<Item = Line<T>> + '_ {
    let source = source.to_string();
    let mut reader = reader;
    let mut line = 0;
    let mut done = false;
    let mut buf = Vec::new();
    std::iter::from_fn(move || loop {
        if done {
            return None;
        }
        line += 1;
        let at = format!("{source}:{line}");
        buf.clear();
        let read = (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut buf);
        match read {
            Err(e) => {
                done = true;
                return Some(Line { line, record: Err(Failure::io(at, &e)) });
            }
            Ok(0) => return None,
            Ok(_) if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') => {
                // Skip the rest of the line.
                if let Err(e) = skip_line(&mut reader) {
                    done = true;
                    return Some(Line { line, record: Err(Failure::io(at, &e)) });
                }
                let why = format!("{at}: line longer than {} MiB", MAX_LINE >> 20);
                return Some(Line { line, record: Err(Failure::data(why)) });
            }
            Ok(_) => {}
        }
        let body = buf.strip_prefix(BOM).unwrap_or(&buf);
        let text = match std::str::from_utf8(body) {
            Ok(text) => text,
            Err(e) => {
                // JSON Lines are UTF-8: this is binary or corrupt input, and every further
                // "line" of it would be one more error line. The stream ends here.
                done = true;
                let byte = e.valid_up_to() + 1 + (buf.len() - body.len());
                let why = format!("{at}: not UTF-8 text (byte {byte} of the line)");
                return Some(Line { line, record: Err(Failure::data(why)) });
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        // Without its line end: a truncated record ends on this line (`(column N)`).
        let text = text.trim_end_matches(['\n', '\r']);
        let record = parse::<T>(text).map_err(|f| f.context(&at));
        return Some(Line { line, record });
    })
}

fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(nl) => {
                reader.consume(nl + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

/// Opens a tool's input: a file, or stdin when the path is absent or `-`; also returns the
/// source name for error messages (`-` for stdin).
pub fn open(path: Option<&std::path::Path>) -> Result<(Box<dyn BufRead>, String)> {
    match path {
        Some(p) if p != std::path::Path::new("-") => {
            let f = crate::fsutil::open_input(p)?;
            Ok((Box::new(std::io::BufReader::new(f)), p.display().to_string()))
        }
        _ => {
            crate::cli::note_terminal_stdin("records");
            Ok((Box::new(std::io::BufReader::new(std::io::stdin())), "-".into()))
        }
    }
}

/// The tokens Python's `json.dumps` writes for non-finite floats (not JSON).
const NON_FINITE: [&str; 3] = ["NaN", "Infinity", "-Infinity"];

/// Parses one JSON Lines record; an error names the field path (`plan.total_nodes: …`,
/// capped at [`PATH_SHOWN`] characters) and the column. A non-finite number (Python's `NaN`,
/// `Infinity`, or `1e999`) is not JSON: it is reported as `FIELD: not a finite number`.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T> {
    let text = text.trim_start_matches('\u{feff}');
    let bad = |path: &str, e: serde_json::Error| {
        // `?` is a segment serde could not name (the end of a truncated line).
        let at = match path.trim_end_matches(".?") {
            "" | "." | "?" => String::new(),
            path => format!("{}: ", crate::cli::shorten(path, PATH_SHOWN)),
        };
        let token = text
            .lines()
            .nth(e.line().saturating_sub(1))
            .and_then(|l| l.get(e.column().saturating_sub(1)..))
            .unwrap_or("");
        let message = e.to_string();
        let non_finite = NON_FINITE.iter().any(|t| token.starts_with(t))
            || message.starts_with("number out of range");
        // The record is one line: its column is what locates the error.
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let why = match message.strip_suffix(&suffix) {
            Some(_) if non_finite && !at.is_empty() => {
                format!("not a finite number (column {})", e.column())
            }
            Some(why) if e.line() <= 1 => format!("{why} (column {})", e.column()),
            _ => message.clone(),
        };
        Failure::new(Exit::DataErr, format!("invalid record: {at}{why}"))
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de)
        .map_err(|e| bad(&e.path().to_string(), e.into_inner()))?;
    de.end().map_err(|e| bad("", e))?;
    Ok(value)
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

    #[derive(Deserialize, Debug)]
    struct Plan {
        #[allow(dead_code)]
        plan: Inner,
    }
    #[derive(Deserialize, Debug)]
    struct Inner {
        #[allow(dead_code)]
        total_nodes: u32,
        #[allow(dead_code)]
        #[serde(default)]
        metrics: std::collections::BTreeMap<String, f64>,
    }

    fn errors(input: &[u8]) -> Vec<(usize, Exit, String)> {
        read::<Plan, _>(std::io::Cursor::new(input.to_vec()), "in.jsonl")
            .filter_map(|l| l.record.err().map(|f| (l.line, f.exit, f.message)))
            .collect()
    }

    #[test]
    fn bad_lines_are_data_errors_by_line_and_field() {
        let input = b"{\"plan\":{\"total_nodes\":1}}\n\
            {\"plan\":{\"total_nodes\":-1}}\n\
            {\"plan\":{\"total_nodes\":2,\"metrics\":{\"mean_ttft\":NaN}}}\n\
            {\"plan\":{\"total_nodes\":1}} x\n\
            \n\
            {\"plan\":{}}\n\
            {\"plan\":{\"total_nodes\":1\r\n\
            {\"plan\":{\"total_nodes\":\"\xff\"}}\n\
            \xff\n\
            {\"plan\":{\"total_nodes\":1}}\n";
        let got = errors(input);
        let want = [
            (2, "in.jsonl:2: invalid record: plan.total_nodes: invalid value: integer `-1`, expected u32 (column 25)"),
            (3, "in.jsonl:3: invalid record: plan.metrics.mean_ttft: not a finite number (column 49)"),
            (4, "in.jsonl:4: invalid record: trailing characters (column 28)"),
            (6, "in.jsonl:6: invalid record: plan: missing field `total_nodes` (column 10)"),
            (7, "in.jsonl:7: invalid record: plan: EOF while parsing an object (column 24)"),
            (8, "in.jsonl:8: not UTF-8 text (byte 25 of the line)"),
        ];
        let got_msgs: Vec<(usize, &str)> = got.iter().map(|(l, _, m)| (*l, m.as_str())).collect();
        assert_eq!(got_msgs, want);
        assert!(got.iter().all(|(_, e, _)| *e == Exit::DataErr));
    }

    #[test]
    fn a_byte_order_mark_is_skipped_on_any_line() {
        let input = b"\xef\xbb\xbf{\"plan\":{\"total_nodes\":1}}\n\xef\xbb\xbf\n\
            \xef\xbb\xbf{\"plan\":{\"total_nodes\":2}}\n\xef\xbb\xbf{\"plan\":{\"total_nodes\":\"\xff\"}}\n";
        let got: Vec<_> = read::<Plan, _>(std::io::Cursor::new(input.to_vec()), "-")
            .map(|l| (l.line, l.record.map(|p| p.plan.total_nodes).map_err(|f| f.message)))
            .collect();
        let want = vec![
            (1, Ok(1)),
            (3, Ok(2)),
            (4, Err("-:4: not UTF-8 text (byte 28 of the line)".to_string())),
        ];
        assert_eq!(got, want);
    }

    #[derive(Deserialize, Debug)]
    struct Deep(#[allow(dead_code)] Vec<Deep>);

    #[test]
    fn a_deep_field_path_is_capped() {
        let deep = format!("{}1{}\n", "[".repeat(120), "]".repeat(120));
        let got: Vec<_> = read::<Deep, _>(std::io::Cursor::new(deep.into_bytes()), "in.jsonl")
            .map(|l| l.record.unwrap_err().message)
            .collect();
        let path = format!("{}[0… (360 bytes)", "[0]".repeat(26));
        let want = format!(
            "in.jsonl:1: invalid record: {path}: invalid type: integer `1`, expected a sequence \
             (column 121)"
        );
        assert_eq!(got, [want]);
    }

    #[test]
    fn non_finite_numbers_are_named_by_field() {
        for value in ["NaN", "Infinity", "-Infinity", "1e999"] {
            let line =
                format!("{{\"plan\":{{\"total_nodes\":1,\"metrics\":{{\"x\":{value}}}}}}}\n");
            let got = errors(line.as_bytes());
            assert_eq!(got.len(), 1, "{value}");
            assert!(
                got[0].2.starts_with(
                    "in.jsonl:1: invalid record: plan.metrics.x: not a finite number (column "
                ),
                "{value}: {}",
                got[0].2
            );
        }
    }

    #[test]
    fn overlong_line_is_reported_and_skipped() {
        let mut input = vec![b' '; MAX_LINE + 10];
        input.extend_from_slice(b"\n{\"plan\":{\"total_nodes\":3}}\n");
        let lines: Vec<_> = read::<Plan, _>(std::io::Cursor::new(input), "-").collect();
        assert_eq!(lines.len(), 2);
        let err = lines[0].record.as_ref().unwrap_err();
        assert_eq!(err.message, "-:1: line longer than 64 MiB");
        assert_eq!(err.exit, Exit::DataErr);
        assert!(lines[1].record.is_ok());
        assert_eq!(lines[1].line, 2);
    }

    #[test]
    fn writes_one_line_per_record() {
        let mut w = Writer::new(Vec::new());
        w.write(&R { a: 1 }).unwrap();
        w.write(&R { a: 2 }).unwrap();
        assert_eq!(String::from_utf8(w.into_inner()).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
    }
}
