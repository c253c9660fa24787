#!/usr/bin/env bash
# The GPU acceptance run, on a machine with NVIDIA GPUs, PyTorch and transformers 5.x and no
# network (see README "Verified on a real GPU"). Needs .gpu/bin and .whl from prepare.sh.
# Makes a random-weight ~1B Llama with a tokenizer trained on the spot, then runs perfline's
# chain through the profile ci/gpu/transformers-h200.yaml: classify | nodecount --pack |
# launch --local (an aggregated tp1 test, then a packed disaggregated-shaped test: context and
# generation server on one GPU each, perfline's router in front), to-csv, upload (SQLite),
# perf-check, report; prints the results, the GPU telemetry and the GPU-to-role placement.
# Usage, from the repository root: OUT=/some/dir bash ci/gpu/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
OUT=${OUT:-/tmp/perfline-gpu}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
BIN=$ROOT/.gpu/bin
W=/tmp/perfline-gpu-work
rm -rf "$W" && mkdir -p "$W"
step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "set-up"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader
python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count(), "transformers", transformers.__version__)'
command -v transformers >/dev/null || { echo "no transformers CLI on PATH"; exit 1; }
echo "perfline commit $(cat .gpu/commit 2>/dev/null)"

step "model: random-weight Llama ~1B bf16 + byte-level BPE tokenizer trained here"
export LLM_MODELS_ROOT=$W/models
python3 ci/gpu/make_model.py "$LLM_MODELS_ROOT/llama-1b-random" || exit 1

# Which process holds which GPU, every second, for the placement table.
( while :; do
    nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv,noheader,nounits 2>/dev/null |
      while IFS=', ' read -r pid uuid mem; do
        echo "$(date -u +%s) $pid $uuid $mem $(tr '\0' ' ' < /proc/"$pid"/cmdline 2>/dev/null | cut -c1-300)"
      done
    sleep 1
  done ) > "$OUT/placement.log" 2>&1 &
SAMPLER=$!
nvidia-smi --query-gpu=index,uuid --format=csv,noheader > "$W/gpus.csv"

step "chain: classify | nodecount --pack | launch --local"
"$BIN/classify" ci/gpu/tests.txt > "$W/tests.jsonl" &&
  "$BIN/nodecount" --config-dir ci/gpu/configs --pack < "$W/tests.jsonl" > "$W/planned.jsonl" || exit 1
"$BIN/launch" --cluster ci/gpu/transformers-h200.yaml --dry-run < "$W/planned.jsonl" > "$W/dry-run.txt" 2>&1
echo "launch --dry-run: resolved models and GPUs per role:"
grep -o '"id":"[^"]*"\|# [A-Z_0-9]*: model [^\\]*' "$W/dry-run.txt"
"$BIN/launch" --cluster ci/gpu/transformers-h200.yaml --local --job-root "$W/jobs" \
  --metrics "$OUT/metrics.jsonl" < "$W/planned.jsonl" > "$W/jobs.jsonl"
echo "launch exit $?"
kill $SAMPLER 2>/dev/null

step "to-csv, upload, perf-check, report"
"$BIN/to-csv" < "$OUT/metrics.jsonl" > "$OUT/results.csv"; echo "to-csv exit $?"
"$BIN/upload" "sqlite:$W/perf.db" < "$OUT/metrics.jsonl" > "$W/upload.jsonl"; echo "upload exit $?"
"$BIN/perf-check" --store "sqlite:$W/perf.db" -i "$OUT/metrics.jsonl" > "$W/verdicts.jsonl"; echo "perf-check exit $?"
"$BIN/report" --store "sqlite:$W/perf.db" --verdicts "$W/verdicts.jsonl" -o "$OUT/report.html"; echo "report exit $?"
python3 - "$W/upload.jsonl" <<'PY'
import json, sqlite3, sys
for l in open(sys.argv[1]):
    print("upload:", l.strip()[:300])
PY

step "results"
python3 ci/gpu/summary.py "$OUT" "$W/jobs" "$W/gpus.csv" | tee "$OUT/summary.txt"
# Logs and job directories, small enough to come back.
tar -C "$W" -czf "$OUT/jobs.tar.gz" jobs 2>/dev/null
ls -la "$OUT"
