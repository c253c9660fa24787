//! The timing model and fault injection of a simulated worker. Each knob comes from, in order
//! of precedence: its flag, its `SIMSERVE_*` environment variable (so faults pass through job
//! scripts), the `simserve:` mapping of the `--config` YAML, then the default.

use clap::builder::FalseyValueParser;
use perfline::cli::{Failure, Result};
use perfline::yaml::Value;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// Timing and fault knobs; every one optional so the sources can be layered.
#[derive(clap::Args, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Knobs {
    /// Seconds after listening before /health answers 200 (model loading) [default: 0].
    #[arg(long, env = "SIMSERVE_STARTUP_DELAY", value_name = "SECS")]
    pub startup_delay: Option<f64>,
    /// Seconds before the server even binds its port and reports its address [default: 0].
    #[arg(long, env = "SIMSERVE_SLOW_START", value_name = "SECS")]
    pub slow_start: Option<f64>,
    /// Fixed time to first token, in ms, before prefill [default: 20].
    #[arg(long, env = "SIMSERVE_TTFT_MS", value_name = "MS")]
    pub ttft_ms: Option<f64>,
    /// Prefill time per input token, in ms [default: 0.05].
    #[arg(long, env = "SIMSERVE_PREFILL_MS_PER_TOKEN", value_name = "MS")]
    pub prefill_ms_per_token: Option<f64>,
    /// Time per decode step (one output token), in ms [default: 10].
    #[arg(long, env = "SIMSERVE_DECODE_MS_PER_STEP", value_name = "MS")]
    pub decode_ms_per_step: Option<f64>,
    /// Requests served at once; further requests queue [default: --max_batch_size or 512].
    #[arg(long, env = "SIMSERVE_MAX_BATCH", value_name = "N")]
    pub max_batch: Option<usize>,
    /// Stop after N output tokens unless the request sets ignore_eos [default: never].
    #[arg(long, env = "SIMSERVE_EOS_AFTER", value_name = "N")]
    pub eos_after: Option<u64>,
    /// Fault: exit 1 at start, before listening.
    #[arg(long, env = "SIMSERVE_FAIL_AT_START", value_parser = FalseyValueParser::new())]
    #[serde(default)]
    pub fail_at_start: bool,
    /// Fault: exit 1 once N generation requests have completed.
    #[arg(long, env = "SIMSERVE_CRASH_AFTER_REQUESTS", value_name = "N")]
    pub crash_after_requests: Option<u64>,
    /// Fault: once N generation requests have completed, the engine dies but the process
    /// lives on: /health answers 503 and new generation requests are never answered.
    #[arg(long, env = "SIMSERVE_HEALTH_503_AFTER_REQUESTS", value_name = "N")]
    pub health_503_after_requests: Option<u64>,
    /// Fault: exit 1 this many seconds after start.
    #[arg(long, env = "SIMSERVE_CRASH_AT", value_name = "SECS")]
    pub crash_at: Option<f64>,
    /// Fault: listen and report the address, but never become healthy.
    #[arg(long, env = "SIMSERVE_HANG", value_parser = FalseyValueParser::new())]
    #[serde(default)]
    pub hang: bool,
    /// Fault: become healthy, but never answer generation requests.
    #[arg(long, env = "SIMSERVE_HANG_REQUESTS", value_parser = FalseyValueParser::new())]
    #[serde(default)]
    pub hang_requests: bool,
    /// Fault: answer this fraction (0 to 1) of generation requests with HTTP 500.
    #[arg(long, env = "SIMSERVE_ERROR_RATE", value_name = "FRACTION")]
    pub error_rate: Option<f64>,
    /// Fault: write `TEXT: simulated error` to the log (stderr), e.g. TEXT=RuntimeError.
    #[arg(long, env = "SIMSERVE_LOG_ERROR_KEYWORD", value_name = "TEXT")]
    pub log_error_keyword: Option<String>,
    /// Seconds after start when --log-error-keyword is written [default: 0].
    #[arg(long, env = "SIMSERVE_LOG_ERROR_AT", value_name = "SECS")]
    pub log_error_at: Option<f64>,
    /// Seed of the fault dice (--error-rate) [default: 0].
    #[arg(long, env = "SIMSERVE_SEED", value_name = "N")]
    pub seed: Option<u64>,
    /// Prefix (KV) cache size in token blocks, least recently used evicted; cached prompt
    /// tokens cost no prefill time and are reported as usage.prompt_tokens_details.cached_tokens;
    /// 0 turns it off [default: 65536, as trtllm reuses blocks by default; 0 when the
    /// config's kv_cache_config.enable_block_reuse is false].
    #[arg(long, env = "SIMSERVE_KV_CACHE_BLOCKS", value_name = "N")]
    pub kv_cache_blocks: Option<usize>,
    /// Tokens per cache block [default: the config's kv_cache_config.tokens_per_block, else 32].
    #[arg(long, env = "SIMSERVE_KV_BLOCK_SIZE", value_name = "TOKENS")]
    pub kv_block_size: Option<usize>,
}

