//! Inputs → records: format detection, streaming of text logs, stdin context records.

use crate::record::{self, Context, Position};
use crate::text::{Block, TextParser, STEP_TIME};
use crate::{genlog, json, junit};
use perfline::cli::Result;
use perfline::wire::metrics::{MetricRecord, Status};
use perfline::{jsonl, Exit, Failure, Reporter};
use serde_json::Value;
use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Input formats (`auto` sniffs the first bytes).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Auto,
    Text,
    Json,
    Junit,
    GenLog,
}

/// The `--gen-log` result, added to every record.
#[derive(Debug, Default, Clone)]
pub struct GenLog {
    pub requested: bool,
    pub value: Option<f64>,
    pub reasons: Vec<String>,
}

impl GenLog {
    pub fn scan(paths: &[PathBuf]) -> GenLog {
        let mut gen = GenLog { requested: !paths.is_empty(), ..GenLog::default() };
        let mut scans = Vec::new();
        for path in paths {
            match genlog::scan_file(path) {
                Ok(scan) => scans.push(scan),
                Err(e) => gen.reasons.push(format!("gen log {}: {e}", path.display())),
            }
        }
        gen.value = genlog::combine(&scans);
        gen
    }
    fn apply(&self, block: &mut Block) {
        if let Some(v) = self.value {
            block.metrics.insert(Cow::Borrowed(STEP_TIME), v);
            block.units.insert(Cow::Borrowed(STEP_TIME), Cow::Borrowed("ms"));
        }
    }
}

/// Batches output: `flush` reaches the OS at most every 50 ms (a log with 100k result blocks
/// would otherwise cost 100k write calls); [`Throttled::finish`] always does.
pub struct Throttled<W: Write> {
    inner: std::io::BufWriter<W>,
    last: std::time::Instant,
}

impl<W: Write> Throttled<W> {
    pub fn new(inner: W) -> Throttled<W> {
        Throttled {
            inner: std::io::BufWriter::with_capacity(1 << 16, inner),
            last: std::time::Instant::now(),
        }
    }
    pub fn finish(mut self) -> std::io::Result<W> {
        self.inner.flush()?;
        self.inner.into_inner().map_err(|e| e.into_error())
    }
}

impl<W: Write> Write for Throttled<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.last.elapsed() >= std::time::Duration::from_millis(50) {
            self.inner.flush()?;
            self.last = std::time::Instant::now();
        }
        Ok(())
    }
}

/// Where records go: stdout, one-line diagnostics, the JUnit summaries and the exit class.
pub struct Sink<W: Write> {
    out: Throttled<W>,
    /// One serialised record (reused).
    line: Vec<u8>,
    reporter: Reporter,
    /// Kept only for `--junit` (`None` otherwise: memory stays flat on huge logs).
    pub summaries: Option<Vec<junit::Summary>>,
    exit: Exit,
    /// The first failed write to the output: it ends the run (it is no input's fault).
    output_failed: Option<Failure>,
}

impl<W: Write> Sink<W> {
    pub fn new(out: W, keep_summaries: bool) -> Sink<W> {
        Sink {
            out: Throttled::new(out),
            line: Vec::new(),
            reporter: Reporter::new("parse-metrics"),
            summaries: keep_summaries.then(Vec::new),
            exit: Exit::Ok,
            output_failed: None,
        }
    }
    /// Writes a record; a failed one is also reported on stderr.
    pub fn record(&mut self, rec: &MetricRecord) -> Result<()> {
        if rec.status == Status::Failed {
            let source = rec.source.as_deref().unwrap_or("-");
            self.reporter.error(
                Exit::Failed,
                format!("{source}: {}: {}", rec.test_id, rec.reasons.join("; ")),
            );
            self.raise(Exit::Failed);
        }
        if let Some(summaries) = &mut self.summaries {
            summaries.push(junit::Summary::of(rec));
        }
        // What `jsonl::Writer` writes, serialised straight into the buffer (no copy per record).
        self.line.clear();
        serde_json::to_writer(&mut self.line, rec)
            .map_err(|e| Failure::software(format!("cannot serialize record: {e}")))?;
        self.line.push(b'\n');
        let written = self.out.write_all(&self.line).and_then(|()| self.out.flush());
        self.output(written)
    }
    fn output(&mut self, written: std::io::Result<()>) -> Result<()> {
        written.map_err(|e| {
            let failure = Failure::io("stdout", &e);
            self.output_failed.get_or_insert_with(|| failure.clone());
            failure
        })
    }
    /// The output failed (e.g. a closed stdout): parsing stops with this error.
    pub fn output_failed(&self) -> Option<&Failure> {
        self.output_failed.as_ref()
    }
    /// Reports a problem with an input (no record, or in addition to a failed one).
    pub fn problem(&mut self, exit: Exit, message: impl std::fmt::Display) {
        self.reporter.error(exit, message);
        self.raise(exit);
    }
    /// Raises the exit class: input problems outrank failed records, which outrank ok.
    pub fn raise(&mut self, exit: Exit) {
        let rank = |e: Exit| match e {
            Exit::Ok => 0,
            Exit::Failed => 1,
            _ => 2,
        };
        if rank(exit) > rank(self.exit) {
            self.exit = exit;
        }
    }
    pub fn exit(&self) -> Exit {
        self.exit
    }
    /// Flushes everything written; call before exiting.
    pub fn finish(self) -> Result<W> {
        self.out.finish().map_err(|e| Failure::io("stdout", &e))
    }
}

