//! bench's command line: benchmark_serving's flags (names, defaults, meaning) plus bench's
//! own (`--api`, `--include-queueing`, `--max-error-rate`, `--threads`, …).

use bench::client::Api;
use clap::{Parser, ValueEnum};
use perfline::Failure;
use std::path::PathBuf;

/// OpenAI-compatible load generator with benchmark_serving's flags and output.
///
/// Timestamps are taken when each SSE event is read; TTFT, TPOT, ITL and E2EL are defined as
/// benchmark_serving defines them. Output tokens come from the server's `usage` when it sends
/// it, else from --tokenizer, else from the number of content events. Dispatch delay (P99 in
/// the block) is send time − intended time (arrival, or when a concurrency slot freed).
#[derive(Parser, Debug)]
#[command(name = "bench", version, after_help = EXAMPLES)]
pub struct Args {
    /// Model name sent in each request (required, except with --convert-trace).
    #[arg(long, default_value = "")]
    pub model: String,
    /// Convert the trace at --dataset-path to Mooncake JSON Lines on stdout and exit (sends
    /// nothing): `qwen-bailian` (Alibaba's Qwen Bailian usage traces; replay with
    /// --block-size 16). See docs/agentic.md.
    #[arg(long, value_enum)]
    pub convert_trace: Option<ConvertArg>,
    /// A Hugging Face tokenizer.json, or a model directory holding one: random text prompts of
    /// exact token length, and output tokens counted when the server sends no usage. A path
    /// without tokenizer.json (a model name) is ignored with a warning.
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// Endpoint: `openai` (/v1/completions) or `openai-chat` (/v1/chat/completions).
    #[arg(long, value_enum, default_value = "openai")]
    pub backend: BackendArg,
    /// Server flavour, what it accepts beyond standard OpenAI: `trtllm` and `vllm` take
    /// ignore_eos, token-id prompts and stream_options; `openai-strict` (transformers serve)
    /// takes none (text prompts, max_tokens only), so --random-ids and --ignore-eos are refused.
    #[arg(long, value_enum, default_value = "trtllm")]
    pub api: Api,
    /// Server URL, e.g. http://10.0.0.1:8000 (overrides --host/--port); http only.
    #[arg(long)]
    pub base_url: Option<String>,
    /// Server host name or address (IPv6 in brackets).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port: 1..=65535.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Request path; default /v1/completions, or /v1/chat/completions for openai-chat.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Number of requests to send: 1..=10000000 (default 1000; with a trace, all its
    /// requests, or its first N).
    #[arg(long)]
    pub num_prompts: Option<usize>,
    /// Most requests in flight at once (default: no limit).
    #[arg(long)]
    pub max_concurrency: Option<usize>,
    /// Requests per second, `inf` to send all at once.
    #[arg(long, default_value = "inf")]
    pub request_rate: String,
    /// Gamma shape of the arrival gaps: 1 = Poisson, lower = burstier.
    #[arg(long, default_value_t = 1.0)]
    pub burstiness: f64,
    /// Seed of the prompts and arrival times.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `random` prompts, `trtllm_custom` prompts from --dataset-path (JSON or JSON Lines), or
    /// `mooncake`: replay the Mooncake trace (JSON Lines) at --dataset-path on its timestamps
    /// (docs/agentic.md).
    #[arg(long, value_enum, default_value = "random")]
    pub dataset_name: DatasetArg,
    #[arg(long)]
    pub dataset_path: Option<PathBuf>,
    /// Mooncake traces: tokens per hash id (1..=1000000).
    #[arg(long, default_value_t = 512)]
    pub block_size: usize,
    /// Mooncake traces: time scale, 2.0 = twice as fast as the trace's timestamps and gaps.
    #[arg(long, default_value_t = 1.0)]
    pub trace_speed: f64,
    /// Agentic mode: --max-concurrency lanes, each replaying the trace's sessions back to back
    /// (needs --dataset-name mooncake).
    #[arg(long)]
    pub agentic: bool,
    /// Agentic mode: seconds after which no new turn starts (default: each session once).
    #[arg(long, env = "AGENTX_DURATION")]
    pub agentic_duration: Option<f64>,
    /// Agentic mode: the first N turns of each lane are sent but not measured.
    #[arg(long, env = "AGENTX_WARMUP_PER_LANE", default_value_t = 0)]
    pub agentic_warmup_per_lane: usize,
    /// Agentic mode: most context tokens (input + output) of a turn; a session ends when its
    /// next turn would exceed it.
    #[arg(long, env = "AGENTX_MAX_CTX")]
    pub agentic_max_ctx: Option<usize>,
    /// Prompt length in tokens: 1..=1000000.
    #[arg(long, default_value_t = 1024)]
    pub random_input_len: usize,
    /// Output length in tokens (max_tokens): 1..=1000000.
    #[arg(long, default_value_t = 128)]
    pub random_output_len: usize,
    /// Lengths are drawn uniformly from len × [1 − ratio, 1 + ratio].
    #[arg(long, default_value_t = 0.0)]
    pub random_range_ratio: f64,
    /// Send token-id prompts: exact input lengths, no tokenizer needed (openai backend).
    #[arg(long)]
    pub random_ids: bool,
    /// Metrics with percentiles in the block: any of ttft,tpot,itl,e2el.
    #[arg(long, default_value = "ttft,tpot,itl")]
    pub percentile_metrics: String,
    /// Percentiles to print, comma separated, e.g. 50,90,99.
    #[arg(long, default_value = "99")]
    pub metric_percentiles: String,
    /// Ask the server to ignore EOS so every request yields its full output length.
    #[arg(long)]
    pub ignore_eos: bool,
    /// Wait for the whole response instead of streaming (TTFT = E2EL).
    #[arg(long)]
    pub non_streaming: bool,
    /// Write the result JSON.
    #[arg(long)]
    pub save_result: bool,
    /// Add the per-request arrays (lengths, latencies, errors, scheduled and sent times).
    #[arg(long)]
    pub save_detailed: bool,
    #[arg(long)]
    pub result_dir: Option<PathBuf>,
    /// Default: {backend}-{rate}qps[-concurrency{C}]-{model}-{date}.json.
    #[arg(long)]
    pub result_filename: Option<String>,
    /// KEY=VALUE pairs added to the result JSON (checked before the run).
    #[arg(long, num_args = 1..)]
    pub metadata: Vec<String>,
    /// SLOs for the goodput line, e.g. `ttft:500 tpot:50 e2el:10000` (ms).
    #[arg(long, num_args = 1..)]
    pub goodput: Vec<String>,
    /// Warm-up requests (default when given alone: the concurrency) sent before measuring.
    #[arg(long, num_args = 0..=1)]
    pub warmup: Option<Option<usize>>,
    /// Skip the single test request sent before the run.
    #[arg(long)]
    pub no_test_input: bool,
    /// Count client queueing in the latencies: measure from the scheduled time, not the send.
    #[arg(long)]
    pub include_queueing: bool,
    /// Per-request deadline in seconds.
    #[arg(long, default_value_t = 21600.0)]
    pub request_timeout: f64,
    /// Exit 1 when failed/total exceeds this fraction.
    #[arg(long, default_value_t = 0.0)]
    pub max_error_rate: f64,
    /// Seconds between progress lines on stderr.
    #[arg(long, default_value_t = 10.0)]
    pub progress_interval: f64,
    /// Runtime worker threads: 1..=1024 (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Accepted for compatibility (no tokenizer is used).
    #[arg(long)]
    pub tokenize_on_client: bool,
    /// Accepted for compatibility.
    #[arg(long)]
    pub trust_remote_code: bool,
    /// Accepted for compatibility (chat prompts are sent as one user message).
    #[arg(long)]
    pub use_chat_template: bool,
    /// Accepted for compatibility.
    #[arg(long)]
    pub disable_tqdm: bool,
}

