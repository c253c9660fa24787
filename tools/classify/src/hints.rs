//! Informational hints read from config and server names
//! (`gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX`). They are never
//! used for node counts: nodecount reads the config itself.

use perfline::wire::test::Hints;

const GPUS: [&str; 6] = ["gb200", "gb300", "b200", "b300", "h100", "h200"];
const PARALLELISM: [&str; 7] = ["dep", "tep", "etp", "tp", "pp", "ep", "cp"];

/// Names are `_`-separated tokens, some of which carry a `-` suffix (`ccb-UCX`, `mtp0-Default`)
/// or a `-`-separated model name (`deepseek-r1-fp4`): split on both.
fn tokens(name: &str) -> impl Iterator<Item = &str> {
    name.split(['_', '-']).filter(|t| !t.is_empty())
}

/// `tok` is `word` followed by a number (`con1024` → 1024).
fn numbered(tok: &str, word: &str) -> Option<u64> {
    let digits = tok.strip_prefix(word)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn parallelism(tok: &str) -> bool {
    PARALLELISM.iter().any(|p| numbered(tok, p).is_some())
}

/// `1k1k`, `8k1k`, `128k8k` → (ISL, OSL) in tokens, k = 1024.
fn isl_osl(tok: &str) -> Option<(u64, u64)> {
    let (isl, rest) = tok.split_once('k')?;
    let osl = rest.strip_suffix('k')?;
    let kilo = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u64>().ok()?.checked_mul(1024)
    };
    Some((kilo(isl)?, kilo(osl)?))
}

fn transport(tok: &str) -> Option<&'static str> {
    match tok {
        "UCX" => Some("UCX"),
        "NIXL" => Some("NIXL"),
        "DEFAULT" | "Default" => Some("DEFAULT"),
        _ => None,
    }
}

/// True when a config name has both `ctx<N>` and `gen<N>` tokens (a disaggregated config).
pub fn names_ctx_and_gen(config: &str) -> bool {
    tokens(config).any(|t| numbered(t, "ctx").is_some())
        && tokens(config).any(|t| numbered(t, "gen").is_some())
}

/// Hints from a config name and, for aggregated tests selecting one server, its name.
/// The first value found for a field wins.
pub fn parse(config: &str, select: &[String]) -> Hints {
    let mut hints = Hints::default();
    if let Some(first) = tokens(config).next() {
        hints.gpu = GPUS.iter().find(|g| **g == first).map(|g| g.to_string());
    }
    add(&mut hints, config);
    if let [server] = select {
        add(&mut hints, server);
    }
    hints
}

#[derive(Clone, Copy)]
enum Worker {
    Ctx,
    Gen,
}

fn add(hints: &mut Hints, name: &str) {
    // A parallelism token right after `ctx<N>`/`gen<N>` belongs to that worker.
    let mut after: Option<Worker> = None;
    for tok in tokens(name) {
        let previous = after.take();
        if let Some(n) = numbered(tok, "ctx") {
            hints.ctx_servers = hints.ctx_servers.or(u32::try_from(n).ok());
            after = Some(Worker::Ctx);
        } else if let Some(n) = numbered(tok, "gen") {
            hints.gen_servers = hints.gen_servers.or(u32::try_from(n).ok());
            after = Some(Worker::Gen);
        } else if parallelism(tok) {
            let slot = match previous {
                Some(Worker::Ctx) => &mut hints.ctx_parallel,
                Some(Worker::Gen) => &mut hints.gen_parallel,
                None => &mut hints.parallel,
            };
            slot.get_or_insert_with(|| tok.to_string());
        } else if let Some((isl, osl)) = isl_osl(tok) {
            hints.isl = hints.isl.or(Some(isl));
            hints.osl = hints.osl.or(Some(osl));
        } else if let Some(n) = numbered(tok, "con") {
            hints.concurrency = hints.concurrency.or(Some(n));
        } else if let Some(n) = numbered(tok, "bs") {
            hints.batch_size = hints.batch_size.or(Some(n));
        } else if let Some(n) = numbered(tok, "eplb") {
            hints.eplb = hints.eplb.or(Some(n));
        } else if let Some(n) = numbered(tok, "mtp") {
            hints.mtp = hints.mtp.or(Some(n));
        } else if let Some(t) = transport(tok) {
            hints.transport.get_or_insert_with(|| t.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints(config: &str, select: &[&str]) -> serde_json::Value {
        let select: Vec<String> = select.iter().map(|s| s.to_string()).collect();
        serde_json::to_value(parse(config, &select)).unwrap()
    }

    #[test]
    fn disagg_config_name() {
        assert_eq!(
            hints("gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX", &[]),
            serde_json::json!({"gpu":"gb200","isl":1024,"osl":1024,"concurrency":1024,"ctx_servers":1,
                "ctx_parallel":"dep4","gen_servers":1,"gen_parallel":"dep8","eplb":0,"mtp":0,"transport":"UCX"})
        );
    }

    #[test]
    fn ctx_without_parallel_token_and_batch_size() {
        assert_eq!(
            hints("Qwen3-235B-A22B-FP4_1k1k_ctx2_gen1_dep16_bs128_eplb0_mtp1_ccb-NIXL-python", &[]),
            serde_json::json!({"isl":1024,"osl":1024,"ctx_servers":2,"gen_servers":1,
                "gen_parallel":"dep16","batch_size":128,"eplb":0,"mtp":1,"transport":"NIXL"})
        );
    }

    #[test]
    fn dash_suffixed_transport_and_long_context() {
        assert_eq!(
            hints("deepseek-r1-fp4_128k8k_ctx5_pp4_gen1_dep16_bs16_eplb0_mtp0_con256-Default", &[]),
            serde_json::json!({"isl":131072,"osl":8192,"concurrency":256,"ctx_servers":5,
                "ctx_parallel":"pp4","gen_servers":1,"gen_parallel":"dep16","batch_size":16,
                "eplb":0,"mtp":0,"transport":"DEFAULT"})
        );
        assert_eq!(
            hints(
                "gb300_deepseek-v32-fp4_32k4k_con2048_ctx1_dep4_gen1_dep32_eplb288_mtp1_ccb-NIXL",
                &[]
            )["isl"],
            32768
        );
    }

    #[test]
    fn aggregated_server_name() {
        assert_eq!(
            hints("deepseek_r1_fp4_v2_grace_blackwell", &["r1_fp4_v2_dep4_mtp1_8k1k"]),
            serde_json::json!({"isl":8192,"osl":1024,"parallel":"dep4","mtp":1})
        );
        // Several servers: their hints would disagree, so none are taken.
        assert_eq!(
            hints("deepseek_r1_fp4_v2_grace_blackwell", &["a_tp4", "b_tp8"]),
            serde_json::json!({})
        );
    }

    #[test]
    fn names_without_hints() {
        assert_eq!(hints("deepseek-r1-fp4_000", &[]), serde_json::json!({}));
        assert_eq!(hints("", &[]), serde_json::json!({}));
        assert_eq!(hints("con_bs_k_kk_1kk_99999999999999999999k1k", &[]), serde_json::json!({}));
    }

    #[test]
    fn ctx_and_gen_detection() {
        assert!(names_ctx_and_gen("x_ctx1_gen2"));
        assert!(!names_ctx_and_gen("x_ctx1"));
        assert!(!names_ctx_and_gen("context_generation"));
    }
}
