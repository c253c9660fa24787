//! simserve's command line: trtllm-serve's (a model, `--config`, `--report_addr`, ignored
//! trtllm options) and `disaggregated -c CONFIG`, plus the timing and fault knobs.

use crate::settings::Knobs;
use clap::builder::FalseyValueParser;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Every timing and fault flag can also be set by its SIMSERVE_* environment variable (e.g.
SIMSERVE_CRASH_AT=30), or under a `simserve:` mapping of the --config YAML with the flag's
name in snake_case; flags beat the environment, which beats the config.

Examples:
  # an aggregated server, as trtllm-serve is started (port 0: pick one, report it)
  simserve /models/llama --backend pytorch --config extra.yml --host localhost --port 0 \\
      --report_addr out/trtllm-serve.0.addr
  # slow decode, healthy after 5 s, crashes after 100 requests
  simserve llama --port 8001 --startup-delay 5 --decode-ms-per-step 30 --crash-after-requests 100
  # a prefix cache of 4096 blocks of 128 tokens; prefill costs 0.2 ms per uncached token
  simserve llama --port 8002 --kv-cache-blocks 4096 --kv-block-size 128 --prefill-ms-per-token 0.2
  # the disaggregated router over the workers listed in the router config; with
  # `ctx_router_config: {type: conversation}` in it, requests with the same X-Session-Id
  # header stay on one context server (default: round robin)
  simserve disaggregated -c out/server_config.0.yaml --report_addr out/DISAGG_SERVER.0.addr";

/// Simulated trtllm-serve: OpenAI-compatible server and disaggregated router, with a timing
/// model and fault injection, for running the perfline chain where there are no GPUs.
#[derive(Parser, Debug)]
#[command(name = "simserve", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true, args_override_self = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What the server accepts beyond standard OpenAI (the profile's `api`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Trtllm,
    Vllm,
    OpenaiStrict,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve MODEL (the same as giving no subcommand).
    Serve(Box<ServeArgs>),
    /// Run the disaggregated router over the context and generation servers of a config.
    Disaggregated(RouterArgs),
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The model name or path; only its name is used (in /v1/models and responses).
    pub model: Option<String>,
    /// Host name or address to listen on.
    #[arg(long, default_value = "localhost")]
    pub host: String,
    /// Port to listen on; 0 picks a free one (see --report-addr).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// trtllm extra-llm-api config YAML; its optional `simserve:` mapping sets knobs, and its
    /// `max_batch_size` the batch limit.
    #[arg(long, visible_alias = "extra_llm_api_options", value_name = "YAML")]
    pub config: Option<PathBuf>,
    /// Write `host:port` to this file (atomically) once listening.
    #[arg(long = "report-addr", visible_alias = "report_addr", value_name = "FILE")]
    pub report_addr: Option<PathBuf>,
    /// Server flavour: `openai-strict` refuses what transformers serve refuses (non-standard
    /// fields such as ignore_eos: 422; token-id prompts: 400; max_completion_tokens and
    /// stream_options: 422); `trtllm` and `vllm` accept them.
    #[arg(long, value_enum, default_value = "trtllm", env = "SIMSERVE_API")]
    pub api: Api,
    /// trtllm-serve's batch limit, used when --max-batch is not given.
    #[arg(long = "max_batch_size", alias = "max-batch-size", value_name = "N")]
    pub max_batch_size: Option<usize>,
    #[command(flatten)]
    pub knobs: Knobs,
    #[command(flatten)]
    pub ignored: IgnoredTrtllmArgs,
}

