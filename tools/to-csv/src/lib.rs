//! Metric records → the legacy perf-DB CSV.
//!
//! # Legacy format (default)
//! One row per metric record: `network, batchsize, precision, framework, command`, then one
//! `<metric>__<unit>` column per entry of [`COLUMNS`] (in that order), then `status` and
//! `reasons`. Failed records are kept (`status` = `failed`, `reasons` joined with `; `), and
//! their metric cells are EMPTY (a failed run has no result, and an empty cell is never read as
//! a 0); their count cells (`*__count`, `duration__sec`) keep what the client counted.
//!
//! # Spreadsheet safety
//! CSV is written with the `csv` crate (RFC 4180 quoting). A text cell that starts with `=`,
//! `+`, `-`, `@`, a tab or a carriage return (a formula to a spreadsheet, e.g.
//! `=HYPERLINK(…)`, `@SUM(…)`) is neutralised by a leading `'` (the OWASP rule); numbers are
//! left as they are.
//!
//! * `network` = the test id
//! * `batchsize` = the client concurrency
//! * `precision` = `context.precision` of the record, else a precision word of the test id
//!   (`fp4`, `nvfp4`, `fp8`, `bf16`, …), else empty
//! * `framework` = `trtllm`
//! * `command` = `{server}-{client}` (the incumbent's `s_test_case_name`), or whichever is known
//!
//! # Mapping table
//! | column                   | record field                                  |
//! |--------------------------|-----------------------------------------------|
//! | `throughput__qps`        | `seq_throughput` (request throughput, req/s)  |
//! | `tokens_per__sec`        | `token_throughput` (OUTPUT tokens/s)          |
//! | `total_tokens_per__sec`  | `total_token_throughput` (input+output tok/s) |
//! | `user_tokens_per__sec`   | `user_throughput` (tok/s per user)            |
//! | `{mean,median,p99}_{ttft,tpot,itl,e2el}__ms` | the metric of that name   |
//! | `al__tokens_per_iter`    | `al` (spec-decode acceptance length)          |
//! | `mean_gen_worker_per_iter_device_step_time__ms` | that metric            |
//! | `goodput__qps`           | `request_goodput`                             |
//! | `gpu_util_mean__pct`, `gpu_util_max__pct` | `gpu_util_mean`, `gpu_util_max` (nvidia-smi `utilization.gpu`, %) |
//! | `gpu_mem_used_max__mib`  | `gpu_mem_used_max` (MiB)                      |
//! | `gpu_power_mean__w`      | `gpu_power_mean` (all the run's GPUs, W)      |
//! | `gpu_energy_per_token__j_per_token` | `gpu_energy_per_token` (J per output token) |
//! | `cache_hit_rate__pct`    | `cache_hit_rate` (trace replay: cached / input tokens, %) |
//! | `cached_tokens__count`, `sessions__count`, `turns__count` | `total_cached_tokens`, `sessions`, `turns` (trace replay) |
//! | `duration__sec`          | `counts.duration_s`                           |
//! | `total_requests__count`, `successful_requests__count`, `failed_requests__count`, `input_tokens__count`, `output_tokens__count` | `counts.*` |
//!
//! Other metrics (`p90_ttft`, `std_itl`, energy, …) get `<metric>__<unit>` columns
//! (units: `ms`, `req/s` → `qps`, `tok/s` → `tokens_per_sec`, `s` → `sec`, `tokens/iter` →
//! `tokens_per_iter`, `%` → `pct`) with `--columns all` or by name, e.g. bench's
//! `mean_ttft_turn_1__ms`.
//!
//! # Wide format
//! For spreadsheets: one row per test and concurrency (sorted), with `test_id, server, client,
//! concurrency, isl, osl, precision, status, reasons`, then every metric column of the input.

use perfline::wire::metrics::{Counts, MetricRecord, Status};

/// Where a column's value comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    Metric(&'static str),
    Count(fn(&Counts) -> Option<f64>),
}