pub const EXAMPLES: &str = "\
Examples:
  bench --model m --host 127.0.0.1 --port 8000 --dataset-name random --random-ids \\
        --random-input-len 1024 --random-output-len 128 --num-prompts 64 --max-concurrency 16 \\
        --percentile-metrics ttft,tpot,itl,e2el --ignore-eos
  bench --model m --base-url http://10.0.0.5:8000 --backend openai-chat --request-rate 20 \\
        --burstiness 0.5 --num-prompts 500 --save-result --result-dir out/ --max-error-rate 0.01
  # transformers serve: standard fields only, text prompts of exact length from its tokenizer
  # a Mooncake trace on its timestamps, twice as fast (sessions carry X-Session-Id)
  bench --model m --dataset-name mooncake --dataset-path trace.jsonl --trace-speed 2 \\
        --block-size 512 --save-result --result-dir out/
  # agentic: 64 lanes for 10 minutes, 3 warm-up turns per lane, contexts up to 128k tokens
  bench --model m --backend openai-chat --dataset-name mooncake --dataset-path trace.jsonl \\
        --agentic --max-concurrency 64 --agentic-duration 600 --agentic-warmup-per-lane 3 \\
        --agentic-max-ctx 131072
  # Alibaba's Qwen Bailian trace → Mooncake JSONL, then replayed
  bench --convert-trace qwen-bailian --dataset-path qwen_traceA_blksz_16.jsonl > trace.jsonl
  bench --model m --dataset-name mooncake --dataset-path trace.jsonl --block-size 16
  bench --model Qwen/Qwen3-0.6B --tokenizer /models/Qwen3-0.6B --api openai-strict \\
        --backend openai-chat --random-input-len 128 --random-output-len 128 --num-prompts 32