/// What a trtllm extra-llm-api config says beyond the `simserve:` knobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Engine {
    /// `max_batch_size` (or trtllm-serve's flag).
    pub max_batch_size: Option<usize>,
    /// `kv_cache_config.tokens_per_block`.
    pub tokens_per_block: Option<usize>,
    /// `kv_cache_config.enable_block_reuse`.
    pub block_reuse: Option<bool>,
}

/// The resolved settings of a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub startup_delay: Duration,
    pub slow_start: Duration,
    pub ttft: Duration,
    pub prefill_per_token: Duration,
    pub decode_per_step: Duration,
    pub max_batch: usize,
    pub eos_after: Option<u64>,
    pub fail_at_start: bool,
    pub crash_after_requests: Option<u64>,
    pub health_503_after_requests: Option<u64>,
    pub crash_at: Option<Duration>,
    pub hang: bool,
    pub hang_requests: bool,
    pub error_rate: f64,
    pub log_error_keyword: Option<String>,
    pub log_error_at: Duration,
    pub seed: u64,
    /// Prefix cache capacity in blocks (0: none).
    pub kv_cache_blocks: usize,
    /// Tokens per cache block.
    pub kv_block_size: usize,
}

/// Cache blocks when no size is given and the config does not turn block reuse off.
const DEFAULT_KV_CACHE_BLOCKS: usize = 65536;
/// trtllm's default tokens_per_block.
const DEFAULT_KV_BLOCK_SIZE: usize = 32;

/// The incumbent's default max_batch_size (incumbent.md §3).
const DEFAULT_MAX_BATCH: usize = 512;

impl Settings {
    /// Layers the command line/environment over the config file's knobs over the defaults.
    /// `max_batch_size` is trtllm-serve's flag or the config's top-level key.
    pub fn resolve(
        given: &Knobs,
        config: &Knobs,
        engine: &Engine,
    ) -> std::result::Result<Settings, String> {
        let max_batch_size = engine.max_batch_size;
        let secs =
            |name: &str, v: Option<f64>, c: Option<f64>| -> std::result::Result<Duration, String> {
                let v = v.or(c).unwrap_or(0.0);
                Duration::try_from_secs_f64(v)
                    .map_err(|_| format!("{name} {v}: not a number of seconds"))
            };
        let ms = |name: &str, v: Option<f64>, c: Option<f64>, default: f64| {
            let v = v.or(c).unwrap_or(default);
            Duration::try_from_secs_f64(v / 1000.0)
                .map_err(|_| format!("{name} {v}: not a number of ms"))
        };
        let error_rate = given.error_rate.or(config.error_rate).unwrap_or(0.0);
        if !(0.0..=1.0).contains(&error_rate) {
            return Err(format!("error-rate {error_rate}: not a fraction from 0 to 1"));
        }
        let max_batch =
            given.max_batch.or(config.max_batch).or(max_batch_size).unwrap_or(DEFAULT_MAX_BATCH);
        if max_batch == 0 || max_batch > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(format!("max-batch {max_batch}: must be at least 1"));
        }
        let kv_block_size = given
            .kv_block_size
            .or(config.kv_block_size)
            .or(engine.tokens_per_block)
            .unwrap_or(DEFAULT_KV_BLOCK_SIZE);
        if kv_block_size == 0 {
            return Err("kv-block-size 0: must be at least 1 token".into());
        }
        let crash_at = match given.crash_at.or(config.crash_at) {
            Some(t) => Some(secs("crash-at", Some(t), None)?),
            None => None,
        };
        Ok(Settings {
            startup_delay: secs("startup-delay", given.startup_delay, config.startup_delay)?,
            slow_start: secs("slow-start", given.slow_start, config.slow_start)?,
            ttft: ms("ttft-ms", given.ttft_ms, config.ttft_ms, 20.0)?,
            prefill_per_token: ms(
                "prefill-ms-per-token",
                given.prefill_ms_per_token,
                config.prefill_ms_per_token,
                0.05,
            )?,
            decode_per_step: ms(
                "decode-ms-per-step",
                given.decode_ms_per_step,
                config.decode_ms_per_step,
                10.0,
            )?,
            max_batch,
            eos_after: given.eos_after.or(config.eos_after),
            fail_at_start: given.fail_at_start || config.fail_at_start,
            crash_after_requests: given.crash_after_requests.or(config.crash_after_requests),
            health_503_after_requests: given
                .health_503_after_requests
                .or(config.health_503_after_requests),
            crash_at,
            hang: given.hang || config.hang,
            hang_requests: given.hang_requests || config.hang_requests,
            error_rate,
            log_error_keyword: given.log_error_keyword.clone().or(config.log_error_keyword.clone()),
            log_error_at: secs("log-error-at", given.log_error_at, config.log_error_at)?,
            seed: given.seed.or(config.seed).unwrap_or(0),
            kv_cache_blocks: given.kv_cache_blocks.or(config.kv_cache_blocks).unwrap_or(
                if engine.block_reuse == Some(false) { 0 } else { DEFAULT_KV_CACHE_BLOCKS },
            ),
            kv_block_size,
        })
    }
}

