//! Reading one input, all or nothing: every record is parsed and checked before anything is
//! stored, and the first bad one fails the whole input with `SOURCE:LINE: FIELD: reason`.

use crate::batch::Collector;
use perfline::cli::Result;
use perfline::jsonl;
use perfline::wire::metrics::MetricRecord;
use std::io::BufRead;

/// Every record of the file `input` (`-`: stdin), or the first problem with it: all or
/// nothing.
pub fn read_path(input: &str) -> Result<Vec<MetricRecord>> {
    if input == "-" {
        perfline::cli::note_terminal_stdin("metric records");
        return read_all(std::io::BufReader::new(std::io::stdin()), input);
    }
    // Never hangs on a named pipe; a directory is said to be one.
    let file = perfline::fsutil::open_input(std::path::Path::new(input))?;
    read_all(std::io::BufReader::new(file), input)
}

/// Reads every record of `reader` (`source` names it in errors) through the one JSON Lines
/// reader (`perfline::jsonl`). The first bad record, the first duplicate and a read error all
/// fail the input: no record of it is returned.
pub fn read_all(reader: impl BufRead + 'static, source: &str) -> Result<Vec<MetricRecord>> {
    let mut collector = Collector::default();
    for line in jsonl::read::<MetricRecord, _>(reader, source) {
        let record = line.record?;
        collector
            .add(line.line, record)
            .map_err(|f| f.context(format!("{source}:{}", line.line)))?;
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
            let want =
                "run.jsonl:2: invalid record: metrics.mean_ttft: not a finite number (column";
            assert!(err.message.starts_with(want), "{value}: {}", err.message);
        }
    }

    /// The same reader as every other tool: not UTF-8 is bad data (65) at its byte, a
    /// byte-order mark is skipped, an error's column is said as `(column N)`.
    #[test]
    fn bad_text_is_data_named_like_every_tool() {
        let mut input = with_metric("1.0").into_bytes();
        input.extend_from_slice(b"\n{\"test_id\":\"\xff\"}\n");
        let err = read_all(std::io::Cursor::new(input), "-").unwrap_err();
        assert_eq!(err.exit, Exit::DataErr);
        assert_eq!(err.message, "-:2: not UTF-8 text (byte 13 of the line)");
        let bom = format!("\u{feff}{}\n", with_metric("1.0"));
        assert_eq!(read(&bom).unwrap().len(), 1);
    }

    #[test]
    fn every_kind_of_bad_record_fails_the_whole_input() {
        let good = with_metric("2.0");
        let cases = [
            ("not json", "run.jsonl:2: invalid record: expected ident (column 2)"),
            (
                r#"{"test_id":"t","status":"ok","metrics":{"mean_ttft":"fast"}}"#,
                "run.jsonl:2: invalid record: metrics.mean_ttft: invalid type: string \"fast\", \
                 expected f64 (column 58)",
            ),
            (&with_metric("-1.0"), "run.jsonl:2: metrics.mean_ttft: negative value -1"),
            (&good, "run.jsonl:2: t: same case and metric \"a\" as line 1"),
            (r#"{"test_id":" ","status":"ok","metrics":{}}"#, "run.jsonl:2: test_id: empty"),
            (&format!("{good} x"), "run.jsonl:2: invalid record: trailing characters (column 67)"),
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