/// What one input produced, for the caller's no-result handling.
struct Parsed {
    blocks: usize,
    markers: Vec<String>,
    tail: Vec<String>,
}

/// Parses one file (or `-`).
pub fn file<W: Write>(
    path: &Path,
    format: Format,
    ctx: &Context,
    gen: &GenLog,
    sink: &mut Sink<W>,
) -> Result<()> {
    let name = path.display().to_string();
    if name == "-" {
        return stdin(format, ctx, gen, sink);
    }
    match perfline::fsutil::open_input(path) {
        Ok(f) => reader(f, &name, format, ctx, gen, sink),
        Err(failure) => unreadable(&name, failure, ctx, sink),
    }
}

/// An input that cannot be read: a failed record when the test is known, always a diagnostic.
fn unreadable<W: Write>(
    name: &str,
    failure: Failure,
    ctx: &Context,
    sink: &mut Sink<W>,
) -> Result<()> {
    if let Some(output) = sink.output_failed() {
        return Err(output.clone());
    }
    if ctx.test_id.is_some() {
        let why = format!("cannot read client output: {}", failure.message);
        sink.record(&record::no_result(ctx, name, why, Vec::new(), Vec::new()))?;
        sink.raise(failure.exit);
    } else {
        sink.problem(failure.exit, failure.message);
    }
    Ok(())
}

/// Parses stdin: text (streamed), JSON (save-result, or context records), JUnit.
pub fn stdin<W: Write>(
    format: Format,
    ctx: &Context,
    gen: &GenLog,
    sink: &mut Sink<W>,
) -> Result<()> {
    let stdin = std::io::stdin().lock();
    let mut head = Vec::new();
    let mut input = stdin.take(64 * 1024);
    input.read_to_end(&mut head).map_err(|e| Failure::io("-", &e))?;
    let rest = input.into_inner();
    let format = if format == Format::Auto { sniff(&head) } else { format };
    let all = std::io::Cursor::new(head).chain(rest);
    if format == Format::Json {
        let mut bytes = Vec::new();
        { all }.read_to_end(&mut bytes).map_err(|e| Failure::io("-", &e))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let is_results = serde_json::Deserializer::from_str(&json::python_literals(&text))
            .into_iter::<Value>()
            .next()
            .and_then(|d| d.ok())
            .is_some_and(|d| {
                json::is_result(&d) || d.as_array().is_some_and(|a| a.iter().any(json::is_result))
            });
        if !is_results {
            // Records are read as bytes: a line that is not UTF-8 is said so, by line.
            return context_records(bytes, ctx, gen, sink);
        }
        return json_text(Doc { text: &text, name: "stdin", ctx, gen }, sink);
    }
    dispatch(all, "stdin", format, ctx, gen, sink)
}

fn reader<W: Write>(
    mut f: impl Read,
    name: &str,
    format: Format,
    ctx: &Context,
    gen: &GenLog,
    sink: &mut Sink<W>,
) -> Result<()> {
    let mut head = Vec::new();
    (&mut f).take(64 * 1024).read_to_end(&mut head).map_err(|e| Failure::io(name, &e))?;
    let format = if format == Format::Auto { sniff(&head) } else { format };
    dispatch(std::io::Cursor::new(head).chain(f), name, format, ctx, gen, sink)
}