/// The knobs of a trtllm extra-llm-api config: its optional `simserve:` mapping, its
/// top-level `max_batch_size` and its `kv_cache_config` (block size, block reuse).
pub fn config_knobs(path: &Path, yaml: &Value) -> Result<(Knobs, Engine)> {
    let knobs = match perfline::yaml::get(yaml, "simserve") {
        None | Some(Value::Null) => Knobs::default(),
        Some(v) => serde_json::from_value(perfline::yaml::to_json(v))
            .map_err(|e| Failure::config(format!("{}: simserve: {e}", path.display())))?,
    };
    let max_batch_size = match perfline::yaml::get(yaml, "max_batch_size") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| {
            Failure::config(format!("{}: max_batch_size: not a positive integer", path.display()))
        })?),
    };
    let kv = perfline::yaml::get(yaml, "kv_cache_config").filter(|v| !v.is_null());
    let tokens_per_block = match kv.and_then(|kv| perfline::yaml::get(kv, "tokens_per_block")) {
        None | Some(Value::Null) => None,
        Some(v) => {
            Some(v.as_u64().and_then(|n| usize::try_from(n).ok()).filter(|&n| n > 0).ok_or_else(
                || {
                    Failure::config(format!(
                        "{}: kv_cache_config.tokens_per_block: not a positive integer",
                        path.display()
                    ))
                },
            )?)
        }
    };
    let block_reuse = match kv.and_then(|kv| perfline::yaml::get(kv, "enable_block_reuse")) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(Failure::config(format!(
                "{}: kv_cache_config.enable_block_reuse: not true or false",
                path.display()
            )))
        }
    };
    Ok((knobs, Engine { max_batch_size, tokens_per_block, block_reuse }))
}

