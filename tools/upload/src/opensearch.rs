//! OpenSearch store: one flat document per metric record with the incumbent's typed field
//! prefixes (`s_` text, `l_` integer, `d_` float, `b_` bool; incumbent.md §8), a deterministic
//! `_id` (md5 of the canonical JSON, as the incumbent), sent with the bulk API.
//!
//! Only the wire format is tested (against a local HTTP endpoint); no live OpenSearch was.

use crate::batch::{case_name, Batch};
use crate::retry::{Policy, StoreError};
use perfline::cli::Failure;
use perfline::wire::metrics::{MetricRecord, Status};
use perfline::Exit;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// A document and its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub id: String,
    pub doc: BTreeMap<String, Value>,
}

/// The typed name of a free-form field: kept when its prefix already matches the value's
/// type, else prefixed by the type. `None` for nulls.
fn typed_key(key: &str, value: &Value) -> Option<String> {
    let prefix = match value {
        Value::Null => return None,
        Value::Bool(_) => "b_",
        Value::Number(n) if n.is_i64() || n.is_u64() => "l_",
        Value::Number(_) => "d_",
        Value::String(_) | Value::Array(_) | Value::Object(_) => "s_",
    };
    let key: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect();
    Some(if key.starts_with(prefix) { key } else { format!("{prefix}{key}") })
}

/// Arrays and objects become their JSON text (the documents stay flat).
fn flat(value: &Value) -> Value {
    match value {
        Value::Array(_) | Value::Object(_) => Value::String(value.to_string()),
        other => other.clone(),
    }
}

/// The documents of a batch, in record order.
pub fn documents(batch: &Batch) -> Vec<Document> {
    batch.records.iter().map(|r| document(batch, r)).collect()
}

fn document(batch: &Batch, r: &MetricRecord) -> Document {
    let mut doc = BTreeMap::new();
    let mut put = |k: &str, v: Value| {
        if let Some(key) = typed_key(k, &v) {
            doc.insert(key, flat(&v));
        }
    };
    // Free-form context first, so the record's own fields win on a clash.
    for (k, v) in &r.context {
        put(k, v.clone());
    }
    let run = &batch.run;
    for (name, value) in [
        ("s_run_key", Some(&run.run_key)),
        ("s_job_id", run.job_id.as_ref()),
        ("s_commit", run.commit.as_ref()),
        ("s_host_node_name", run.hostname.as_ref()),
        ("s_gpu", run.gpu.as_ref()),
        ("s_driver", run.driver.as_ref()),
        ("s_cuda", run.cuda.as_ref()),
        ("s_os", run.os.as_ref()),
        ("s_tensorrt", run.tensorrt.as_ref()),
        ("s_trtllm", run.trtllm.as_ref()),
        ("s_start_time", run.start_time.as_ref()),
        ("s_end_time", run.end_time.as_ref()),
        ("s_notes", run.notes.as_ref()),
    ] {
        if let Some(v) = value {
            put(name, Value::String(v.clone()));
        }
    }
    put("s_test_list", r.test_id.clone().into());
    put("s_test_case_name", case_name(r).into());
    if let Some(s) = &r.server {
        put("s_server_name", s.clone().into());
    }
    if let Some(c) = &r.client {
        put("s_client_name", c.clone().into());
    }
    for (k, v) in [("l_concurrency", r.concurrency), ("l_isl", r.isl), ("l_osl", r.osl)] {
        if let Some(v) = v {
            put(k, v.into());
        }
    }
    put("b_is_valid", (r.status == Status::Ok).into());
    if !r.reasons.is_empty() {
        put("s_failure_reasons", r.reasons.join("; ").into());
    }
    for (metric, value) in &r.metrics {
        // Metrics are floats whatever their value (`d_` is checked as float by the incumbent).
        let key = typed_key(metric, &Value::from(0.5)).unwrap_or_default();
        let key = if key.starts_with("d_") { key } else { format!("d_{key}") };
        doc.insert(key, Value::from(*value));
    }
    let id = crate::md5_hex(python_json(&doc).as_bytes());
    Document { id, doc }
}