fn dispatch<W: Write>(
    input: impl Read,
    name: &str,
    format: Format,
    ctx: &Context,
    gen: &GenLog,
    sink: &mut Sink<W>,
) -> Result<()> {
    match format {
        Format::Json => json_text(Doc { text: &read_all(input, name)?, name, ctx, gen }, sink),
        Format::Junit => junit_text(Doc { text: &read_all(input, name)?, name, ctx, gen }, sink),
        Format::GenLog => match genlog::scan(input) {
            Ok(scan) => {
                let value = genlog::combine(&[scan]);
                let gen = GenLog { requested: true, value, reasons: gen.reasons.clone() };
                gen_only_record(name, ctx, &gen, sink)
            }
            Err(e) => unreadable(name, Failure::io(name, &e), ctx, sink),
        },
        Format::Text | Format::Auto => {
            let parsed =
                text_stream(BufReader::with_capacity(1 << 18, input), name, ctx, gen, sink);
            match parsed {
                Ok(p) => no_block_check(p, name, ctx, sink),
                Err(f) => unreadable(name, f, ctx, sink),
            }
        }
    }
}

/// `auto`: `{`/`[` → JSON, `<` → JUnit, a gen-worker log without a result block → gen-log.
pub fn sniff(head: &[u8]) -> Format {
    let first =
        head.iter().find(|b| !b.is_ascii_whitespace() && **b != 0xef && **b != 0xbb && **b != 0xbf);
    match first {
        Some(b'{') | Some(b'[') => Format::Json,
        Some(b'<') => Format::Junit,
        _ => {
            let has = |needle: &[u8]| memchr::memmem::find(head, needle).is_some();
            if has(b"prev_device_step_time") && !has(b"Serving Benchmark Result") && !has(b" (ms):")
            {
                Format::GenLog
            } else {
                Format::Text
            }
        }
    }
}

fn read_all(mut input: impl Read, name: &str) -> Result<String> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes).map_err(|e| Failure::io(name, &e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The context a record is judged in: the caller's plus the gen-log reasons, and the
/// required metrics (resolved once per input, not per block).
struct Verdict {
    ctx: Context,
    required: Vec<String>,
}

impl Verdict {
    fn new(ctx: &Context, gen: &GenLog) -> Verdict {
        let mut ctx = ctx.clone();
        ctx.reasons.extend(gen.reasons.iter().cloned());
        let required = ctx.required(gen.requested);
        Verdict { ctx, required }
    }
}

/// Streams a text log line by line, emitting one record per block as soon as the next one
/// starts (the last block is held: whether it is one of several decides its client name).
fn text_stream<W: Write>(
    mut input: impl BufRead,
    name: &str,
    ctx: &Context,
    gen: &GenLog,
    sink: &mut Sink<W>,
) -> Result<Parsed> {
    let verdict = Verdict::new(ctx, gen);
    let mut parser = TextParser::new();
    let mut held: Option<Block> = None;
    let mut index = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).map_err(|e| Failure::io(name, &e))? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line));
        if let Some(block) = parser.line(&text) {
            let block = with_tail(block, || parser.tail(), gen, &verdict);
            if let Some(prev) = held.replace(block) {
                index += 1;
                emit(prev, &verdict, Position { source: name, index, several: true }, gen, sink)?;
            }
        }
    }
    if let Some(block) = parser.finish() {
        let block = with_tail(block, || parser.tail(), gen, &verdict);
        if let Some(prev) = held.replace(block) {
            index += 1;
            emit(prev, &verdict, Position { source: name, index, several: true }, gen, sink)?;
        }
    }
    if let Some(last) = held {
        index += 1;
        emit(last, &verdict, Position { source: name, index, several: index > 1 }, gen, sink)?;
    }
    Ok(Parsed {
        blocks: parser.blocks(),
        markers: parser.stray_markers.clone(),
        tail: parser.tail(),
    })
}

