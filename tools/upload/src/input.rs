//! Reading one input, all or nothing: every record is parsed and checked before anything is
//! stored, and the first bad one fails the whole input with `SOURCE:LINE: FIELD: reason`.

use crate::batch::Collector;
use perfline::cli::{Failure, Result};
use perfline::wire::metrics::MetricRecord;
use std::io::BufRead;

/// The tokens Python's `json.dumps` writes for non-finite floats (not JSON).
const NON_FINITE: [&str; 3] = ["NaN", "Infinity", "-Infinity"];

/// Parses one JSON Lines record. Errors name the field (`metrics.mean_ttft: not a finite
/// number`), not a column, wherever the field is known.
pub fn parse(text: &str) -> Result<MetricRecord> {
    let text = text.trim_start_matches('\u{feff}');
    let mut de = serde_json::Deserializer::from_str(text);
    let record = match serde_path_to_error::deserialize(&mut de) {
        Ok(r) => de.end().map(|()| r).map_err(|e| (".".to_string(), e)),
        Err(e) => Err((e.path().to_string(), e.into_inner())),
    };
    record.map_err(|(path, inner)| {
        let at = text
            .lines()
            .nth(inner.line().saturating_sub(1))
            .and_then(|l| l.get(inner.column().saturating_sub(1)..))
            .unwrap_or("");
        let non_finite = NON_FINITE.iter().any(|t| at.starts_with(t))
            || inner.to_string().starts_with("number out of range");
        if path != "." && non_finite {
            return Failure::data(format!("{path}: not a finite number"));
        }
        let message = inner.to_string();
        if path == "." {
            Failure::data(format!("invalid record: {message}"))
        } else {
            // The field names the place; the column adds nothing.
            let message = message.rsplit_once(" at line ").map_or(&*message, |(m, _)| m);
            Failure::data(format!("invalid record: {path}: {message}"))
        }
    })
}

/// Every record of the file `input` (`-`: stdin), or the first problem with it: all or
/// nothing.
pub fn read_path(input: &str) -> Result<Vec<MetricRecord>> {
    if input == "-" {
        perfline::cli::note_terminal_stdin("metric records");
        return read_all(std::io::BufReader::new(std::io::stdin()), input);
    }
    let file = std::fs::File::open(input).map_err(|e| Failure::io(input, &e))?;
    read_all(std::io::BufReader::new(file), input)
}

/// Reads every record of `reader` (`source` names it in errors). The first bad record, the
/// first duplicate and a read error all fail the input: no record of it is returned.
pub fn read_all(reader: impl BufRead, source: &str) -> Result<Vec<MetricRecord>> {
    let mut collector = Collector::default();
    for (idx, text) in reader.lines().enumerate() {
        let line = idx + 1;
        let text = text.map_err(|e| Failure::io(format!("{source}:{line}"), &e))?;
        if text.trim().is_empty() {
            continue;
        }
        parse(&text)
            .and_then(|r| collector.add(line, r))
            .map_err(|f| f.context(format!("{source}:{line}")))?;
    }
    Ok(collector.into_records())
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfline::Exit;

    fn read(text: &str) -> Result<Vec<MetricRecord>> {
        read_all(std::io::Cursor::new(text.as_bytes().to_vec()), "run.jsonl")
    }

    fn with_metric(value: &str) -> String {
        format!(r#"{{"test_id":"t","status":"ok","metrics":{{"a":1.0,"mean_ttft":{value}}}}}"#)
    }

    #[test]
    fn non_finite_numbers_are_named_by_field() {
        for value in ["NaN", "Infinity", "-Infinity", "1e999"] {
            let input = format!("{}\n{}\n", with_metric("1.5"), with_metric(value));
            let err = read(&input).unwrap_err();
            assert_eq!(err.exit, Exit::DataErr);
            assert_eq!(
                err.message, "run.jsonl:2: metrics.mean_ttft: not a finite number",
                "{value}"
            );
        }
    }

    #[test]
    fn every_kind_of_bad_record_fails_the_whole_input() {
        let good = with_metric("2.0");
        let cases = [
            ("not json", "run.jsonl:2: invalid record: expected ident at line 1 column 2"),
            (
                r#"{"test_id":"t","status":"ok","metrics":{"mean_ttft":"fast"}}"#,
                "run.jsonl:2: invalid record: metrics.mean_ttft: invalid type: string \"fast\", \
                 expected f64",
            ),
            (&with_metric("-1.0"), "run.jsonl:2: metrics.mean_ttft: negative value -1"),
            (&good, "run.jsonl:2: t: same case and metric \"a\" as line 1"),
            (r#"{"test_id":" ","status":"ok","metrics":{}}"#, "run.jsonl:2: test_id: empty"),
            (
                &format!("{good} x"),
                "run.jsonl:2: invalid record: trailing characters at line 1 column 67",
            ),
        ];
        for (bad, message) in cases {
            let err = read(&format!("{good}\n{bad}\n{good}\n")).unwrap_err();
            assert_eq!((err.exit, err.message.as_str()), (Exit::DataErr, message));
        }
    }

    #[test]
    fn blank_lines_are_skipped_and_lines_counted() {
        let records = read(&format!("\n{}\n  \n", with_metric("3.0"))).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].metrics["mean_ttft"], 3.0);
        let err = read(&format!("\n\n{}\n", with_metric("NaN"))).unwrap_err();
        assert!(err.message.starts_with("run.jsonl:3: "), "{}", err.message);
    }
}