/// trtllm-serve options accepted so its command lines work unchanged, and otherwise ignored.
#[derive(clap::Args, Debug)]
pub struct IgnoredTrtllmArgs {
    #[arg(long, hide = true)]
    backend: Option<String>,
    #[arg(long, hide = true)]
    tokenizer: Option<String>,
    #[arg(long = "tp_size", hide = true)]
    tp_size: Option<String>,
    #[arg(long = "pp_size", hide = true)]
    pp_size: Option<String>,
    #[arg(long = "ep_size", hide = true)]
    ep_size: Option<String>,
    #[arg(long = "cluster_size", hide = true)]
    cluster_size: Option<String>,
    #[arg(long = "gpus_per_node", hide = true)]
    gpus_per_node: Option<String>,
    #[arg(long = "max_num_tokens", hide = true)]
    max_num_tokens: Option<String>,
    #[arg(long = "max_seq_len", hide = true)]
    max_seq_len: Option<String>,
    #[arg(long = "kv_cache_free_gpu_memory_fraction", hide = true)]
    kv_cache_free_gpu_memory_fraction: Option<String>,
    #[arg(long = "num_postprocess_workers", hide = true)]
    num_postprocess_workers: Option<String>,
    #[arg(long = "log_level", hide = true)]
    log_level: Option<String>,
    #[arg(long = "server_role", hide = true)]
    server_role: Option<String>,
    #[arg(long = "metadata_server_config_file", hide = true)]
    metadata_server_config_file: Option<String>,
    #[arg(long = "reasoning_parser", hide = true)]
    reasoning_parser: Option<String>,
    #[arg(long = "trust_remote_code", hide = true)]
    trust_remote_code: bool,
}

#[derive(clap::Args, Debug)]
pub struct RouterArgs {
    /// The router config YAML (hostname, port, context_servers, generation_servers,
    /// ctx_router_config.type: round_robin or conversation).
    #[arg(short = 'c', long = "config_file", alias = "config-file", value_name = "YAML")]
    pub config: PathBuf,
    /// trtllm's server start timeout (accepted, ignored: /health tells readiness).
    #[arg(short = 't', long = "server_start_timeout", value_name = "SECS")]
    pub server_start_timeout: Option<u64>,
    /// trtllm's request timeout (accepted, ignored).
    #[arg(short = 'r', long = "request_timeout", value_name = "SECS")]
    pub request_timeout: Option<u64>,
    /// Write `host:port` to this file (atomically) once listening.
    #[arg(long = "report-addr", visible_alias = "report_addr", value_name = "FILE")]
    pub report_addr: Option<PathBuf>,
    /// Exit 1 as soon as a backend that answered before can no longer be reached.
    #[arg(long, env = "SIMSERVE_EXIT_ON_BACKEND_LOSS", value_parser = FalseyValueParser::new())]
    pub exit_on_backend_loss: bool,
    /// The workers are plain OpenAI-compatible servers (vLLM, SGLang, `transformers serve`):
    /// requests go to them without trtllm's `disaggregated_params`, which strict servers
    /// reject (HTTP 422); the context request is an ordinary one-token prefill.
    #[arg(long, env = "SIMSERVE_PLAIN_BACKENDS", value_parser = FalseyValueParser::new())]
    pub plain_backends: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_trtllm_serve_command_lines() {
        let cli = Cli::try_parse_from([
            "simserve",
            "/models/llama",
            "--backend",
            "pytorch",
            "--config",
            "x.yml",
            "--host",
            "localhost",
            "--port",
            "0",
            "--report_addr",
            "a.addr",
            "--tp_size",
            "4",
            "--trust_remote_code",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.model.as_deref(), Some("/models/llama"));
        assert_eq!(cli.serve.report_addr, Some(PathBuf::from("a.addr")));
        assert_eq!(cli.serve.config, Some(PathBuf::from("x.yml")));
        let cli = Cli::try_parse_from([
            "simserve",
            "disaggregated",
            "-c",
            "s.yaml",
            "-t",
            "3600",
            "-r",
            "3600",
            "--report_addr",
            "r.addr",
        ])
        .unwrap();
        let Some(Command::Disaggregated(r)) = cli.command else { panic!("{cli:?}") };
        assert_eq!(
            (r.config, r.report_addr),
            (PathBuf::from("s.yaml"), Some(PathBuf::from("r.addr")))
        );
        let cli =
            Cli::try_parse_from(["simserve", "serve", "m", "--extra_llm_api_options", "e.yml"])
                .unwrap();
        let Some(Command::Serve(s)) = cli.command else { panic!() };
        assert_eq!(s.config, Some(PathBuf::from("e.yml")));
    }
}