/// A finished block judged, keeping the log lines up to its end (copied only when failed).
fn with_tail(
    mut block: Block,
    tail: impl FnOnce() -> Vec<String>,
    gen: &GenLog,
    verdict: &Verdict,
) -> Block {
    gen.apply(&mut block);
    let reasons = record::reasons(&block, &verdict.ctx, &verdict.required);
    if !reasons.is_empty() {
        block.log_tail = tail();
    }
    block.reasons = Some(reasons);
    block
}

fn emit<W: Write>(
    mut block: Block,
    verdict: &Verdict,
    at: Position,
    gen: &GenLog,
    sink: &mut Sink<W>,
) -> Result<()> {
    gen.apply(&mut block);
    sink.record(&record::build(block, &verdict.ctx, &verdict.required, at))
}

/// No result block: DataErr, and a failed record when the test is known.
fn no_block_check<W: Write>(
    parsed: Parsed,
    name: &str,
    ctx: &Context,
    sink: &mut Sink<W>,
) -> Result<()> {
    if parsed.blocks > 0 {
        return Ok(());
    }
    let markers = parsed.markers.iter().map(|m| format!("failure marker {m}")).collect();
    let why = format!("no benchmark result block in {name}");
    unparsed(ctx, name, why, "no benchmark result block", markers, parsed.tail, sink)
}

/// Input with no result in it is bad data; when the test is known, it still leaves a failed
/// record (`why`, markers, log tail), else a one-line problem `NAME: PROBLEM`.
fn unparsed<W: Write>(
    ctx: &Context,
    name: &str,
    why: String,
    problem: impl std::fmt::Display,
    markers: Vec<String>,
    tail: Vec<String>,
    sink: &mut Sink<W>,
) -> Result<()> {
    if ctx.test_id.is_some() {
        sink.record(&record::no_result(ctx, name, why, markers, tail))?;
        sink.raise(Exit::DataErr);
    } else {
        sink.problem(Exit::DataErr, format!("{name}: {problem}"));
    }
    Ok(())
}

/// A whole structured input (a `--save-result` JSON or a JUnit XML file) and its context.
struct Doc<'a> {
    text: &'a str,
    name: &'a str,
    ctx: &'a Context,
    gen: &'a GenLog,
}

fn json_text<W: Write>(doc: Doc<'_>, sink: &mut Sink<W>) -> Result<()> {
    let Doc { text, name, ctx, gen } = doc;
    match json::parse(text) {
        Ok(blocks) => {
            let verdict = Verdict::new(ctx, gen);
            let several = blocks.len() > 1;
            let count = blocks.len();
            for (i, block) in blocks.into_iter().enumerate() {
                emit(block, &verdict, Position { source: name, index: i + 1, several }, gen, sink)?;
            }
            let tail = text
                .lines()
                .rev()
                .take(crate::text::TAIL_LINES)
                .map(str::to_string)
                .collect::<Vec<_>>();
            let tail = tail.into_iter().rev().collect();
            no_block_check(Parsed { blocks: count, markers: Vec::new(), tail }, name, ctx, sink)
        }
        Err(e) => unparsed(ctx, name, e.clone(), e, Vec::new(), Vec::new(), sink),
    }
}

fn junit_text<W: Write>(doc: Doc<'_>, sink: &mut Sink<W>) -> Result<()> {
    let Doc { text, name, ctx, gen } = doc;
    let cases = junit::cases(text);
    if cases.is_empty() {
        return no_block_check(
            Parsed { blocks: 0, markers: Vec::new(), tail: Vec::new() },
            name,
            ctx,
            sink,
        );
    }
    for case in cases {
        let mut case_ctx = ctx.clone();
        if case_ctx.test_id.is_none() {
            case_ctx.test_id = case.id.clone();
        }
        case_ctx.reasons.extend(case.failures.iter().cloned());
        let parsed = text_stream(case.system_out.as_bytes(), name, &case_ctx, gen, sink)?;
        no_block_check(parsed, name, &case_ctx, sink)?;
    }
    Ok(())
}

/// `--format gen-log` inputs: one record holding the step time.
pub fn gen_only_record<W: Write>(
    name: &str,
    ctx: &Context,
    gen: &GenLog,
    sink: &mut Sink<W>,
) -> Result<()> {
    let mut ctx = ctx.clone();
    if ctx.required.is_none() {
        ctx.required = Some(vec![STEP_TIME.to_string()]);
    }
    ctx.reasons.extend(gen.reasons.iter().cloned());
    let mut block = Block::default();
    gen.apply(&mut block);
    let required = ctx.required(true);
    let rec =
        record::build(block, &ctx, &required, Position { source: name, index: 1, several: false });
    sink.record(&rec)?;
    if gen.value.is_none() {
        sink.raise(Exit::DataErr);
    }
    Ok(())
}