/// The fixed metric columns, in output order: (header, source).
pub const COLUMNS: &[(&str, Source)] = &[
    ("throughput__qps", Source::Metric("seq_throughput")),
    ("tokens_per__sec", Source::Metric("token_throughput")),
    ("total_tokens_per__sec", Source::Metric("total_token_throughput")),
    ("user_tokens_per__sec", Source::Metric("user_throughput")),
    ("mean_ttft__ms", Source::Metric("mean_ttft")),
    ("median_ttft__ms", Source::Metric("median_ttft")),
    ("p99_ttft__ms", Source::Metric("p99_ttft")),
    ("mean_tpot__ms", Source::Metric("mean_tpot")),
    ("median_tpot__ms", Source::Metric("median_tpot")),
    ("p99_tpot__ms", Source::Metric("p99_tpot")),
    ("mean_itl__ms", Source::Metric("mean_itl")),
    ("median_itl__ms", Source::Metric("median_itl")),
    ("p99_itl__ms", Source::Metric("p99_itl")),
    ("mean_e2el__ms", Source::Metric("mean_e2el")),
    ("median_e2el__ms", Source::Metric("median_e2el")),
    ("p99_e2el__ms", Source::Metric("p99_e2el")),
    ("al__tokens_per_iter", Source::Metric("al")),
    (
        "mean_gen_worker_per_iter_device_step_time__ms",
        Source::Metric("mean_gen_worker_per_iter_device_step_time"),
    ),
    ("goodput__qps", Source::Metric("request_goodput")),
    ("gpu_util_mean__pct", Source::Metric("gpu_util_mean")),
    ("gpu_util_max__pct", Source::Metric("gpu_util_max")),
    ("gpu_mem_used_max__mib", Source::Metric("gpu_mem_used_max")),
    ("gpu_power_mean__w", Source::Metric("gpu_power_mean")),
    ("gpu_energy_per_token__j_per_token", Source::Metric("gpu_energy_per_token")),
    ("cache_hit_rate__pct", Source::Metric("cache_hit_rate")),
    ("cached_tokens__count", Source::Metric("total_cached_tokens")),
    ("sessions__count", Source::Metric("sessions")),
    ("turns__count", Source::Metric("turns")),
    ("duration__sec", Source::Count(|c| c.duration_s)),
    ("total_requests__count", Source::Count(|c| c.total_requests.map(|v| v as f64))),
    ("successful_requests__count", Source::Count(|c| c.successful_requests.map(|v| v as f64))),
    ("failed_requests__count", Source::Count(|c| c.failed_requests.map(|v| v as f64))),
    ("input_tokens__count", Source::Count(|c| c.total_input_tokens.map(|v| v as f64))),
    ("output_tokens__count", Source::Count(|c| c.total_output_tokens.map(|v| v as f64))),
];

/// The case columns of the legacy format.
pub const KEYS: [&str; 5] = ["network", "batchsize", "precision", "framework", "command"];
/// The wide format's leading columns.
pub const WIDE_KEYS: [&str; 9] =
    ["test_id", "server", "client", "concurrency", "isl", "osl", "precision", "status", "reasons"];

/// One chosen metric column.
#[derive(Debug, Clone)]
pub struct Column {
    pub header: String,
    pub source: ColumnSource,
}

#[derive(Debug, Clone, Copy)]
pub enum ColumnSource {
    Fixed(Source),
    /// A metric outside the table (owned name kept in `header`'s prefix).
    Extra,
}

impl Column {
    /// The cell's value; `None` (an empty cell) for a metric of a failed record.
    pub fn value(&self, r: &MetricRecord) -> Option<f64> {
        let metric = !matches!(self.source, ColumnSource::Fixed(Source::Count(_)));
        if metric && r.status == Status::Failed {
            return None;
        }
        match self.source {
            ColumnSource::Fixed(Source::Metric(name)) => r.metrics.get(name).copied(),
            ColumnSource::Fixed(Source::Count(get)) => get(&r.counts),
            ColumnSource::Extra => {
                let name = self.header.split("__").next().unwrap_or_default();
                r.metrics.get(name).copied()
            }
        }
    }
}

/// `ms` → `ms`, `req/s` → `qps`, `tok/s` → `tokens_per_sec`, anything else sanitised.
pub fn unit_word(unit: &str) -> String {
    match unit {
        "req/s" => "qps".into(),
        "tok/s" => "tokens_per_sec".into(),
        "s" => "sec".into(),
        "tokens/iter" => "tokens_per_iter".into(),
        "%" => "pct".into(),
        "" => "value".into(),
        u => u
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .collect(),
    }
}

