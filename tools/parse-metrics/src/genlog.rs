//! The gen-worker per-iteration device step time (reference/incumbent.md §5), streamed.
//!
//! Per file: every line matching `iter\s*=\s*(\d+),.*?prev_device_step_time\s*=\s*([\d.]+)\s*ms`
//! with iter ≥ 5 is a row; rows are bucketed by `'num_generation_tokens':\s*(\d+)` on the same
//! line; the bucket with most rows wins (ties → the larger ngen) and its mean is the file's
//! value; a file with no ngen at all uses the mean of all its rows. The result is the mean
//! over files that had rows.
//!
//! Memory is constant: the file is read in fixed chunks, only lines holding
//! `prev_device_step_time` are looked at (found with a SIMD substring search), and each bucket
//! keeps a count and a sum.

use memchr::memmem::Finder;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::LazyLock;

const CHUNK: usize = 1 << 18;
/// Lines of this length or more are skipped (no iteration line comes near it): the reader
/// drops a line that fills its whole buffer.
const LONG_LINE: usize = CHUNK;
const NEEDLE: &[u8] = b"prev_device_step_time";
const NGEN_KEY: &[u8] = b"'num_generation_tokens':";

// Built once: building a finder per search cost more than the search itself.
static FIND_NEEDLE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(NEEDLE));
static FIND_ITER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"iter"));
static FIND_NGEN: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(NGEN_KEY));

/// Sum and count of one bucket.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Acc {
    n: u64,
    sum: f64,
}

impl Acc {
    fn add(&mut self, v: f64) {
        self.n += 1;
        self.sum += v;
    }
    fn mean(self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

/// The scan of one file.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FileScan {
    /// Buckets in first-seen order; each sums its rows in file order (as the incumbent does).
    buckets: Vec<(u64, Acc)>,
    /// ngen → index in `buckets`; consulted only when ngen changes between rows.
    index: BTreeMap<u64, usize>,
    last: usize,
    all: Acc,
}

impl FileScan {
    /// Rows with iter ≥ 5.
    pub fn rows(&self) -> u64 {
        self.all.n
    }

    /// The mode bucket's mean (ties → larger ngen), else the mean of all rows.
    pub fn value(&self) -> Option<f64> {
        let mode = self.buckets.iter().max_by_key(|(ngen, acc)| (acc.n, *ngen));
        match mode {
            Some((_, acc)) => acc.mean(),
            None => self.all.mean(),
        }
    }

    /// Whole lines: only those holding the needle are looked at.
    fn region(&mut self, region: &[u8]) {
        rows(region, |ngen, step| self.add(ngen, step));
    }