/// JSON records on stdin: each gives the context and names the client log(s) to parse.
fn context_records<W: Write>(
    bytes: Vec<u8>,
    base: &Context,
    gen: &GenLog,
    sink: &mut Sink<W>,
) -> Result<()> {
    for line in jsonl::read::<Value, _>(std::io::Cursor::new(bytes), "-") {
        let value = match line.record {
            Ok(v) => v,
            Err(f) => {
                sink.problem(f.exit, f.message);
                continue;
            }
        };
        let ctx = context_of(&value, base);
        if ctx.test_id.is_none() {
            sink.problem(
                Exit::DataErr,
                format!("-:{}: record has no `id` or `test_id`", line.line),
            );
            continue;
        }
        let logs = logs_of(&value);
        if !logs.is_empty() {
            for log in logs {
                file(&log, Format::Auto, &ctx, gen, sink)?;
            }
        } else if let Ok(rec) = serde_json::from_value::<MetricRecord>(value.clone()) {
            let mut ctx = ctx;
            ctx.reasons.extend(rec.reasons.iter().cloned());
            let source = rec.source.clone().unwrap_or_else(|| format!("-:{}", line.line));
            let block = Block {
                metrics: rec.metrics.into_iter().map(|(k, v)| (k.into(), v)).collect(),
                units: rec.units.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
                counts: rec.counts,
                concurrency: rec.concurrency,
                log_tail: rec.log_tail,
                ..Block::default()
            };
            let at = Position { source: &source, index: 1, several: false };
            emit(block, &Verdict::new(&ctx, gen), at, gen, sink)?;
        } else {
            let why = "no client log: the record names no `log`, `source` or `workdir` with one"
                .to_string();
            let at = format!("-:{}", line.line);
            sink.record(&record::no_result(&ctx, &at, why, Vec::new(), Vec::new()))?;
            sink.raise(Exit::NoInput);
        }
    }
    Ok(())
}

/// Flags win; then the record's fields (`id`/`test_id`, `hints.*` for ISL/OSL/concurrency).
pub fn context_of(v: &Value, base: &Context) -> Context {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let u = |k: &str| {
        v.get(k)
            .and_then(Value::as_u64)
            .or_else(|| v.get("hints").and_then(|h| h.get(k)).and_then(Value::as_u64))
    };
    let mut ctx = base.clone();
    ctx.test_id = base.test_id.clone().or_else(|| s("test_id")).or_else(|| s("id"));
    ctx.attempt = base.attempt.clone().or_else(|| s("attempt"));
    ctx.server = base.server.clone().or_else(|| s("server"));
    ctx.client = base.client.clone().or_else(|| s("client"));
    ctx.concurrency = base.concurrency.or_else(|| u("concurrency"));
    ctx.isl = base.isl.or_else(|| u("isl"));
    ctx.osl = base.osl.or_else(|| u("osl"));
    ctx.exit_code = base
        .exit_code
        .or_else(|| v.get("exit_code").and_then(Value::as_i64).and_then(|c| i32::try_from(c).ok()));
    if let Some(extra) = v.get("context").and_then(Value::as_object) {
        for (k, val) in extra {
            ctx.extra.entry(k.clone()).or_insert_with(|| val.clone());
        }
    }
    ctx
}

/// The client logs a record names: `log`/`client_log`/`logs`, an existing `source`, or the
/// `trtllm-benchmark*.log` files of its `workdir`.
pub fn logs_of(v: &Value) -> Vec<PathBuf> {
    for key in ["log", "client_log", "logs"] {
        match v.get(key) {
            Some(Value::String(p)) => return vec![PathBuf::from(p)],
            Some(Value::Array(a)) => {
                return a.iter().filter_map(Value::as_str).map(PathBuf::from).collect()
            }
            _ => {}
        }
    }
    if let Some(source) = v.get("source").and_then(Value::as_str) {
        let path = match source.rsplit_once(':') {
            Some((p, line)) if line.bytes().all(|b| b.is_ascii_digit()) => p,
            _ => source,
        };
        if v.get("metrics").is_some() && Path::new(path).is_file() {
            return vec![PathBuf::from(path)];
        }
    }
    if let Some(dir) = v.get("workdir").and_then(Value::as_str) {
        let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("trtllm-benchmark") && n.ends_with(".log"))
            })
            .collect();
        logs.sort();
        return logs;
    }
    Vec::new()
}