/// `json.dumps(doc, sort_keys=True, indent=2)` as Python writes it (ASCII-only output), which
/// the incumbent hashes for `_id`. Floats use Rust's shortest form (`1e20` where Python writes
/// `1e+20`); metric values of that size do not occur.
pub fn python_json(doc: &BTreeMap<String, Value>) -> String {
    let sorted: Map<String, Value> = doc.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let pretty = serde_json::to_string_pretty(&Value::Object(sorted)).unwrap_or_default();
    let mut out = String::with_capacity(pretty.len());
    for c in pretty.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// The bulk NDJSON body: a `create` action (so a document already there is left alone and
/// reported as 409) then the document, each on one line, ending with a newline.
pub fn bulk_body(index: &str, docs: &[&Document]) -> String {
    let mut body = String::new();
    for d in docs {
        let action = serde_json::json!({"create": {"_index": index, "_id": d.id}});
        body.push_str(&action.to_string());
        body.push('\n');
        body.push_str(&serde_json::to_string(&d.doc).unwrap_or_default());
        body.push('\n');
    }
    body
}

/// How a delivery went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub created: usize,
    pub already_present: usize,
}

/// Where and how to post.
pub struct Endpoint<'a> {
    pub base: &'a str,
    pub index: &'a str,
    pub credentials: Option<(String, String)>,
    pub timeout: Duration,
}

/// Posts the documents with `POST /_bulk`, retrying what came back 429/5xx (the whole request
/// or single items), never other 4xx.
pub fn deliver(
    endpoint: &Endpoint<'_>,
    docs: &[Document],
    policy: &Policy,
    note: impl FnMut(u32, &Failure, Duration),
) -> Result<Delivered, StoreError> {
    let agent = ureq::AgentBuilder::new().timeout(endpoint.timeout).build();
    let auth = endpoint
        .credentials
        .as_ref()
        .map(|(u, p)| format!("Basic {}", base64(&format!("{u}:{p}"))));
    let url = format!("{}/_bulk", endpoint.base);
    let mut pending: Vec<&Document> = docs.iter().collect();
    let mut done = Delivered { created: 0, already_present: 0 };
    policy.run(
        |_| {
            let body = bulk_body(endpoint.index, &pending);
            let mut request = agent.post(&url).set("Content-Type", "application/x-ndjson");
            if let Some(auth) = &auth {
                request = request.set("Authorization", auth);
            }
            let response = match request.send_string(&body) {
                Ok(r) => r,
                Err(ureq::Error::Status(code, r)) => return Err(http_error(code, r)),
                Err(ureq::Error::Transport(t)) => {
                    return Err(StoreError::transient(format!("{url}: {t}")))
                }
            };
            let text = response
                .into_string()
                .map_err(|e| StoreError::transient(format!("{url}: reading the reply: {e}")))?;
            let statuses = item_statuses(&text).map_err(|m| {
                StoreError::Fatal(Failure::new(Exit::Unavailable, format!("{url}: {m}")))
            })?;
            if statuses.len() != pending.len() {
                return Err(StoreError::Fatal(Failure::new(
                    Exit::Unavailable,
                    format!("{url}: {} items answered for {} sent", statuses.len(), pending.len()),
                )));
            }
            let mut retry = Vec::new();
            for (doc, (status, reason)) in pending.iter().zip(statuses) {
                match status {
                    200 | 201 => done.created += 1,
                    409 => done.already_present += 1,
                    429 | 500..=599 => retry.push(*doc),
                    _ => {
                        return Err(StoreError::Fatal(Failure::data(format!(
                            "{url}: document {} refused with {status}: {reason}",
                            doc.id
                        ))))
                    }
                }
            }
            pending = retry;
            if pending.is_empty() {
                Ok(done)
            } else {
                Err(StoreError::transient(format!("{url}: {} documents to retry", pending.len())))
            }
        },
        note,
    )
}

fn http_error(code: u16, response: ureq::Response) -> StoreError {
    let reason = response.into_string().unwrap_or_default();
    let reason: String = perfline::cli::one_line(&reason).chars().take(200).collect();
    let message = format!("HTTP {code}: {reason}");
    match code {
        429 | 500..=599 => StoreError::transient(message),
        401 | 403 => StoreError::Fatal(Failure::new(Exit::NoPerm, message)),
        404 => StoreError::Fatal(Failure::config(message)),
        _ => StoreError::Fatal(Failure::data(message)),
    }
}

