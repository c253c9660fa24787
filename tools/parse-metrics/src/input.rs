//! Inputs → records: format detection, streaming of text logs, stdin context records.

use crate::record::{self, Context, Position};
use crate::text::{Block, Name, TextParser, STEP_TIME};
use crate::{genlog, json, junit};
use perfline::cli::Result;
use perfline::wire::metrics::{MetricRecord, Status};
use perfline::{jsonl, Exit, Failure, Reporter};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
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
    /// Writes records serialised elsewhere (whole lines, all `ok`; see [`Sink::plain`]).
    fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        let written = self.out.write_all(bytes).and_then(|()| self.out.flush());
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
    /// Records serialised elsewhere may bypass [`Sink::record`] (when `ok`): nothing is kept.
    fn plain(&self) -> bool {
        self.summaries.is_none()
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
    match std::fs::File::open(path) {
        Ok(f) => {
            let big = f.metadata().is_ok_and(|m| m.is_file() && m.len() >= 2 * WINDOW as u64);
            if big && matches!(format, Format::Auto | Format::Text) {
                let mut f = f;
                let mut head = Vec::new();
                (&mut f)
                    .take(64 * 1024)
                    .read_to_end(&mut head)
                    .map_err(|e| Failure::io(&name, &e))?;
                let format = if format == Format::Auto { sniff(&head) } else { format };
                let input = std::io::Cursor::new(head).chain(f);
                if format == Format::Text {
                    return match text_parallel(input, &name, ctx, gen, sink, WINDOW) {
                        Ok(p) => no_block_check(p, &name, ctx, sink),
                        Err(f) => unreadable(&name, f, ctx, sink),
                    };
                }
                return dispatch(input, &name, format, ctx, gen, sink);
            }
            reader(f, &name, format, ctx, gen, sink)
        }
        Err(e) => {
            let failure = Failure::io(&name, &e);
            unreadable(&name, failure, ctx, sink)
        }
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
    input.read_to_end(&mut head).map_err(|e| Failure::io("stdin", &e))?;
    let rest = input.into_inner();
    let format = if format == Format::Auto { sniff(&head) } else { format };
    let all = std::io::Cursor::new(head).chain(rest);
    if format == Format::Json {
        let text = read_all(all, "stdin")?;
        let is_results = serde_json::Deserializer::from_str(&json::python_literals(&text))
            .into_iter::<Value>()
            .next()
            .and_then(|d| d.ok())
            .is_some_and(|d| {
                json::is_result(&d) || d.as_array().is_some_and(|a| a.iter().any(json::is_result))
            });
        if !is_results {
            return context_records(&text, ctx, gen, sink);
        }
        return json_text(&text, "stdin", ctx, gen, sink);
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
        Format::Json => json_text(&read_all(input, name)?, name, ctx, gen, sink),
        Format::Junit => junit_text(&read_all(input, name)?, name, ctx, gen, sink),
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

/// Streams a text log, emitting one record per block as soon as the next one starts.
fn text_stream<W: Write>(
    input: impl BufRead,
    name: &str,
    ctx: &Context,
    gen: &GenLog,
    sink: &mut Sink<W>,
) -> Result<Parsed> {
    let verdict = Verdict::new(ctx, gen);
    let mut written = Ok(());
    let parsed = parse_blocks(input, name, gen, &verdict, |blocks| {
        for (block, at) in blocks.drain(..) {
            written = emit(block, &verdict, at, gen, sink);
            if written.is_err() {
                return false;
            }
        }
        true
    });
    written?;
    parsed
}

/// The parsing half of [`text_stream`]: blocks (with their tails when failed) go to `deliver`
/// in order, a batch at a time (it drains the batch), before each wait for more input;
/// `false` from it stops.
fn parse_blocks<'a>(
    mut input: impl BufRead,
    name: &'a str,
    gen: &GenLog,
    verdict: &Verdict,
    mut deliver: impl FnMut(&mut Vec<(Block, Position<'a>)>) -> bool,
) -> Result<Parsed> {
    let with_tail =
        |block: Block, parser: &TextParser| with_tail(block, || parser.tail(), gen, verdict);
    let mut parser = TextParser::new();
    let mut held: Option<Block> = None;
    let mut index = 0;
    let mut batch: Vec<(Block, Position)> = Vec::new();
    // A line split across buffer refills is gathered here; most lines are used in place.
    let mut partial: Vec<u8> = Vec::new();
    let mut on_line = |text: &str, parser: &mut TextParser, batch: &mut Vec<_>| {
        if let Some(block) = parser.line(text) {
            if let Some(prev) = held.replace(with_tail(block, parser)) {
                index += 1;
                batch.push((prev, Position { source: name, index, several: true }));
            }
        }
    };
    let lossy = |bytes: &[u8]| -> String { String::from_utf8_lossy(bytes).into_owned() };
    loop {
        if !batch.is_empty() && !deliver(&mut batch) {
            // The writer stopped (its error is the one reported).
            return Ok(Parsed { blocks: parser.blocks(), markers: Vec::new(), tail: Vec::new() });
        }
        let buf = input.fill_buf().map_err(|e| Failure::io(name, &e))?;
        if buf.is_empty() {
            break;
        }
        let mut start = 0;
        if !partial.is_empty() {
            let Some(nl) = memchr::memchr(b'\n', buf) else {
                partial.extend_from_slice(buf);
                let consumed = buf.len();
                input.consume(consumed);
                continue;
            };
            partial.extend_from_slice(&buf[..nl]);
            match std::str::from_utf8(&partial) {
                Ok(text) => on_line(text, &mut parser, &mut batch),
                Err(_) => on_line(&lossy(&partial), &mut parser, &mut batch),
            }
            partial.clear();
            start = nl + 1;
        }
        let rest = &buf[start..];
        let whole = memchr::memrchr(b'\n', rest).map_or(0, |nl| nl + 1);
        // The buffer's complete lines are checked as UTF-8 at once, not line by line.
        match std::str::from_utf8(&rest[..whole]) {
            Ok(text) => {
                let mut from = 0;
                for nl in memchr::memchr_iter(b'\n', text.as_bytes()) {
                    // `\n` is ASCII: both ends are on char boundaries.
                    on_line(text.get(from..nl).unwrap_or_default(), &mut parser, &mut batch);
                    from = nl + 1;
                }
            }
            Err(_) => {
                if whole > 0 {
                    for line in rest[..whole - 1].split(|b| *b == b'\n') {
                        match std::str::from_utf8(line) {
                            Ok(text) => on_line(text, &mut parser, &mut batch),
                            Err(_) => on_line(&lossy(line), &mut parser, &mut batch),
                        }
                    }
                }
            }
        }
        partial.extend_from_slice(&rest[whole..]);
        let consumed = buf.len();
        input.consume(consumed);
    }
    if !partial.is_empty() {
        match std::str::from_utf8(&partial) {
            Ok(text) => on_line(text, &mut parser, &mut batch),
            Err(_) => on_line(&lossy(&partial), &mut parser, &mut batch),
        }
    }
    if let Some(block) = parser.finish() {
        if let Some(prev) = held.replace(with_tail(block, &parser)) {
            index += 1;
            batch.push((prev, Position { source: name, index, several: true }));
        }
    }
    if let Some(last) = held {
        index += 1;
        batch.push((last, Position { source: name, index, several: index > 1 }));
    }
    if !batch.is_empty() {
        // `false` here means the writer stopped; its error is the one reported.
        deliver(&mut batch);
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

/// Bytes of a regular text file parsed per thread and round by [`text_parallel`] (files below
/// two windows are streamed by [`text_stream`]).
const WINDOW: usize = 4 << 20;

/// The lines of `bytes` (split at `\n`; a last line without one counts), each as the
/// streaming parser sees it.
fn for_lines(bytes: &[u8], mut f: impl FnMut(&str)) {
    for_lines_at(bytes, |line, _| f(line));
}

/// [`for_lines`], with the offset just past each line (and its `\n`).
fn for_lines_at(bytes: &[u8], mut f: impl FnMut(&str, usize)) {
    if bytes.is_empty() {
        return;
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let valid = std::str::from_utf8(body).ok();
    let mut from = 0;
    let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    for nl in ends {
        let end = (nl + 1).min(bytes.len());
        match valid {
            // Checked at once: `\n` is ASCII, so each line is on char boundaries.
            Some(text) => f(text.get(from..nl).unwrap_or_default(), end),
            None => match std::str::from_utf8(&body[from..nl]) {
                Ok(text) => f(text, end),
                Err(_) => f(&String::from_utf8_lossy(&body[from..nl]), end),
            },
        }
        from = nl + 1;
    }
}

/// The last [`crate::text::TAIL_LINES`] lines of `before` then `bytes` (trimmed, as kept by
/// the parser's tail).
fn last_lines(before: &[String], bytes: &[u8]) -> Vec<String> {
    let n = crate::text::TAIL_LINES;
    let mut out: Vec<String> = Vec::with_capacity(n);
    if bytes.is_empty() {
        out.extend(before[before.len().saturating_sub(n)..].iter().cloned());
        return out;
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let (mut start, mut count) = (body.len(), 0);
    loop {
        count += 1;
        match memchr::memrchr(b'\n', &body[..start]) {
            Some(nl) if count == n => {
                start = nl + 1;
                break;
            }
            Some(nl) => start = nl,
            None => {
                start = 0;
                break;
            }
        }
    }
    out.extend(before[before.len().saturating_sub(n - count)..].iter().cloned());
    for_lines(&bytes[start..], |l| out.push(l.trim_ascii_end().to_string()));
    out
}

/// A line where a log may be split: the parser's state after it does not depend on what came
/// before (a `Namespace(` line that is no header and holds no failure marker).
fn splits_here(line: &[u8]) -> bool {
    let has = |needle: &[u8]| memchr::memmem::find(line, needle).is_some();
    has(b"Namespace(")
        && !has(b"Serving Benchmark Result")
        && !has(b"!FAILED REQUESTS!")
        && !has(b"!CHECK LOG FOR ERRORS!")
}

/// The start (> 0) of the first splitting line at or after `from` in `buf`, or (`last`) of
/// the last one.
fn split_point(buf: &[u8], from: usize, last: bool) -> Option<usize> {
    let line_at = |at: usize| {
        let start = memchr::memrchr(b'\n', &buf[..at]).map_or(0, |n| n + 1);
        let stop = memchr::memchr(b'\n', &buf[at..]).map_or(buf.len(), |n| at + n);
        (start, stop)
    };
    let needle = b"Namespace(";
    if last {
        let finder = memchr::memmem::FinderRev::new(needle);
        let mut end = buf.len();
        while let Some(at) = finder.rfind(&buf[..end]) {
            let (start, stop) = line_at(at);
            if start > 0 && splits_here(&buf[start..stop]) {
                return Some(start);
            }
            end = start;
        }
    } else {
        let finder = memchr::memmem::Finder::new(needle);
        let mut pos = from;
        while let Some(i) = finder.find(&buf[pos..]) {
            let (start, stop) = line_at(pos + i);
            if start > 0 && splits_here(&buf[start..stop]) {
                return Some(start);
            }
            pos = stop;
        }
    }
    None
}

/// One piece of a log parsed on its own: `ok` records serialised (when the sink allows and
/// they do not depend on their index), other blocks kept, judged, with their offset in `bytes`
/// and the number of blocks before them in the piece; the last block is always kept apart.
struct Chunk {
    bytes: Vec<u8>,
    kept: Vec<(usize, usize, Block)>,
    last: Option<(usize, Block)>,
    parser: TextParser,
    /// The log lines up to the piece's end.
    tail: Vec<String>,
}

fn parse_chunk(
    input: &[u8],
    next: Option<&str>,
    (line_no, tail): (usize, Vec<String>),
    name: &str,
    (gen, verdict, plain): (&GenLog, &Verdict, bool),
) -> Result<Chunk> {
    // The tail is cut from `input` when a block fails, not kept line by line.
    let mut parser = TextParser::resume(line_no, Vec::new()).without_tail();
    let seed = tail;
    let mut bytes = Vec::with_capacity(input.len() / 2);
    let mut kept = Vec::new();
    let mut held: Option<(usize, Block)> = None;
    let mut count = 0;
    let mut failure = Ok(());
    let mut on_line = |text: &str, end: Option<usize>, parser: &mut TextParser| {
        let Some(block) = parser.line(text) else { return };
        let tail = || match end {
            Some(end) => last_lines(&seed, &input[..end]),
            None => last_lines(&last_lines(&seed, input), format!("{text}\n").as_bytes()),
        };
        let block = with_tail(block, tail, gen, verdict);
        let held = held.replace((count, block));
        count += 1;
        let Some((before, mut prev)) = held else { return };
        let ok = prev.reasons.as_ref().is_some_and(|r| r.is_empty());
        let named = prev.concurrency.or(verdict.ctx.concurrency).is_some();
        // A gate's warning goes in the record's context: written by `record::build`.
        let warned = !crate::gates::warnings(&prev).is_empty();
        if !(plain && ok && named) || warned || failure.is_err() {
            kept.push((bytes.len(), before, prev));
            return;
        }
        gen.apply(&mut prev);
        // Several blocks, a derived client name: the index is not used. The maps are
        // written from the block as they are (borrowed names), not copied into the record.
        let at = Position { source: name, index: before + 1, several: true };
        let metrics = std::mem::take(&mut prev.metrics);
        let units = std::mem::take(&mut prev.units);
        let rec = record::build(prev, &verdict.ctx, &verdict.required, at);
        let len = bytes.len();
        match write_ok(&mut bytes, &rec, &metrics, &units) {
            Ok(()) => bytes.push(b'\n'),
            Err(e) => {
                bytes.truncate(len);
                failure = Err(Failure::software(format!("cannot serialize record: {e}")));
            }
        }
    };
    for_lines_at(input, |l, end| on_line(l, Some(end), &mut parser));
    match next {
        // The next piece's `Namespace(` line ends the open block, as when streaming.
        // (Only the last piece's tail and line count are used afterwards.)
        Some(line) => on_line(line, None, &mut parser),
        None => {
            if let Some(block) = parser.finish() {
                let block = with_tail(block, || last_lines(&seed, input), gen, verdict);
                if let Some((before, prev)) = held.replace((count, block)) {
                    kept.push((bytes.len(), before, prev));
                }
            }
        }
    }
    failure?;
    let tail = last_lines(&seed, input);
    Ok(Chunk { bytes, kept, last: held, parser, tail })
}

/// What `serde_json::to_writer` writes for an `ok` record (no reasons, no log tail) whose
/// metrics and units are `metrics` and `units` (the record's own maps are left out), without
/// its per-field dispatch; strings and floats still go through serde_json.
fn write_ok(
    out: &mut Vec<u8>,
    rec: &MetricRecord,
    metrics: &BTreeMap<Name, f64>,
    units: &BTreeMap<Name, Name>,
) -> serde_json::Result<()> {
    fn string(out: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
            Ok(())
        } else {
            serde_json::to_writer(&mut *out, s)
        }
    }
    fn int(out: &mut Vec<u8>, key: &str, v: Option<u64>) {
        if let Some(v) = v {
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(v.to_string().as_bytes());
        }
    }
    if rec.status != Status::Ok || !rec.reasons.is_empty() || !rec.log_tail.is_empty() {
        let rec = MetricRecord {
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            units: units.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..rec.clone()
        };
        return serde_json::to_writer(out, &rec);
    }
    out.extend_from_slice(b"{\"test_id\":");
    string(out, &rec.test_id)?;
    let fields = [
        (",\"attempt\":", &rec.attempt),
        (",\"server\":", &rec.server),
        (",\"client\":", &rec.client),
    ];
    for (key, v) in fields {
        if let Some(v) = v {
            out.extend_from_slice(key.as_bytes());
            string(out, v)?;
        }
    }
    int(out, ",\"concurrency\":", rec.concurrency);
    int(out, ",\"isl\":", rec.isl);
    int(out, ",\"osl\":", rec.osl);
    out.extend_from_slice(b",\"status\":\"ok\",\"reasons\":[],\"metrics\":{");
    // Borrowed names and units are the parser's own literals (nothing to escape).
    fn name(out: &mut Vec<u8>, s: &Name) -> serde_json::Result<()> {
        match s {
            Cow::Borrowed(s) => {
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
                Ok(())
            }
            Cow::Owned(s) => string(out, s),
        }
    }
    for (i, (k, v)) in metrics.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        name(out, k)?;
        out.push(b':');
        serde_json::to_writer(&mut *out, v)?;
    }
    out.extend_from_slice(b"},\"units\":{");
    for (i, (k, v)) in units.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        name(out, k)?;
        out.push(b':');
        name(out, v)?;
    }
    out.extend_from_slice(b"},\"counts\":");
    serde_json::to_writer(&mut *out, &rec.counts)?;
    if let Some(source) = &rec.source {
        out.extend_from_slice(b",\"source\":");
        string(out, source)?;
    }
    if !rec.context.is_empty() {
        out.extend_from_slice(b",\"context\":");
        serde_json::to_writer(&mut *out, &rec.context)?;
    }
    out.push(b'}');
    Ok(())
}

/// [`text_stream`] for large files, on two threads: each round reads about two windows, cuts
/// them at `Namespace(` lines (where the parser's state restarts) and parses and serialises
/// the two pieces apart; the output is the streaming one, byte for byte.
fn text_parallel<W: Write>(
    mut input: impl Read,
    name: &str,
    ctx: &Context,
    gen: &GenLog,
    sink: &mut Sink<W>,
    window: usize,
) -> Result<Parsed> {
    let verdict = Verdict::new(ctx, gen);
    let job = (gen, &verdict, sink.plain());
    let mut buf: Vec<u8> = Vec::new();
    let mut want = 2 * window;
    let mut line_no = 0;
    let mut tail: Vec<String> = Vec::new();
    // The last block so far: its `several` depends on whether another one follows.
    let mut pending: Option<(usize, Block)> = None;
    let mut index = 0;
    let mut blocks_total = 0;
    let mut markers = Vec::new();
    loop {
        let have = buf.len();
        (&mut input)
            .take(want.saturating_sub(have) as u64)
            .read_to_end(&mut buf)
            .map_err(|e| Failure::io(name, &e))?;
        let eof = buf.len() < want;
        let cut = if eof {
            buf.len()
        } else {
            let region = memchr::memrchr(b'\n', &buf).map_or(0, |n| n + 1);
            match split_point(&buf[..region], 0, true) {
                Some(cut) => cut,
                None => {
                    // No place to cut yet: read more.
                    want *= 2;
                    continue;
                }
            }
        };
        want = 2 * window;
        let (win, rest) = buf.split_at(cut);
        let next_line = (!eof).then(|| {
            let line = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
            String::from_utf8_lossy(line).into_owned()
        });
        let mid = split_point(win, win.len() / 2, false);
        let (first, second) = win.split_at(mid.unwrap_or(win.len()));
        let lines = |bytes: &[u8]| memchr::memchr_iter(b'\n', bytes).count();
        // The window's lines, counted on the second thread (not between the rounds).
        let (chunks, win_lines) = if second.is_empty() {
            let chunk =
                parse_chunk(first, next_line.as_deref(), (line_no, tail.clone()), name, job);
            (vec![chunk], lines(first))
        } else {
            let first_line = &second[..memchr::memchr(b'\n', second).unwrap_or(second.len())];
            let first_line = String::from_utf8_lossy(first_line);
            let second_tail = last_lines(&tail, first);
            let first_at = (line_no, tail.clone());
            std::thread::scope(|s| {
                let other = s.spawn(|| {
                    let first_lines = lines(first);
                    let at = (line_no + first_lines, second_tail);
                    let chunk = parse_chunk(second, next_line.as_deref(), at, name, job);
                    (chunk, first_lines + lines(second))
                });
                let one = parse_chunk(first, Some(&first_line), first_at, name, job);
                let (two, win_lines) = other.join().expect("parser thread");
                (vec![one, two], win_lines)
            })
        };
        let mut last_tail = None;
        for chunk in chunks {
            let chunk = chunk?;
            let base = index;
            if chunk.last.is_some() {
                if let Some((at, block)) = pending.take() {
                    emit(
                        block,
                        &verdict,
                        Position { source: name, index: at, several: true },
                        gen,
                        sink,
                    )?;
                }
            }
            let mut from = 0;
            for (at, before, block) in chunk.kept {
                sink.raw(&chunk.bytes[from..at])?;
                from = at;
                let at = Position { source: name, index: base + before + 1, several: true };
                emit(block, &verdict, at, gen, sink)?;
            }
            sink.raw(&chunk.bytes[from..])?;
            if let Some((before, block)) = chunk.last {
                index = base + before + 1;
                pending = Some((index, block));
            }
            blocks_total += chunk.parser.blocks();
            markers.extend(chunk.parser.stray_markers.iter().cloned());
            last_tail = Some(chunk.tail);
        }
        if eof {
            if let Some((at, block)) = pending.take() {
                emit(
                    block,
                    &verdict,
                    Position { source: name, index: at, several: at > 1 },
                    gen,
                    sink,
                )?;
            }
            let tail = last_tail.unwrap_or(tail);
            return Ok(Parsed { blocks: blocks_total, markers, tail });
        }
        line_no += win_lines;
        tail = last_lines(&tail, win);
        buf.drain(..cut);
    }
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

fn json_text<W: Write>(
    text: &str,
    name: &str,
    ctx: &Context,
    gen: &GenLog,
    sink: &mut Sink<W>,
) -> Result<()> {
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

fn junit_text<W: Write>(
    text: &str,
    name: &str,
    ctx: &Context,
    gen: &GenLog,
    sink: &mut Sink<W>,
) -> Result<()> {
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
    text: &str,
    base: &Context,
    gen: &GenLog,
    sink: &mut Sink<W>,
) -> Result<()> {
    let reader = std::io::Cursor::new(text.as_bytes().to_vec());
    for line in jsonl::read::<Value, _>(reader, "stdin") {
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
                format!("stdin:{}: record has no `id` or `test_id`", line.line),
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
            let source = rec.source.clone().unwrap_or_else(|| format!("stdin:{}", line.line));
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
            let at = format!("stdin:{}", line.line);
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

/// The records of a text log (test id `t`), streamed and split with `window` (for the fuzz
/// target: both must be the same bytes).
#[doc(hidden)]
pub fn parse_both(log: &[u8], window: usize) -> (Vec<u8>, Vec<u8>) {
    both(log, window, false)
}

/// The streamed and the split parse of `log`, as written (with `--junit` summaries or not).
fn both(log: &[u8], window: usize, junit: bool) -> (Vec<u8>, Vec<u8>) {
    // With an attempt: the fast writer of the split parse must write it as serde does.
    let ctx = Context {
        test_id: Some("t".into()),
        attempt: Some("20261129T120000.000Z".into()),
        ..Context::default()
    };
    let gen = GenLog::default();
    let run = |split: bool| -> Result<Vec<u8>> {
        let mut sink = Sink::new(Vec::new(), junit);
        let p = if split {
            text_parallel(log, "log", &ctx, &gen, &mut sink, window)?
        } else {
            text_stream(log, "log", &ctx, &gen, &mut sink)?
        };
        no_block_check(p, "log", &ctx, &mut sink)?;
        sink.finish()
    };
    let show = |r: Result<Vec<u8>>| r.unwrap_or_else(|f| f.message.into_bytes());
    (show(run(false)), show(run(true)))
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
            for window in [1, 7, 64] {
                let (streamed, split) = parse_both(&log, window);
                assert_eq!(streamed, split, "{} window {window}", path.display());
                for line in streamed.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    let rec: MetricRecord = serde_json::from_slice(line).unwrap();
                    for (name, v) in &rec.metrics {
                        assert!(v.is_finite() && (0.0..=1e15).contains(v), "{name} = {v}");
                        assert!(rec.status == Status::Ok || *v != 0.0, "{name} = 0 in failed");
                    }
                }
            }
        }
        assert!(found > 0);
    }

    #[test]
    fn split_parse_writes_the_streamed_bytes() {
        let mut log = Vec::new();
        for name in ["modern_ok.txt", "modern_failures.txt", "sweep.txt", "sa_client.txt"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
            log.extend(std::fs::read(path).unwrap());
            log.extend_from_slice(b"noise \xff line\n!FAILED REQUESTS!\n\n");
        }
        let twice = [log.as_slice(), b"Namespace(num_prompts=3)\n", log.as_slice()].concat();
        for log in [&log, &twice] {
            for window in [1, 64, 300, 1000, 1 << 20] {
                for junit in [false, true] {
                    let (streamed, split) = both(log, window, junit);
                    assert!(!streamed.is_empty());
                    assert_eq!(
                        String::from_utf8_lossy(&streamed),
                        String::from_utf8_lossy(&split),
                        "window {window}"
                    );
                }
            }
        }
        let lone = b"Namespace(max_concurrency=None)\nMean TTFT (ms): 1\nNamespace(x=1)\nnoise\n";
        for window in [1, 8, 30] {
            let (streamed, split) = both(lone, window, false);
            assert_eq!(streamed, split, "window {window}");
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
