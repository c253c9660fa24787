# The Python baseline of `cargo xtask bench perfcheck`: the same judgement as perf-check's
# change-point method (history rules, outliers, E-divisive with a pooled t-test, verdicts), with
# sqlite3 and numpy (vectorised energy statistic) and scipy's Student t.
# Usage: python3 perfcheck.py STORE.db CURRENT.jsonl WINDOW  → verdict counts as one JSON line.
import json, math, sqlite3, sys
from collections import Counter, defaultdict

import numpy as np
from scipy.stats import t as student_t

ALPHA, MIN_HISTORY, MIN_CHANGE, MIN_EFFECT, OUTLIER_K, SHARE_ALPHA = 0.001, 5, 0.02, 2.0, 4.0, 0.05
HIGHER = {"seq_throughput", "token_throughput", "total_token_throughput", "user_throughput", "al"}


def better(metric):
    if metric in HIGHER or "throughput" in metric:
        return "higher"
    if any(metric.endswith(s) for s in ("_ttft", "_tpot", "_itl", "_e2el", "_time")) or "latency" in metric:
        return "lower"
    return None


def two_sided(diff, se, df):
    if not se > 0 or not math.isfinite(se):
        return 1.0 if abs(diff) <= 2.220446049250313e-16 * 16 else 0.0
    return float(min(1.0, 2.0 * student_t.sf(abs(diff / se), df)))


def mean_var(x):
    n = len(x)
    m = float(np.mean(x))
    return m, (float(np.var(x, ddof=1)) if n > 1 else 0.0)


def t_test(a, b):
    na, nb = len(a), len(b)
    if na == 0 or nb == 0 or na + nb < 3:
        return 1.0
    ma, va = mean_var(a)
    mb, vb = mean_var(b)
    df = na + nb - 2
    pooled = ((na - 1) * va + (nb - 1) * vb) / df
    return two_sided(ma - mb, math.sqrt(pooled * (1 / na + 1 / nb)), df)


def best_split(z, mn):
    n = len(z)
    if n < 2 * mn:
        return None
    d = np.abs(z[:, None] - z[None, :])
    p = d.cumsum(0).cumsum(1)
    tau = np.arange(mn, n - mn + 1)
    within_l = p[tau - 1, tau - 1] / 2
    cross = p[tau - 1, n - 1] - p[tau - 1, tau - 1]
    within_r = (p[n - 1, n - 1] - 2 * cross - 2 * within_l) / 2
    left, right = tau.astype(float), (n - tau).astype(float)
    pairs = lambda k: np.maximum(k * (k - 1) / 2, 1)
    q = left * right / (left + right) * (2 * cross / (left * right) - within_l / pairs(left) - within_r / pairs(right))
    return int(tau[int(np.argmax(q))])


def bisect(z, lo, hi, out):
    if hi - lo < 4:
        return
    tau = best_split(z[lo:hi], 2)
    if tau is None:
        return
    tau += lo
    if t_test(z[lo:tau], z[tau:hi]) < ALPHA:
        out.append(tau)
        bisect(z, lo, tau, out)
        bisect(z, tau, hi, out)


def detect(z, min_shift):
    found = []
    bisect(z, 0, len(z), found)
    found.sort()
    while True:
        bounds = [0] + found + [len(z)]
        tested, shifts = [], []
        for i in range(1, len(bounds) - 1):
            left, right = z[bounds[i - 1]:bounds[i]], z[bounds[i]:bounds[i + 1]]
            tested.append((bounds[i], t_test(left, right)))
            shifts.append(abs(float(np.mean(right)) - float(np.mean(left))))
        weak = [(p, i) for i, (_, p) in enumerate(tested) if p >= ALPHA]
        small = [(d, i) for i, d in enumerate(shifts) if d < min_shift]
        if weak:
            found.pop(max(weak)[1])
        elif small:
            found.pop(min(small)[1])
        else:
            return tested


def noise(y):
    diffs = np.abs(np.diff(y))
    return 0.0 if len(diffs) == 0 else 1.4826 * float(np.median(diffs)) / math.sqrt(2)


