"""Prints the GPU acceptance run's results: one row per metric record (numbers, lengths, GPU
telemetry), and which GPU each server role ran on (from nvidia-smi's compute-apps samples and
the roles' command lines).

usage: python3 summary.py OUT_DIR JOBS_DIR GPUS_CSV
"""

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

out, jobs, gpus_csv = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])


def fmt(v, spec=".1f"):
    return "-" if v is None else format(v, spec)


records = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines() if l.strip()]
print(f"{len(records)} metric records")
head = ("test", "client", "status", "req/s", "out tok/s", "TTFT ms", "TPOT ms", "E2EL ms",
        "out tok/req")
rows = [head]
for r in records:
    m, c = r.get("metrics", {}), r.get("counts", {})
    ok = c.get("successful_requests") or 0
    per_req = (c.get("total_output_tokens") or 0) / ok if ok else None
    rows.append((r["test_id"], r.get("client", ""), r["status"], fmt(m.get("seq_throughput"), ".2f"),
                 fmt(m.get("token_throughput")), fmt(m.get("mean_ttft")), fmt(m.get("mean_tpot"), ".2f"),
                 fmt(m.get("mean_e2el")), fmt(per_req)))
widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
for row in rows:
    print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)))
for r in records:
    if r["status"] != "ok":
        print(f"FAILED {r['test_id']} {r.get('client')}: {' | '.join(r.get('reasons', []))[:600]}")

print("\nGPU telemetry (record metrics):")
for r in records:
    gpu = {k: v for k, v in r.get("metrics", {}).items() if k.startswith("gpu") or "energy" in k or "joule" in k}
    units = r.get("units", {})
    shown = ", ".join(f"{k}={v:.4g}{units.get(k, '')}" for k, v in sorted(gpu.items()))
    print(f"  {r['test_id']} {r.get('client')}: {shown or '(none)'}")
for csv in sorted(jobs.rglob("gpu.*.csv")):
    lines = csv.read_text().splitlines()
    print(f"  {csv.relative_to(jobs)}: {len(lines)} lines; first: {lines[0] if lines else ''}")

# Placement: which server (by its port) held which GPU.
uuid_index = {}
for l in gpus_csv.read_text().splitlines():
    idx, uuid = [x.strip() for x in l.split(",")]
    uuid_index[uuid] = idx
port_role = {}
visible = set()
for f in jobs.rglob("*"):
    if f.is_file() and f.suffix in (".log", ".err", ".out", ".txt"):
        try:
            text = f.read_text(errors="replace")
        except OSError:
            continue
        # Server start lines only (the client's line names the same port).
        for m in re.finditer(r"role: (\w+): (?!.*→)(?:.*?)--port (\d+)", text):
            port_role[m.group(2)] = (m.group(1), f.relative_to(jobs).parts[0])
        for m in re.finditer(r"role: (\w+): CUDA_VISIBLE_DEVICES=([\d,]+) ", text):
            visible.add((f.relative_to(jobs).parts[0], m.group(1), m.group(2)))
print("\nCUDA_VISIBLE_DEVICES per server role (the roles' own log lines):")
for test, role, gpus in sorted(visible):
    print(f"  {test} {role}: CUDA_VISIBLE_DEVICES={gpus}")
held = defaultdict(set)
for l in (out / "placement.log").read_text(errors="replace").splitlines():
    parts = l.split(" ", 4)
    if len(parts) < 5:
        continue
    _, pid, uuid, mem, cmd = parts
    port = re.search(r"--port (\d+)", cmd)
    if not port:
        continue  # the process ended before its command line was read
    who = port_role.get(port.group(1), ("?", "?"))
    held[(who[1], who[0], pid)].add((uuid_index.get(uuid, uuid), int(float(mem or 0))))
print("\nGPU-to-role placement (nvidia-smi compute apps, sampled every second):")
for (test, role, pid), gpus in sorted(held.items()):
    idx = sorted({g for g, _ in gpus})
    peak = max(m for _, m in gpus)
    print(f"  {test} {role} pid {pid}: GPU {','.join(idx)} (peak {peak} MiB)")