/// Each bulk item's status and error reason, in order.
pub fn item_statuses(reply: &str) -> Result<Vec<(u16, String)>, String> {
    let v: Value = serde_json::from_str(reply).map_err(|e| format!("bad bulk reply: {e}"))?;
    let items = v.get("items").and_then(Value::as_array).ok_or("bulk reply without items")?;
    items
        .iter()
        .map(|item| {
            let inner = item.as_object().and_then(|o| o.values().next()).ok_or("bad bulk item")?;
            let status =
                inner.get("status").and_then(Value::as_u64).ok_or("bulk item without status")?;
            let reason = inner.get("error").map(|e| e.to_string()).unwrap_or_default();
            Ok((u16::try_from(status).unwrap_or(0), reason))
        })
        .collect()
}

/// Standard base64 (for the basic-auth header).
pub fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [0, 1, 2].map(|i| chunk.get(i).copied().unwrap_or(0));
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::RunInfo;

    fn batch() -> Batch {
        let mut record: MetricRecord =
            perfline::jsonl::parse(perfline::wire::metrics::EXAMPLE).unwrap();
        record.context.insert("gpu_type".into(), "h100".into());
        record.context.insert("l_gpus".into(), 8.into());
        record.context.insert("build".into(), serde_json::json!({"n": 1}));
        Batch {
            run: RunInfo {
                run_key: "k".into(),
                commit: Some("c0ffee".into()),
                ..RunInfo::default()
            },
            records: vec![record],
        }
    }

    #[test]
    fn documents_are_flat_and_typed() {
        let docs = documents(&batch());
        let d = &docs[0].doc;
        let keys: Vec<&str> = d.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "b_is_valid",
                "d_mean_ttft",
                "d_seq_throughput",
                "d_token_throughput",
                "l_concurrency",
                "l_gpus",
                "l_isl",
                "l_osl",
                "s_build",
                "s_client_name",
                "s_commit",
                "s_gpu_type",
                "s_run_key",
                "s_server_name",
                "s_test_case_name",
                "s_test_list"
            ]
        );
        assert_eq!(d["s_test_case_name"], "srv-con4_iter2_isl128_osl64");
        assert_eq!(d["d_mean_ttft"], 12.5);
        assert_eq!(d["s_build"], "{\"n\":1}");
        assert_eq!(docs[0].id, crate::md5_hex(python_json(d).as_bytes()));
        assert_eq!(docs, documents(&batch()), "ids are deterministic");
    }

    #[test]
    fn trace_replay_metrics_are_float_fields() {
        let mut b = batch();
        for (m, v) in [("cache_hit_rate", 27.59), ("sessions", 3.0), ("total_cached_tokens", 8.0)] {
            b.records[0].metrics.insert(m.into(), v);
        }
        b.records[0].metrics.insert("mean_ttft_turn_1".into(), 2.6);
        let d = &documents(&b)[0].doc;
        assert_eq!(d["d_cache_hit_rate"], Value::from(27.59));
        assert_eq!(d["d_sessions"], Value::from(3.0));
        assert_eq!(d["d_total_cached_tokens"], Value::from(8.0));
        assert_eq!(d["d_mean_ttft_turn_1"], Value::from(2.6));
    }

    #[test]
    fn python_json_matches_json_dumps() {
        // python3 -c 'import json,hashlib; print(json.dumps({"b":1,"a":"é","c":[]}, sort_keys=True, indent=2))'
        let mut doc = BTreeMap::new();
        doc.insert("b".to_string(), Value::from(1));
        doc.insert("a".to_string(), Value::from("é"));
        doc.insert("d".to_string(), Value::from(2.5));
        assert_eq!(python_json(&doc), "{\n  \"a\": \"\\u00e9\",\n  \"b\": 1,\n  \"d\": 2.5\n}");
    }

    #[test]
    fn bulk_body_is_ndjson() {
        let docs = documents(&batch());
        let body = bulk_body("idx", &docs.iter().collect::<Vec<_>>());
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            format!("{{\"create\":{{\"_index\":\"idx\",\"_id\":\"{}\"}}}}", docs[0].id)
        );
        assert!(body.ends_with('\n'));
    }

    #[test]
    fn bulk_reply_and_base64() {
        let reply = r#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429,"error":{"type":"x"}}}]}"#;
        assert_eq!(
            item_statuses(reply).unwrap(),
            [(201, String::new()), (429, "{\"type\":\"x\"}".into())]
        );
        assert!(item_statuses("{}").is_err());
        assert_eq!(base64("user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64("ab"), "YWI=");
        assert_eq!(base64("a"), "YQ==");
    }
}
