//! Everything decided before the first request: every flag checked (a usage error names the
//! flag and its range), the target URL, the prompts (and the tokenizer that made them).

use crate::args::{Args, BackendArg, DatasetArg};
use bench::client::{Backend, Target};
use bench::dataset;
use bench::replay::{Agentic, Trace};
use bench::report::{Metric, Options};
use bench::tokenizer::Tok;
use bench::trace;
use perfline::cli::Result;
use perfline::Failure;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Everything decided before the first request.
pub struct Plan {
    pub target: Target,
    /// `--metadata`, checked.
    pub metadata: Vec<(String, String)>,
    pub requests: Vec<dataset::Request>,
    pub rate: Option<f64>,
    pub options: Options,
    /// `--tokenizer`, when it named a tokenizer.json.
    pub tokenizer: Option<Tok>,
    /// `--dataset-name mooncake`: the trace (then `requests` is empty).
    pub trace: Option<Arc<Trace>>,
    /// `--agentic`.
    pub agentic: Option<Agentic>,
}

impl Plan {
    pub fn from_args(a: &Args) -> Result<Plan> {
        if a.model.is_empty() {
            return Err(Failure::usage("--model is required (the model name sent in requests)"));
        }
        let backend = match a.backend {
            BackendArg::Openai => Backend::Openai,
            BackendArg::OpenaiChat => Backend::OpenaiChat,
        };
        if a.random_ids && backend == Backend::OpenaiChat {
            return Err(Failure::usage("--random-ids needs --backend openai (chat takes text)"));
        }
        let api = a.api;
        if !api.extensions() && (a.random_ids || a.ignore_eos) {
            let flag = if a.random_ids { "--random-ids" } else { "--ignore-eos" };
            return Err(Failure::usage(format!(
                "{flag}: the server flavour --api {} takes standard OpenAI fields only (text \
                 prompts, no ignore_eos); drop it (--tokenizer gives text prompts of exact length)",
                api.name()
            )));
        }
        let rate = match a.request_rate.trim() {
            "inf" | "Inf" | "INF" => None,
            s => match s.parse::<f64>() {
                Ok(r) if (0.001..1e9).contains(&r) => Some(r),
                _ => {
                    return Err(Failure::usage(format!(
                        "--request-rate {s}: expected inf or a positive number"
                    )))
                }
            },
        };
        if !(a.burstiness.is_finite() && a.burstiness > 0.0) {
            return Err(Failure::usage(format!("--burstiness {}: must be > 0", a.burstiness)));
        }
        if !(0.0..=1.0).contains(&a.random_range_ratio) {
            return Err(Failure::usage("--random-range-ratio must be in 0..1"));
        }
        if a.max_error_rate.is_nan() || a.max_error_rate < 0.0 {
            return Err(Failure::usage("--max-error-rate must be a fraction >= 0"));
        }
        if !(0.1..=86400.0).contains(&a.progress_interval) {
            return Err(Failure::usage("--progress-interval must be 0.1..86400 seconds"));
        }
        if !(a.request_timeout.is_finite() && a.request_timeout > 0.0 && a.request_timeout < 1e9) {
            return Err(Failure::usage("--request-timeout must be a positive number of seconds"));
        }
        in_range("--num-prompts", a.prompts(), MAX_PROMPTS)?;
        in_range("--block-size", a.block_size, MAX_LEN)?;
        if !(a.trace_speed.is_finite() && (1e-6..=1e6).contains(&a.trace_speed)) {
            return Err(Failure::usage(format!(
                "--trace-speed {}: must be a number in 0.000001..=1000000",
                a.trace_speed
            )));
        }
        let mooncake = matches!(a.dataset_name, DatasetArg::Mooncake);
        if a.agentic && !mooncake {
            return Err(Failure::usage(
                "--agentic replays a trace: give --dataset-name mooncake --dataset-path FILE",
            ));
        }
        if a.agentic && a.max_concurrency.is_none() {
            return Err(Failure::usage("--agentic needs --max-concurrency (the number of lanes)"));
        }
        if let Some(d) = a.agentic_duration.filter(|_| a.agentic) {
            if !(d.is_finite() && d > 0.0 && d <= 1e7) {
                return Err(Failure::usage(format!(
                    "--agentic-duration (AGENTX_DURATION) {d}: must be seconds in (0, 1e7]"
                )));
            }
        }
        if let Some(m) = a.agentic_max_ctx.filter(|_| a.agentic) {
            in_range("--agentic-max-ctx (AGENTX_MAX_CTX)", m, usize::MAX)?;
        }
        in_range("--random-input-len", a.random_input_len, MAX_LEN)?;
        in_range("--random-output-len", a.random_output_len, MAX_LEN)?;
        let tokens = a.prompts() as f64 * a.random_input_len as f64 * (1.0 + a.random_range_ratio);
        if tokens > MAX_TOKENS && !mooncake {
            return Err(Failure::usage(format!(
                "--num-prompts {} × --random-input-len {}: over {MAX_TOKENS:e} prompt tokens",
                a.prompts(),
                a.random_input_len
            )));
        }
        if let Some(c) = a.max_concurrency {
            in_range("--max-concurrency", c, MAX_PROMPTS)?;
        }
        if let Some(w) = a.warmup.flatten() {
            in_range("--warmup", w, MAX_PROMPTS)?;
        }
        if let Some(t) = a.threads {
            in_range("--threads", t, 1024)?;
        }
        let metadata = a
            .metadata
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().into(), v.trim().into())),
                _ => Err(Failure::usage(format!("--metadata {kv:?}: expected KEY=VALUE"))),
            })
            .collect::<Result<Vec<(String, String)>>>()?;
        let (authority, prefix) = match &a.base_url {
            Some(url) => split_url(url)?,
            None => (authority(&a.host, &a.port.to_string(), "--host/--port")?, String::new()),
        };
        let endpoint = a.endpoint.clone().unwrap_or_else(|| match backend {
            Backend::Openai => "/v1/completions".into(),
            Backend::OpenaiChat => "/v1/chat/completions".into(),
        });
        let percentile_metrics = a
            .percentile_metrics
            .split(',')
            .map(|m| {
                Metric::parse(m).ok_or_else(|| {
                    Failure::usage(format!("--percentile-metrics: unknown metric {m:?}"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let percentiles = a
            .metric_percentiles
            .split(',')
            .map(|p| match p.trim().parse::<f64>() {
                Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
                _ => Err(Failure::usage(format!("--metric-percentiles: {p:?} is not in 0..100"))),
            })
            .collect::<Result<Vec<_>>>()?;
        let goodput = a
            .goodput
            .iter()
            .map(|g| {
                let bad = || {
                    Failure::usage(format!("--goodput {g:?}: expected ttft|tpot|e2el:MILLISECONDS"))
                };
                let (k, v) = g.split_once(':').ok_or_else(bad)?;
                let m = Metric::parse(k).filter(|m| *m != Metric::Itl).ok_or_else(bad)?;
                let v: f64 = v.parse().ok().filter(|v: &f64| *v >= 0.0).ok_or_else(bad)?;
                Ok((m, v))
            })
            .collect::<Result<Vec<_>>>()?;
        let tokenizer = match &a.tokenizer {
            Some(path) => {
                let tok = Tok::load(Path::new(path))?;
                if tok.is_none() {
                    perfline::cli::diag(
                        "bench",
                        "warning",
                        format!(
                            "--tokenizer {path}: no tokenizer.json there; prompts are {} and \
                             output tokens are the server's usage or the number of events",
                            if a.random_ids { "token ids" } else { "words (about a token each)" }
                        ),
                    );
                }
                tok
            }
            None => None,
        };
        let target = Target {
            authority,
            path: format!("{prefix}{endpoint}"),
            backend,
            api,
            model: a.model.clone(),
            stream: !a.non_streaming,
            ignore_eos: a.ignore_eos,
            api_key: std::env::var("OPENAI_API_KEY").ok().filter(|k| !k.is_empty()),
            timeout: Duration::from_secs_f64(a.request_timeout),
            // Trace replay on chat keeps the answers: they join the conversation's history.
            keep_text: tokenizer.is_some() || (mooncake && backend == Backend::OpenaiChat),
        };
        let kind = match (&tokenizer, a.random_ids) {
            (_, true) => dataset::Kind::Ids,
            (Some(tok), false) => dataset::Kind::Tokenizer(tok),
            (None, false) => dataset::Kind::Words,
        };
        let mut trace = None;
        let requests = match a.dataset_name {
            DatasetArg::Mooncake => {
                trace = Some(Arc::new(load_trace(a, &target, tokenizer.as_ref())?));
                Vec::new()
            }
            DatasetArg::Random => dataset::random(
                a.prompts(),
                a.random_input_len,
                a.random_output_len,
                a.random_range_ratio,
                kind,
                a.seed,
            ),
            DatasetArg::TrtllmCustom => {
                let path = a.dataset_path.as_ref().ok_or_else(|| {
                    Failure::usage("--dataset-name trtllm_custom needs --dataset-path")
                })?;
                let bytes = perfline::fsutil::read_input(path, MAX_DATASET)?;
                let text = trace::decode(&bytes, &path.display().to_string())?;
                dataset::from_file(
                    text,
                    &path.display().to_string(),
                    a.prompts(),
                    a.random_output_len,
                    tokenizer.as_ref(),
                )?
            }
        };
        Ok(Plan {
            target,
            metadata,
            requests,
            rate,
            options: Options { percentile_metrics, percentiles, goodput },
            tokenizer,
            agentic: a.agentic.then(|| Agentic {
                lanes: a.max_concurrency.unwrap_or(1),
                duration: a.agentic_duration.map(Duration::from_secs_f64),
                warmup_per_lane: a.agentic_warmup_per_lane,
                max_ctx: a.agentic_max_ctx,
            }),
            trace,
        })
    }
}

/// The largest dataset or trace file read (1 GiB: public traces are tens of MB).
pub const MAX_DATASET: u64 = 1 << 30;

/// `--dataset-name mooncake`: the trace read and checked, its conversations, and how its
/// prompts are written: token ids with --random-ids, or without --tokenizer where the flavour
/// takes them on /v1/completions; else words of one token each (the tokenizer's, when given).
fn load_trace(a: &Args, target: &Target, tok: Option<&Tok>) -> Result<Trace> {
    let (bytes, source) = a.read_trace("--dataset-name mooncake needs --dataset-path")?;
    let text = trace::decode(&bytes, &source)?;
    // Agentic mode replays whole sessions: --num-prompts caps only a plain replay.
    let cap = if a.agentic { None } else { a.num_prompts };
    let rows = trace::parse(text, &source, cap)?;
    let ids_ok = target.backend == Backend::Openai && target.api.extensions();
    let tokens = match tok {
        _ if a.random_ids => trace::Tokens::Ids,
        None if ids_ok => trace::Tokens::Ids,
        None => trace::Tokens::plain_words(),
        Some(t) => trace::Tokens::tokenizer_words(t).unwrap_or_else(|| {
            perfline::cli::diag(
                "bench",
                "warning",
                format!(
                    "--tokenizer {}: fewer than 16 vocabulary words of one token each; trace \
                     prompts are common words (about a token each)",
                    t.path.display()
                ),
            );
            trace::Tokens::plain_words()
        }),
    };
    let chains = trace::chains(&rows, a.trace_speed);
    let blocks = trace::Blocks { tokens, block_size: a.block_size, seed: a.seed };
    let trace = Trace { rows, chains, blocks };
    if a.agentic && !trace.any_fits(a.agentic_max_ctx) {
        return Err(Failure::usage(format!(
            "--agentic-max-ctx (AGENTX_MAX_CTX) {}: no session's first turn fits in it",
            a.agentic_max_ctx.unwrap_or_default()
        )));
    }
    Ok(trace)
}

/// The most requests (and concurrency, warm-up) bench sends in one run.
const MAX_PROMPTS: usize = 10_000_000;
/// The longest prompt or output, in tokens.
const MAX_LEN: usize = 1_000_000;
/// The most prompt tokens of one run (all prompts are made before the first request).
const MAX_TOKENS: f64 = 1e9;

fn in_range(flag: &str, value: usize, max: usize) -> Result<()> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(Failure::usage(format!("{flag} {value}: must be in 1..={max}")))
    }
}

/// `host:port` to connect to, checked: a host name or address without spaces, `/`, `@` or
/// `?` (IPv6 in brackets), and a port in 1..=65535.
fn authority(host: &str, port: &str, what: &str) -> Result<String> {
    let bad = |why: &str| Failure::usage(format!("{what} {host}:{port}: {why}"));
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let host_ok = match bare {
        Some(v6) => !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':'),
        None => {
            !host.is_empty()
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        }
    };
    if !host_ok {
        return Err(bad("not a host name or address"));
    }
    match port.parse::<u16>() {
        Ok(p) if p >= 1 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(format!("{host}:{p}")),
        _ => Err(bad("the port must be in 1..=65535")),
    }
}

/// `http://host[:port][/prefix]` → (`host:port`, `/prefix`); the port defaults to 80.
fn split_url(url: &str) -> Result<(String, String)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        Failure::usage(format!("--base-url {url}: only http:// URLs are supported"))
    })?;
    let (hostport, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    if hostport.is_empty() {
        return Err(Failure::usage(format!("--base-url {url}: no host")));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.starts_with('[') || h.ends_with(']') => (h, p),
        _ => (hostport, "80"),
    };
    let authority = authority(host, port, "--base-url")?;
    if path.contains(['?', '#', ' ']) || path.chars().any(char::is_control) {
        return Err(Failure::usage(format!("--base-url {url}: the path must be a plain path")));
    }
    let path = path.trim_end_matches('/');
    Ok((authority, if path.is_empty() { String::new() } else { format!("/{path}") }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use perfline::Exit;

    #[test]
    fn urls() {
        assert_eq!(split_url("http://h:9/").unwrap(), ("h:9".into(), String::new()));
        assert_eq!(split_url("http://h/api/").unwrap(), ("h:80".into(), "/api".into()));
        assert_eq!(split_url("https://h").unwrap_err().exit, Exit::Usage);
        assert!(split_url("http:///x").is_err());
        assert_eq!(split_url("http://[::1]:8000/v").unwrap(), ("[::1]:8000".into(), "/v".into()));
        assert_eq!(split_url("http://[::1]").unwrap().0, "[::1]:80");
        for (url, why) in [
            ("http://h:99999", "--base-url h:99999: the port must be in 1..=65535"),
            ("http://h:0", "--base-url h:0: the port must be in 1..=65535"),
            ("http://h:+80", "--base-url h:+80: the port must be in 1..=65535"),
            ("http://h:", "--base-url h:: the port must be in 1..=65535"),
            ("http://u@h:80", "--base-url u@h:80: not a host name or address"),
            ("http://h h:80", "--base-url h h:80: not a host name or address"),
            ("http://h:80/a?b", "--base-url http://h:80/a?b: the path must be a plain path"),
        ] {
            let err = split_url(url).unwrap_err();
            assert_eq!((err.exit, err.message.as_str()), (Exit::Usage, why), "{url}");
        }
        assert_eq!(authority("127.0.0.1", "8000", "--host/--port").unwrap(), "127.0.0.1:8000");
        assert_eq!(
            authority("a/b", "80", "--host/--port").unwrap_err().message,
            "--host/--port a/b:80: not a host name or address"
        );
        assert_eq!(
            in_range("--num-prompts", 1_000_000_000_000, MAX_PROMPTS).unwrap_err().message,
            "--num-prompts 1000000000000: must be in 1..=10000000"
        );
        assert!(in_range("--num-prompts", 0, MAX_PROMPTS).is_err());
        assert!(in_range("--num-prompts", MAX_PROMPTS, MAX_PROMPTS).is_ok());
    }

    #[test]
    fn args_validate() {
        let parse = |extra: &[&str]| {
            let mut v = vec!["bench", "--model", "m"];
            v.extend_from_slice(extra);
            Plan::from_args(&Args::try_parse_from(v).unwrap())
        };
        assert!(parse(&["--num-prompts", "2"]).unwrap().rate.is_none());
        assert_eq!(
            parse(&["--request-rate", "2.5", "--num-prompts", "1"]).unwrap().rate,
            Some(2.5)
        );
        for bad in [
            &["--request-rate", "fast"][..],
            &["--percentile-metrics", "ttft,foo"],
            &["--goodput", "itl:5"],
            &["--metric-percentiles", "101"],
            &["--backend", "openai-chat", "--random-ids"],
            &["--dataset-name", "trtllm_custom"],
            &["--progress-interval", "nan"],
            &["--max-error-rate", "nan"],
            &["--random-range-ratio", "2"],
            &["--request-rate", "1e-9"],
            &["--api", "openai-strict", "--random-ids"],
            &["--api", "openai-strict", "--ignore-eos"],
        ] {
            assert_eq!(parse(bad).err().map(|f| f.exit), Some(Exit::Usage), "{bad:?}");
        }
        let p = parse(&["--goodput", "ttft:500", "e2el:10", "--num-prompts", "1"]).unwrap();
        assert_eq!(p.options.goodput, vec![(Metric::Ttft, 500.0), (Metric::E2el, 10.0)]);
    }
}