impl Settings {
    /// One line for the log: the timing model and the faults.
    pub fn describe(&self) -> String {
        let s = self;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mut text = format!(
            "ttft {} ms + prefill {} ms/token, decode {} ms/step, max batch {}, ready after {} s",
            ms(s.ttft),
            ms(s.prefill_per_token),
            ms(s.decode_per_step),
            s.max_batch,
            s.startup_delay.as_secs_f64()
        );
        if s.kv_cache_blocks > 0 {
            text.push_str(&format!(
                ", prefix cache {} blocks of {} tokens",
                s.kv_cache_blocks, s.kv_block_size
            ));
        }
        let faults = [
            s.fail_at_start.then(|| "fail at start".to_string()),
            s.crash_after_requests.map(|n| format!("crash after {n} requests")),
            s.health_503_after_requests.map(|n| format!("/health 503 after {n} requests")),
            s.crash_at.map(|t| format!("crash at {} s", t.as_secs_f64())),
            s.hang.then(|| "never healthy".to_string()),
            s.hang_requests.then(|| "requests hang".to_string()),
            (s.error_rate > 0.0).then(|| format!("error rate {}", s.error_rate)),
            s.log_error_keyword
                .as_ref()
                .map(|k| format!("logs {k:?} at {} s", s.log_error_at.as_secs_f64())),
        ];
        let faults: Vec<String> = faults.into_iter().flatten().collect();
        if !faults.is_empty() {
            text.push_str(&format!("; faults: {}", faults.join(", ")));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_config_beats_defaults() {
        let given = Knobs { decode_ms_per_step: Some(2.0), ..Knobs::default() };
        let config =
            Knobs { decode_ms_per_step: Some(7.0), ttft_ms: Some(3.0), ..Knobs::default() };
        let engine = Engine { max_batch_size: Some(64), ..Engine::default() };
        let s = Settings::resolve(&given, &config, &engine).unwrap();
        assert_eq!(s.decode_per_step, Duration::from_millis(2));
        assert_eq!(s.ttft, Duration::from_millis(3));
        assert_eq!(s.prefill_per_token, Duration::from_micros(50));
        assert_eq!(s.max_batch, 64);
        assert_eq!(s.crash_at, None);
        let s =
            Settings::resolve(&Knobs::default(), &Knobs::default(), &Engine::default()).unwrap();
        assert_eq!((s.max_batch, s.error_rate, s.seed), (512, 0.0, 0));
    }

    #[test]
    fn rejects_nonsense() {
        let bad =
            |k: Knobs| Settings::resolve(&k, &Knobs::default(), &Engine::default()).unwrap_err();
        assert_eq!(
            bad(Knobs { error_rate: Some(1.5), ..Knobs::default() }),
            "error-rate 1.5: not a fraction from 0 to 1"
        );
        assert!(
            bad(Knobs { startup_delay: Some(-1.0), ..Knobs::default() }).contains("startup-delay")
        );
        assert!(bad(Knobs { max_batch: Some(0), ..Knobs::default() }).contains("max-batch"));
        assert!(bad(Knobs { decode_ms_per_step: Some(f64::NAN), ..Knobs::default() })
            .contains("decode"));
    }

    #[test]
    fn reads_the_simserve_mapping_of_a_config() {
        let p = Path::new("extra.yml");
        let yaml = perfline::yaml::parse(
            "max_batch_size: 256\nsimserve:\n  decode_ms_per_step: 1.5\n  hang: true\n",
            "extra.yml",
        )
        .unwrap();
        let (knobs, engine) = config_knobs(p, &yaml).unwrap();
        assert_eq!(knobs.decode_ms_per_step, Some(1.5));
        assert!(knobs.hang);
        assert_eq!(engine, Engine { max_batch_size: Some(256), ..Engine::default() });
        let yaml = perfline::yaml::parse("simserve:\n  decode_ms: 1\n", "extra.yml").unwrap();
        let err = config_knobs(p, &yaml).unwrap_err();
        assert_eq!(err.exit, perfline::Exit::Config);
        assert!(
            err.message.starts_with("extra.yml: simserve: unknown field `decode_ms`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn the_prefix_cache_follows_kv_cache_config_unless_flags_say() {
        let p = Path::new("extra.yml");
        let yaml = perfline::yaml::parse(
            "kv_cache_config:\n  enable_block_reuse: true\n  tokens_per_block: 128\n",
            "extra.yml",
        )
        .unwrap();
        let (knobs, engine) = config_knobs(p, &yaml).unwrap();
        let s = Settings::resolve(&Knobs::default(), &knobs, &engine).unwrap();
        assert_eq!((s.kv_cache_blocks, s.kv_block_size), (65536, 128));
        assert!(s.describe().ends_with(", prefix cache 65536 blocks of 128 tokens"));
        let given = Knobs { kv_cache_blocks: Some(8), kv_block_size: Some(4), ..Knobs::default() };
        let s = Settings::resolve(&given, &knobs, &engine).unwrap();
        assert_eq!((s.kv_cache_blocks, s.kv_block_size), (8, 4));
        // No kv_cache_config: trtllm's defaults (block reuse on, 32 tokens a block).
        let s =
            Settings::resolve(&Knobs::default(), &Knobs::default(), &Engine::default()).unwrap();
        assert_eq!((s.kv_cache_blocks, s.kv_block_size), (65536, 32));
        // Block reuse off: no cache unless asked for.
        let off = Engine { block_reuse: Some(false), ..engine };
        assert_eq!(Settings::resolve(&Knobs::default(), &knobs, &off).unwrap().kv_cache_blocks, 0);
        let bad =
            perfline::yaml::parse("kv_cache_config: {tokens_per_block: 0}\n", "extra.yml").unwrap();
        assert_eq!(
            config_knobs(p, &bad).unwrap_err().message,
            "extra.yml: kv_cache_config.tokens_per_block: not a positive integer"
        );
    }

    #[test]
    fn describes_faults() {
        let mut s =
            Settings::resolve(&Knobs::default(), &Knobs::default(), &Engine::default()).unwrap();
        s.crash_after_requests = Some(3);
        assert_eq!(
            s.describe(),
            "ttft 20 ms + prefill 0.05 ms/token, decode 10 ms/step, max batch 512, ready after 0 s, \
             prefix cache 65536 blocks of 32 tokens; faults: crash after 3 requests"
        );
        s.crash_after_requests = None;
        s.health_503_after_requests = Some(5);
        assert!(s.describe().ends_with("faults: /health 503 after 5 requests"), "{}", s.describe());
    }
}
