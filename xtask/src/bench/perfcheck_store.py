# Fills the store of `cargo xtask bench perfcheck` (created empty by xtask with perfline's own
# schema, perfline_store::schema): CASES cases x the 4 metrics below over RUNS runs, and
# the current run's metric records. Log-normal noise of 1-4 %, 2 % outliers of +-15-20 %, a
# 3-20 % step at a random run in one series of ten, 1 % failed cases.
# Usage: python3 perfcheck_store.py STORE.db CURRENT.jsonl CASES RUNS
import json, math, random, sqlite3, sys

db_path, current_path, n_cases, n_runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
METRICS = ["token_throughput", "seq_throughput", "mean_ttft", "p99_itl"]
rng = random.Random(20261129)
db = sqlite3.connect(db_path)
series = []
for c in range(n_cases):
    test, client = f"bench-test-{c // 4}", f"con{2 ** (c % 4)}_isl1k_osl1k"
    db.execute("INSERT INTO cases (case_key, network, batch_size, `precision`, framework, command) VALUES (?, ?, ?, '', 'trtllm-serve', ?)",
               (f"key{c}", test, 2 ** (c % 4), f"srv-{client}"))
    db.execute("INSERT INTO series VALUES (?, ?, 'srv', ?)", (c + 1, test, client))
    for m in METRICS:
        step = (rng.randrange(5, n_runs + 1), math.exp(rng.choice([-1, 1]) * rng.uniform(0.03, 0.2))) if rng.random() < 0.1 else None
        series.append((c + 1, test, client, m, rng.uniform(10, 5000), rng.uniform(0.01, 0.04), step))


def value(s, run):
    _, _, _, _, level, sigma, step = s
    v = level * math.exp(rng.gauss(0, sigma))
    if step and run >= step[0]:
        v *= step[1]
    if rng.random() < 0.02:
        v *= 1 + rng.choice([-1, 1]) * rng.uniform(0.15, 0.2)
    return v


for run in range(1, n_runs + 1):
    run_id = db.execute("INSERT INTO runs (run_key) VALUES (?)", (f"r{run:03}",)).lastrowid
    failed = {c for c in range(1, n_cases + 1) if rng.random() < 0.01}
    db.executemany("INSERT INTO run_cases (run_id, case_id, status, reasons, log_tail) VALUES (?, ?, ?, '[]', '')",
                   [(run_id, c, "failed" if c in failed else "ok") for c in range(1, n_cases + 1)])
    db.executemany("INSERT INTO perf_result (run_id, case_id, metric, value, unit, status) VALUES (?, ?, ?, ?, NULL, 'ok')",
                   [(run_id, s[0], s[3], value(s, run)) for s in series if s[0] not in failed])
db.commit()
with open(current_path, "w") as out:
    for c in range(n_cases):
        mine = series[c * len(METRICS):(c + 1) * len(METRICS)]
        rec = {"test_id": mine[0][1], "server": "srv", "client": mine[0][2], "status": "ok",
               "metrics": {s[3]: round(value(s, n_runs + 1), 4) for s in mine}}
        out.write(json.dumps(rec) + "\n")
print(len(series))