    /// One row (iter ≥ 5), in file order.
    fn add(&mut self, ngen: Option<u64>, step: f64) {
        self.all.add(step);
        if let Some(ngen) = ngen {
            if self.buckets.get(self.last).is_none_or(|(n, _)| *n != ngen) {
                let next = self.buckets.len();
                self.last = *self.index.entry(ngen).or_insert(next);
                if self.last == next {
                    self.buckets.push((ngen, Acc::default()));
                }
            }
            if let Some((_, acc)) = self.buckets.get_mut(self.last) {
                acc.add(step);
            }
        }
    }
}

/// The rows (ngen, step time) of the whole lines in `region`, in order.
fn rows(region: &[u8], mut row: impl FnMut(Option<u64>, f64)) {
    let mut pos = 0;
    while let Some(hit) = FIND_NEEDLE.find(&region[pos..]) {
        let at = pos + hit;
        let line_start = memchr::memrchr(b'\n', &region[..at]).map_or(0, |p| p + 1);
        let line_end = memchr::memchr(b'\n', &region[at..]).map_or(region.len(), |p| at + p);
        if line_end - line_start < LONG_LINE {
            if let Some((ngen, step)) = line_row(&region[line_start..line_end], at - line_start) {
                row(ngen, step);
            }
        }
        pos = line_end;
    }
}

/// One line holding `prev_device_step_time` at byte `needle_at`: its row, if it is one.
fn line_row(line: &[u8], needle_at: usize) -> Option<(Option<u64>, f64)> {
    let (iter, step) = iter_and_step_at(line, needle_at)?;
    if iter < 5 {
        return None;
    }
    // The states dict usually follows the step time; the regex allows either side.
    let ngen = num_generation_tokens(line.get(needle_at..).unwrap_or_default())
        .or_else(|| num_generation_tokens(line.get(..needle_at).unwrap_or_default()));
    Some((ngen, step))
}

/// Scans a reader in chunks.
pub fn scan(mut reader: impl Read) -> std::io::Result<FileScan> {
    let mut scan = FileScan::default();
    let mut buf = vec![0u8; CHUNK];
    // Bytes [0, filled) hold data; [0, start) was already processed.
    let mut filled = 0;
    let mut skipping_long_line = false;
    loop {
        let n = reader.read(&mut buf[filled..])?;
        let eof = n == 0;
        filled += n;
        // Process only complete lines unless at EOF.
        let end = if eof {
            filled
        } else {
            match memchr::memrchr(b'\n', &buf[..filled]) {
                Some(p) => p + 1,
                None if filled == buf.len() => {
                    // One line fills the buffer: drop it up to its end.
                    skipping_long_line = true;
                    filled = 0;
                    continue;
                }
                None => continue,
            }
        };
        let mut start = 0;
        if skipping_long_line {
            start = memchr::memchr(b'\n', &buf[..end]).map_or(end, |p| p + 1);
            skipping_long_line = false;
        }
        scan.region(&buf[start..end]);
        if eof {
            return Ok(scan);
        }
        buf.copy_within(end..filled, 0);
        filled -= end;
    }
}

/// Scans a file with [`scan`].
pub fn scan_file(path: &std::path::Path) -> std::io::Result<FileScan> {
    scan(std::fs::File::open(path)?)
}

/// Mean over files with rows (the incumbent averages the per-file values).
pub fn combine(scans: &[FileScan]) -> Option<f64> {
    let values: Vec<f64> = scans.iter().filter_map(FileScan::value).collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// [`iter_and_step`] knowing where the first `prev_device_step_time` is: the usual line has
/// one `iter = N,` before it and a number after it; anything else takes the general path.
fn iter_and_step_at(line: &[u8], needle_at: usize) -> Option<(u64, f64)> {
    let head = line.get(..needle_at)?;
    let fast = FIND_ITER.find(head).and_then(|hit| {
        let (iter, _) = iter_value(head.get(hit + 4..)?)?;
        let step = step_value(line.get(needle_at + NEEDLE.len()..)?)?;
        Some((iter, step))
    });
    fast.or_else(|| iter_and_step(line))
}

/// The first `iter\s*=\s*(\d+),` followed later on the line by
/// `prev_device_step_time\s*=\s*([\d.]+)\s*ms` (the §5 regex, leftmost match).
fn iter_and_step(line: &[u8]) -> Option<(u64, f64)> {
    let mut from = 0;
    while let Some(hit) = FIND_ITER.find(&line[from..]) {
        let after_iter = from + hit + 4;
        if let Some((iter, rest)) = iter_value(&line[after_iter..]) {
            let rest_at = line.len() - rest.len();
            if let Some(step) = step_after(&line[rest_at..]) {
                return Some((iter, step));
            }
            // No numeric step time after this `iter`: none after a later one either.
            return None;
        }
        from = after_iter;
    }
    None
}

/// `\s*=\s*(\d+),` → the number and the text after the comma.
fn iter_value(s: &[u8]) -> Option<(u64, &[u8])> {
    let s = skip_ws(s).strip_prefix(b"=")?;
    let s = skip_ws(s);
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = s[digits..].strip_prefix(b",")?;
    Some((parse_u64(&s[..digits])?, rest))
}

/// The first `prev_device_step_time\s*=\s*([\d.]+)\s*ms` in `s`.
fn step_after(s: &[u8]) -> Option<f64> {
    let mut from = 0;
    while let Some(hit) = FIND_NEEDLE.find(&s[from..]) {
        let after = from + hit + NEEDLE.len();
        if let Some(v) = step_value(&s[after..]) {
            return Some(v);
        }
        from = after;
    }
    None
}

fn step_value(s: &[u8]) -> Option<f64> {
    let s = skip_ws(skip_ws(s).strip_prefix(b"=")?);
    let len = s.iter().take_while(|b| b.is_ascii_digit() || **b == b'.').count();
    if len == 0 || !skip_ws(&s[len..]).starts_with(b"ms") {
        return None;
    }
    decimal(&s[..len])
}

/// `[\d.]+` as Python's float() reads it (`1.2.3` and `.` are not numbers), exactly as
/// `str::parse::<f64>` does: digits that fit in 2^53 over a power of ten up to 10^22 are one
/// correctly rounded division (the Clinger fast path); anything else goes to `str::parse`.
fn decimal(text: &[u8]) -> Option<f64> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let mut mantissa = 0u64;
    let mut digits = 0usize;
    let mut dot = None;
    for (i, &b) in text.iter().enumerate() {
        if b == b'.' {
            if dot.is_some() {
                return None;
            }
            dot = Some(i);
        } else {
            digits += 1;
            if digits <= 19 {
                mantissa = mantissa * 10 + u64::from(b - b'0');
            }
        }
    }
    if digits == 0 {
        return None;
    }
    let scale = dot.map_or(0, |d| text.len() - d - 1);
    if digits <= 19 && mantissa <= 1 << 53 && scale < POW10.len() {
        return Some(mantissa as f64 / POW10[scale]);
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// `'num_generation_tokens':\s*(\d+)`.
fn num_generation_tokens(line: &[u8]) -> Option<u64> {
    let mut from = 0;
    while let Some(hit) = FIND_NGEN.find(&line[from..]) {
        let after = from + hit + NGEN_KEY.len();
        let s = skip_ws(&line[after..]);
        let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 {
            return parse_u64(&s[..digits]);
        }
        from = after;
    }
    None
}

fn skip_ws(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[n..]
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(iter: u64, step: &str, ngen: u64) -> String {
        format!("[TRT-LLM] [I] [_torch][RANK 0] iter = {iter}, global_rank = 0, rank = 0, host_step_time = 6.79ms, prev_device_step_time = {step}ms, timestamp = 2025-01-01 00:00:00, num_scheduled_requests: 4, states = {{'num_ctx_requests': 0, 'num_ctx_tokens': 0, 'num_generation_tokens': {ngen}}}\n")
    }

    #[test]
    fn mode_bucket_mean_skips_warmup() {
        let mut log = String::from("noise line\n");
        for i in 0..5 {
            log += &line(i, "1000.0", 512); // warm-up: ignored
        }
        log += &line(5, "N/A", 512).replace("N/Ams", "N/A ms");
        for (i, step) in ["7.0", "8.0", "9.0"].iter().enumerate() {
            log += &line(6 + i as u64, step, 512);
        }
        log += &line(9, "100.0", 256); // tail bucket with fewer rows
        let scan = scan(log.as_bytes()).unwrap();
        assert_eq!(scan.rows(), 4);
        assert_eq!(scan.value(), Some(8.0));
    }

    #[test]
    fn ties_go_to_larger_ngen_and_no_ngen_falls_back() {
        let log = line(5, "2.0", 256) + &line(6, "4.0", 512);
        assert_eq!(scan(log.as_bytes()).unwrap().value(), Some(4.0));
        let bare =
            "iter = 7, prev_device_step_time = 3.0 ms\niter = 8, prev_device_step_time=5ms\n";
        assert_eq!(scan(bare.as_bytes()).unwrap().value(), Some(4.0));
    }

    #[test]
    fn regex_edge_cases() {
        assert_eq!(iter_and_step(b"max_iter = 9, prev_device_step_time = 1.5ms"), Some((9, 1.5)));
        assert_eq!(iter_and_step(b"iter = 9 prev_device_step_time = 1.5ms"), None);
        assert_eq!(iter_and_step(b"iter = 9, prev_device_step_time = 1.2.3ms"), None);
        assert_eq!(iter_and_step(b"prev_device_step_time = 1.5ms, iter = 9,"), None);
        assert_eq!(num_generation_tokens(b"'num_generation_tokens': tensor(3)"), None);
        for line in [
            &b"max_iter_count = 3 iter = 9, prev_device_step_time = 1.5ms"[..],
            b"iter = 9, prev_device_step_time = N/A ms, x, prev_device_step_time = 2ms",
            b"iter = 9, prev_device_step_time = 4.25 ms",
            b"iter = 99prev_device_step_time = 4.25 ms",
        ] {
            let at = FIND_NEEDLE.find(line).unwrap();
            assert_eq!(iter_and_step_at(line, at), iter_and_step(line), "{line:?}");
        }
        assert_eq!(
            iter_and_step_at(
                b"iter = 9, prev_device_step_time = N/A ms, prev_device_step_time = 2ms",
                10
            ),
            Some((9, 2.0))
        );
    }

    #[test]
    fn lines_across_chunk_boundaries_and_combine() {
        let mut log = String::new();
        let mut i = 5;
        while log.len() < 3 * CHUNK {
            log += &line(i, "2.5", 64);
            i += 1;
        }
        let scan1 = scan(log.as_bytes()).unwrap();
        assert_eq!(scan1.rows(), i - 5);
        assert_eq!(scan1.value(), Some(2.5));
        let scan2 = scan(line(5, "4.5", 1).as_bytes()).unwrap();
        assert_eq!(combine(&[scan1, scan2, FileScan::default()]), Some(3.5));
        assert_eq!(combine(&[]), None);
    }

    #[test]
    fn decimal_is_str_parse() {
        let mut cases: Vec<String> = [
            "0",
            "7",
            "7.",
            ".5",
            "007.25",
            "9007199254740992",
            "9007199254740993",
            "7.498900890466998",
            "6.1234567890123456",
            "1234567890123456789012.5",
            "0.0000000000000000000001",
            "0.00000000000000000000001",
            "123456789.123456789",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = (x >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((x % 9) as i32 - 3);
            cases.push(format!("{v}"));
            cases.push(format!("{v:.3}"));
        }
        for c in &cases {
            assert_eq!(
                decimal(c.as_bytes()).map(f64::to_bits),
                c.parse::<f64>().ok().map(f64::to_bits),
                "{c}"
            );
        }
        for bad in [".", "..", "1.2.3", ""] {
            assert_eq!(decimal(bad.as_bytes()), None, "{bad}");
        }
    }
}