def isolated_outliers(y, nxt, sigma):
    if sigma <= 0:
        return set()
    lim_r, lim_ab = OUTLIER_K * sigma * math.sqrt(1.5), 3 * sigma * math.sqrt(2)
    ext = list(y) + [nxt]
    out = set()
    for i in range(len(y)):
        a, b = (1, 2) if i == 0 else (i - 1, i + 1)
        if b >= len(ext):
            continue
        if abs(y[i] - (ext[a] + ext[b]) / 2) > lim_r and abs(ext[a] - ext[b]) <= lim_ab:
            out.add(i)
    return out


def residual_sd(y, cps):
    bounds = [0] + [i for i, _ in cps if i < len(y)] + [len(y)]
    ss = sum(float(np.sum((y[a:b] - np.mean(y[a:b])) ** 2)) for a, b in zip(bounds, bounds[1:]) if b > a)
    df = len(y) - (len(bounds) - 1)
    return math.sqrt(ss / df) if df > 0 else 0.0


def prediction_p(sample, x, sigma, df):
    return two_sided(x - float(np.mean(sample)), sigma * math.sqrt(1 + 1 / len(sample)), max(df, 1.0))


def judge(history, current, direction):
    logs = np.log(np.array([v for v in history if v > 0 and math.isfinite(v)], dtype=float))
    if len(logs) < MIN_HISTORY:
        return "insufficient-data"
    if not current > 0:
        return "suspect"
    c = math.log(current)
    sigma = noise(logs)
    drop = isolated_outliers(logs, c, sigma)
    y = np.array([v for i, v in enumerate(logs) if i not in drop])
    m = len(y)
    robust = noise(y)
    z = np.append(y, c)
    min_shift = max(math.log1p(MIN_CHANGE), MIN_EFFECT * robust)
    cps = detect(z, min_shift)
    sigma = max(robust, residual_sd(y, cps))
    df = max(m - 1, 0)
    if cps:
        k = cps[-1][0]
        prev = cps[-2][0] if len(cps) >= 2 else 0
        before, new = z[prev:k], z[k:m]
        mb, mn = float(np.mean(before)), float(np.mean(new))
        shared = np.sign(mn - mb) == np.sign(c - mb) and t_test(before, new) / 2 < SHARE_ALPHA
        if shared and prediction_p(new, c, sigma, df) >= ALPHA:
            shift = float(np.mean(z[k:])) - mb
            if abs(shift) < min_shift:
                return "no-change"
            return "regression" if (shift < 0) == (direction == "higher") else "improvement"
        return "suspect"
    p = prediction_p(y, c, sigma, df)
    return "suspect" if p < ALPHA and abs(c - float(np.mean(y))) >= min_shift else "no-change"


def main():
    db, current, window = sqlite3.connect(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    wanted = {}
    for line in open(current):
        r = json.loads(line)
        if r["status"] != "ok":
            continue
        for metric, value in r["metrics"].items():
            if better(metric):
                wanted[(r["test_id"], r.get("server") or "", r.get("client") or "", metric)] = value
    cases = {}
    keys = {(t, s, c) for t, s, c, _ in wanted}
    for cid, t, s, c in db.execute("SELECT case_id, test_id, server, client FROM series"):
        if (t, s, c) in keys:
            cases[cid] = (t, s, c)
    runs = db.execute("SELECT id FROM runs ORDER BY (start_time IS NULL), start_time, id").fetchall()
    history = defaultdict(list)
    open_series = len(wanted)
    for (run_id,) in reversed(runs):
        if open_series == 0:
            break
        failed = {cid for (cid,) in db.execute("SELECT case_id FROM run_cases WHERE run_id = ? AND status <> 'ok'", (run_id,))}
        for cid, metric, value in db.execute("SELECT case_id, metric, value FROM perf_result WHERE run_id = ? AND status = 'ok'", (run_id,)):
            case = cases.get(cid)
            if case is None or cid in failed:
                continue
            key = case + (metric,)
            if key in wanted and len(history[key]) < window:
                history[key].append(value)
                if len(history[key]) == window:
                    open_series -= 1
    counts = Counter(judge(history[k][::-1], v, better(k[3])) for k, v in wanted.items())
    print(json.dumps(dict(sorted(counts.items()))))


main()