/// Every metric of `records` that the table does not cover, as sorted extra columns.
pub fn extra_columns(records: &[MetricRecord]) -> Vec<Column> {
    let fixed: Vec<&str> = COLUMNS
        .iter()
        .filter_map(|(_, s)| match s {
            Source::Metric(m) => Some(*m),
            Source::Count(_) => None,
        })
        .collect();
    let mut extra = std::collections::BTreeMap::new();
    for r in records {
        for name in r.metrics.keys().filter(|m| !fixed.contains(&m.as_str())) {
            let unit = r.units.get(name).map(String::as_str).unwrap_or("");
            extra.entry(name.clone()).or_insert_with(|| unit_word(unit));
        }
    }
    extra
        .into_iter()
        .map(|(name, unit)| Column {
            header: format!("{name}__{unit}"),
            source: ColumnSource::Extra,
        })
        .collect()
}

/// Resolves `--columns`: `default`, `all`, or names (a header like `mean_ttft__ms`, or a
/// metric name like `mean_ttft` or `p90_ttft`). Unknown names are an error.
pub fn choose(spec: &[String], records: &[MetricRecord]) -> Result<Vec<Column>, String> {
    let fixed = || {
        COLUMNS
            .iter()
            .map(|(h, s)| Column { header: h.to_string(), source: ColumnSource::Fixed(*s) })
    };
    let extras = extra_columns(records);
    let mut out: Vec<Column> = Vec::new();
    for name in spec.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let found: Vec<Column> = match name {
            "default" => fixed().collect(),
            "all" => fixed().chain(extras.iter().cloned()).collect(),
            _ => {
                let by_header = fixed().find(|c| c.header == name);
                let by_metric = fixed().find(
                    |c| matches!(c.source, ColumnSource::Fixed(Source::Metric(m)) if m == name),
                );
                let extra = extras
                    .iter()
                    .find(|c| c.header == name || c.header.split("__").next() == Some(name));
                match by_header.or(by_metric).or_else(|| extra.cloned()) {
                    Some(c) => vec![c],
                    None => {
                        return Err(format!(
                            "unknown column {name:?} (not in the mapping table nor in the input)"
                        ))
                    }
                }
            }
        };
        for c in found {
            if !out.iter().any(|o| o.header == c.header) {
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// `context.precision`, else a precision word in the test id.
pub fn precision(r: &MetricRecord) -> String {
    if let Some(p) = r.context.get("precision").and_then(|v| v.as_str()) {
        return p.to_string();
    }
    const WORDS: [&str; 10] =
        ["nvfp4", "mxfp4", "fp4", "fp8", "fp16", "bf16", "int8", "int4", "w4a8", "w4a16"];
    r.test_id
        .to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| WORDS.contains(w))
        .unwrap_or_default()
        .to_string()
}

/// The `command` column.
pub fn command(r: &MetricRecord) -> String {
    match (&r.server, &r.client) {
        (Some(s), Some(c)) => format!("{s}-{c}"),
        (Some(s), None) => s.clone(),
        (None, Some(c)) => c.clone(),
        (None, None) => String::new(),
    }
}

fn status(r: &MetricRecord) -> &'static str {
    match r.status {
        Status::Ok => "ok",
        Status::Failed => "failed",
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A text cell made safe for spreadsheets: one that a spreadsheet would run as a formula
/// (leading `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`, unless it is a plain number.
pub fn neutralise(s: &str) -> std::borrow::Cow<'_, str> {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula && s.parse::<f64>().is_err() {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// Writes rows of text cells as CSV (RFC 4180 quoting), each cell neutralised.
pub struct Csv {
    out: csv::Writer<Vec<u8>>,
}

impl Csv {
    pub fn new() -> Csv {
        Csv { out: csv::WriterBuilder::new().flexible(true).from_writer(Vec::new()) }
    }
    pub fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let cells: Vec<String> =
            cells.into_iter().map(|c| neutralise(c.as_ref()).into_owned()).collect();
        // Into memory, with rows of any width: this cannot fail.
        let _ = self.out.write_record(&cells);
    }
    pub fn finish(self) -> String {
        let bytes = self.out.into_inner().unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }
}

impl Default for Csv {
    fn default() -> Csv {
        Csv::new()
    }
}

/// One CSV row (with its `\n`), as [`Csv`] writes it.
pub fn line<S: AsRef<str>>(cells: impl IntoIterator<Item = S>) -> String {
    let mut csv = Csv::new();
    csv.row(cells);
    csv.finish()
}

/// The legacy CSV: header + one row per record, in input order.
pub fn legacy(records: &[MetricRecord], columns: &[Column]) -> String {
    let mut header: Vec<String> = KEYS.iter().map(|k| k.to_string()).collect();
    header.extend(columns.iter().map(|c| c.header.clone()));
    header.extend(["status".to_string(), "reasons".to_string()]);
    let mut out = Csv::new();
    out.row(&header);
    for r in records {
        let mut row =
            vec![r.test_id.clone(), opt(r.concurrency), precision(r), "trtllm".into(), command(r)];
        row.extend(columns.iter().map(|c| opt(c.value(r))));
        row.extend([status(r).to_string(), r.reasons.join("; ")]);
        out.row(&row);
    }
    out.finish()
}

/// The wide CSV: one row per test and concurrency, sorted, every metric column.
pub fn wide(records: &[MetricRecord], columns: &[Column]) -> String {
    let mut sorted: Vec<&MetricRecord> = records.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.test_id, a.concurrency, &a.server, &a.client).cmp(&(
            &b.test_id,
            b.concurrency,
            &b.server,
            &b.client,
        ))
    });
    let mut header: Vec<String> = WIDE_KEYS.iter().map(|k| k.to_string()).collect();
    header.extend(columns.iter().map(|c| c.header.clone()));
    let mut out = Csv::new();
    out.row(&header);
    for r in sorted {
        let mut row = vec![
            r.test_id.clone(),
            r.server.clone().unwrap_or_default(),
            r.client.clone().unwrap_or_default(),
            opt(r.concurrency),
            opt(r.isl),
            opt(r.osl),
            precision(r),
            status(r).to_string(),
            r.reasons.join("; "),
        ];
        row.extend(columns.iter().map(|c| opt(c.value(r))));
        out.row(&row);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> MetricRecord {
        serde_json::from_str(perfline::wire::metrics::EXAMPLE).unwrap()
    }

    #[test]
    fn throughput_columns_are_not_swapped() {
        let r = record();
        let cols = choose(&["throughput__qps".into(), "tokens_per__sec".into()], &[]).unwrap();
        assert_eq!(cols[0].value(&r), r.metrics.get("seq_throughput").copied());
        assert_eq!(cols[0].value(&r), Some(3.2));
        assert_eq!(cols[1].value(&r), r.metrics.get("token_throughput").copied());
        assert_eq!(cols[1].value(&r), Some(204.8));
    }

    #[test]
    fn quoting() {
        assert_eq!(line(["a,b"]), "\"a,b\"\n");
        assert_eq!(line(["say \"hi\""]), "\"say \"\"hi\"\"\"\n");
        assert_eq!(line(["two\nlines"]), "\"two\nlines\"\n");
        assert_eq!(line(["plain"]), "plain\n");
        assert_eq!(line(["a", "", "c,d"]), "a,,\"c,d\"\n");
    }

    #[test]
    fn formulas_are_neutralised_numbers_are_not() {
        for (cell, safe) in [
            ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
            ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("-1.5", "-1.5"),
            ("+3", "+3"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(neutralise(cell), safe, "{cell:?}");
        }
        assert_eq!(line(["=1+1", "x"]), "'=1+1,x\n");
        assert_eq!(line(["\r=1"]), "\"'\r=1\"\n");
    }

    #[test]
    fn failed_rows_have_empty_metric_cells_and_keep_counts() {
        let mut r = record();
        r.status = Status::Failed;
        r.reasons = vec!["2 failed requests".into()];
        r.metrics.insert("mean_ttft".into(), 0.0);
        let cols = choose(&["default".into()], &[]).unwrap();
        let csv = legacy(&[r], &cols);
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows.len(), 2);
        let header: Vec<&str> = rows[0].split(',').collect();
        let cells: Vec<&str> = rows[1].split(',').collect();
        assert_eq!(header.len(), cells.len());
        for (h, c) in header.iter().zip(&cells) {
            match *h {
                "network" => assert_eq!(*c, "aggr-cfg-srv"),
                "total_requests__count" | "successful_requests__count" => assert_eq!(*c, "8"),
                "failed_requests__count" => assert_eq!(*c, "0"),
                "duration__sec" => assert_eq!(*c, "2.5"),
                "status" => assert_eq!(*c, "failed"),
                "reasons" => assert_eq!(*c, "2 failed requests"),
                "input_tokens__count" => assert_eq!(*c, "1024"),
                "output_tokens__count" => assert_eq!(*c, "512"),
                h if KEYS.contains(&h) => {}
                h => assert_eq!(*c, "", "{h} of a failed row"),
            }
        }
    }

    #[test]
    fn gpu_telemetry_has_legacy_columns() {
        let mut r = record();
        for (m, v, u) in [
            ("gpu_util_mean", 65.0, "%"),
            ("gpu_util_max", 100.0, "%"),
            ("gpu_mem_used_max", 90000.0, "MiB"),
            ("gpu_power_mean", 400.0, "W"),
            ("gpu_energy_per_token", 1.5, "J/token"),
        ] {
            r.metrics.insert(m.into(), v);
            r.units.insert(m.into(), u.into());
        }
        let cols = choose(&["default".into()], &[]).unwrap();
        let csv = legacy(std::slice::from_ref(&r), &cols);
        let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
        let cell = |h: &str| rows[1][rows[0].iter().position(|c| *c == h).unwrap()];
        assert_eq!(cell("gpu_util_mean__pct"), "65");
        assert_eq!(cell("gpu_util_max__pct"), "100");
        assert_eq!(cell("gpu_mem_used_max__mib"), "90000");
        assert_eq!(cell("gpu_power_mean__w"), "400");
        assert_eq!(cell("gpu_energy_per_token__j_per_token"), "1.5");
        // Fixed columns, so `all` adds no extra column for them.
        assert_eq!(choose(&["all".into()], &[r]).unwrap().len(), COLUMNS.len());
    }

    #[test]
    fn trace_replay_metrics_have_columns() {
        let mut r = record();
        for (m, v, u) in [
            ("cache_hit_rate", 27.59, "%"),
            ("total_cached_tokens", 8.0, "tokens"),
            ("sessions", 3.0, "count"),
            ("turns", 4.0, "count"),
            ("mean_ttft_turn_1", 2.6, "ms"),
            ("mean_ttft_turn_2", 2.2, "ms"),
        ] {
            r.metrics.insert(m.into(), v);
            r.units.insert(m.into(), u.into());
        }
        let recs = [r];
        let cols = choose(&["all".into()], &recs).unwrap();
        let csv = legacy(&recs, &cols);
        let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
        let cell = |h: &str| rows[1][rows[0].iter().position(|c| *c == h).unwrap()];
        assert_eq!(cell("cache_hit_rate__pct"), "27.59");
        assert_eq!(cell("cached_tokens__count"), "8");
        assert_eq!(cell("sessions__count"), "3");
        assert_eq!(cell("turns__count"), "4");
        assert_eq!(cell("mean_ttft_turn_1__ms"), "2.6");
        assert_eq!(cell("mean_ttft_turn_2__ms"), "2.2");
        assert_eq!(cols.len(), COLUMNS.len() + 2, "the turns are the only extra columns");
    }

    #[test]
    fn precision_from_context_or_id() {
        let mut r = record();
        r.test_id = "disagg-e2e-gb200_deepseek-r1-fp4_1k1k_con1024".into();
        assert_eq!(precision(&r), "fp4");
        r.context.insert("precision".into(), "FP8".into());
        assert_eq!(precision(&r), "FP8");
        r.context.clear();
        r.test_id = "aggr-llama".into();
        assert_eq!(precision(&r), "");
    }

    #[test]
    fn choose_by_metric_header_all_and_unknown() {
        let mut r = record();
        r.metrics.insert("p90_ttft".into(), 2.0);
        r.units.insert("p90_ttft".into(), "ms".into());
        let recs = [r];
        let cols = choose(&["mean_ttft".into(), "p90_ttft".into(), "mean_ttft__ms".into()], &recs)
            .unwrap();
        let headers: Vec<_> = cols.iter().map(|c| c.header.as_str()).collect();
        assert_eq!(headers, ["mean_ttft__ms", "p90_ttft__ms"]);
        assert_eq!(cols[1].value(&recs[0]), Some(2.0));
        assert_eq!(choose(&["all".into()], &recs).unwrap().len(), COLUMNS.len() + 1);
        assert!(choose(&["nope".into()], &recs).unwrap_err().contains("\"nope\""));
    }
}
