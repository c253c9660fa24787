//! What launch writes on stdout: its job records (JSON Lines, the default when piped) or, for a
//! person at a terminal, one table row per job (test, job, state, time).

use perfline::cli::Result;
use perfline::jsonl::Writer;
use perfline::wire::job::JobRecord;
use perfline::Failure;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// `--format`: how job records are shown.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A table when stdout is a terminal, else JSON Lines.
    Auto,
    /// One JSON job record per line.
    Json,
    /// One row per job: test, job, state, time.
    Table,
}

impl Format {
    /// The format in effect: `auto` is a table on a terminal, records elsewhere; `--json`
    /// always means records.
    pub fn resolve(self, json: bool, stdout_is_terminal: bool) -> Format {
        match self {
            _ if json => Format::Json,
            Format::Auto if stdout_is_terminal => Format::Table,
            Format::Auto => Format::Json,
            other => other,
        }
    }
}

/// Where job records go: JSON Lines, or table rows (the header before the first row).
pub enum View<W: Write> {
    Json(Writer<W>),
    Table { out: W, header: bool },
}

/// Width of the test column (longer ids push the row, never cut).
const TEST_WIDTH: usize = 44;

impl View<std::io::Stdout> {
    pub fn stdout(format: Format, json: bool) -> View<std::io::Stdout> {
        View::new(format.resolve(json, std::io::stdout().is_terminal()), std::io::stdout())
    }
}

impl<W: Write> View<W> {
    pub fn new(format: Format, out: W) -> View<W> {
        match format {
            Format::Table => View::Table { out, header: false },
            _ => View::Json(Writer::new(out)),
        }
    }

    /// One job: its record, or its row (`took`: how long it ran, when it was followed).
    pub fn job(&mut self, rec: &JobRecord, took: Option<Duration>) -> Result<()> {
        match self {
            View::Json(w) => w.write(rec),
            View::Table { out, header } => {
                let mut text = String::new();
                if !*header {
                    text.push_str(&row("TEST", "JOB", "STATE", "TIME"));
                    *header = true;
                }
                let state = rec.state.as_deref().unwrap_or(if rec.job_id.is_some() {
                    "SUBMITTED"
                } else {
                    "RENDERED"
                });
                let time = took.map_or("-".to_string(), |d| format!("{:.1}s", d.as_secs_f64()));
                text.push_str(&row(&rec.id, rec.job_id.as_deref().unwrap_or("-"), state, &time));
                let io = |e: std::io::Error| Failure::io("stdout", &e);
                out.write_all(text.as_bytes()).map_err(io)?;
                out.flush().map_err(io)
            }
        }
    }
}

fn row(test: &str, job: &str, state: &str, time: &str) -> String {
    format!("{test:<TEST_WIDTH$}  {job:>8}  {state:<10}  {time:>8}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, job: Option<&str>, state: Option<&str>) -> JobRecord {
        JobRecord {
            id: id.into(),
            job_id: job.map(Into::into),
            script: "#!/bin/bash\n".into(),
            workdir: "/w".into(),
            attempt: None,
            commands: Vec::new(),
            state: state.map(Into::into),
            exit_code: None,
        }
    }

    #[test]
    fn auto_is_a_table_only_on_a_terminal_and_json_wins() {
        assert_eq!(Format::Auto.resolve(false, true), Format::Table);
        assert_eq!(Format::Auto.resolve(false, false), Format::Json);
        assert_eq!(Format::Auto.resolve(true, true), Format::Json);
        assert_eq!(Format::Table.resolve(false, false), Format::Table);
        assert_eq!(Format::Table.resolve(true, false), Format::Json);
    }

    #[test]
    fn table_rows_hold_test_job_state_time() {
        let mut v = View::new(Format::Table, Vec::new());
        v.job(&rec("aggr-a", Some("12"), Some("COMPLETED")), Some(Duration::from_millis(4250)))
            .unwrap();
        v.job(&rec("disagg-b", None, None), None).unwrap();
        let View::Table { out, .. } = v else { unreachable!() };
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(
            lines,
            [
                format!("{:<44}       JOB  STATE           TIME", "TEST"),
                format!("{:<44}        12  COMPLETED       4.2s", "aggr-a"),
                format!("{:<44}         -  RENDERED           -", "disagg-b"),
            ]
        );
    }
}