The API key, if the server needs one, is read from OPENAI_API_KEY.

Exit status: 0 done (failed requests within --max-error-rate); 1 too many requests failed; 64 bad
usage (a value out of its range, a bad URL or port, --metadata without KEY=VALUE, a flag the
--api flavour cannot send), checked before any request; 66 a dataset or tokenizer file cannot
be read; 65 a bad dataset (a trace: FILE:LINE and the field) or tokenizer.json; 69 the test
request failed; 73 the result JSON cannot be written.";

impl Args {
    /// `--num-prompts`, default 1000.
    pub fn prompts(&self) -> usize {
        self.num_prompts.unwrap_or(1000)
    }

    /// The trace at `--dataset-path`: its bytes and its name for messages; without the flag,
    /// the usage error `missing`.
    pub fn read_trace(&self, missing: &str) -> Result<(Vec<u8>, String), Failure> {
        let path = self.dataset_path.as_ref().ok_or_else(|| Failure::usage(missing))?;
        // Bounded, never hangs on a named pipe; a directory is said to be one.
        let bytes = perfline::fsutil::read_input(path, crate::plan::MAX_DATASET)?;
        Ok((bytes, path.display().to_string()))
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ConvertArg {
    QwenBailian,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BackendArg {
    Openai,
    OpenaiChat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DatasetArg {
    Random,
    #[value(name = "trtllm_custom")]
    TrtllmCustom,
    Mooncake,
}

pub fn backend_name(b: BackendArg) -> &'static str {
    match b {
        BackendArg::Openai => "openai",
        BackendArg::OpenaiChat => "openai-chat",
    }
}

pub fn dataset_name(d: DatasetArg) -> &'static str {
    match d {
        DatasetArg::Random => "random",
        DatasetArg::TrtllmCustom => "trtllm_custom",
        DatasetArg::Mooncake => "mooncake",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfline::Exit;

    #[test]
    fn read_trace_reads_the_dataset_path_or_says_what_needs_it() {
        let none = Args::parse_from(["bench"]);
        let err = none.read_trace("--convert-trace needs --dataset-path").unwrap_err();
        assert_eq!(
            (err.exit, err.message.as_str()),
            (Exit::Usage, "--convert-trace needs --dataset-path")
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, b"{\"timestamp\": 0}\n").unwrap();
        let given = Args::parse_from(["bench", "--dataset-path", path.to_str().unwrap()]);
        let (bytes, source) = given.read_trace("unused").unwrap();
        assert_eq!(
            (bytes.as_slice(), source),
            (&b"{\"timestamp\": 0}\n"[..], path.display().to_string())
        );
        let gone =
            Args::parse_from(["bench", "--dataset-path", dir.path().join("no").to_str().unwrap()]);
        assert_eq!(gone.read_trace("unused").unwrap_err().exit, Exit::NoInput);
    }
}