/// The records of a text log (test id `t`, an attempt), as written: for the fuzz target and
/// the tests.
#[doc(hidden)]
pub fn parse_text(log: &[u8]) -> Vec<u8> {
    let ctx = Context {
        test_id: Some("t".into()),
        attempt: Some("20261129T120000.000Z".into()),
        ..Context::default()
    };
    let gen = GenLog::default();
    let run = || -> Result<Vec<u8>> {
        let mut sink = Sink::new(Vec::new(), false);
        let p = text_stream(log, "log", &ctx, &gen, &mut sink)?;
        no_block_check(p, "log", &ctx, &mut sink)?;
        sink.finish()
    };
    run().unwrap_or_else(|f| f.message.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inputs the `text` fuzz target found (tests/data/fuzz/text-*), under its checks.
    #[test]
    fn text_fuzz_findings_stay_fixed() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
        let mut found = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.file_name().unwrap().to_string_lossy().starts_with("text-") {
                continue;
            }
            found += 1;
            let log = std::fs::read(&path).unwrap();
            let streamed = parse_text(&log);
            for line in streamed.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let rec: MetricRecord = serde_json::from_slice(line).unwrap();
                for (name, v) in &rec.metrics {
                    assert!(v.is_finite() && (0.0..=1e15).contains(v), "{name} = {v}");
                    assert!(rec.status == Status::Ok || *v != 0.0, "{name} = 0 in failed");
                }
            }
        }
        assert!(found > 0);
    }

    /// The logs of tests/data, glued with noise, a stray marker and a bare namespace: their
    /// records are the bytes in tests/data/mixed*.jsonl (written by the parser before it was
    /// simplified: the output did not change).
    #[test]
    fn mixed_logs_give_the_recorded_bytes() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let mut log = Vec::new();
        for name in ["modern_ok.txt", "modern_failures.txt", "sweep.txt", "sa_client.txt"] {
            log.extend(std::fs::read(data.join(name)).unwrap());
            log.extend_from_slice(b"noise \xff line\n!FAILED REQUESTS!\n\n");
        }
        let twice = [log.as_slice(), b"Namespace(num_prompts=3)\n", log.as_slice()].concat();
        let lone = b"Namespace(max_concurrency=None)\nMean TTFT (ms): 1\nNamespace(x=1)\nnoise\n";
        for (log, want) in [
            (&log[..], "mixed.jsonl"),
            (&twice[..], "mixed_twice.jsonl"),
            (&lone[..], "mixed_lone.jsonl"),
        ] {
            let want = std::fs::read_to_string(data.join(want)).unwrap();
            assert_eq!(String::from_utf8_lossy(&parse_text(log)), want);
        }
    }

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff(b"  {\"a\":1}"), Format::Json);
        assert_eq!(sniff(b"\xef\xbb\xbf<?xml"), Format::Junit);
        assert_eq!(sniff(b"iter = 5, prev_device_step_time = 1ms"), Format::GenLog);
        assert_eq!(sniff(b"Mean TTFT (ms): 1\nprev_device_step_time"), Format::Text);
        assert_eq!(sniff(b""), Format::Text);
    }

    #[test]
    fn context_prefers_flags_then_record_then_hints() {
        let v: Value = serde_json::from_str(
            r#"{"id":"aggr-x","server":"s","hints":{"isl":1024,"osl":8},"osl":16,"exit_code":2,"context":{"gpu":"h200"}}"#,
        )
        .unwrap();
        let base = Context { server: Some("flag".into()), ..Context::default() };
        let ctx = context_of(&v, &base);
        assert_eq!(ctx.test_id.as_deref(), Some("aggr-x"));
        assert_eq!(ctx.server.as_deref(), Some("flag"));
        assert_eq!((ctx.isl, ctx.osl, ctx.exit_code), (Some(1024), Some(16), Some(2)));
        assert_eq!(ctx.extra.get("gpu"), Some(&Value::from("h200")));
    }
}
