# The Python baseline of `cargo xtask bench perfcheck`: perf-check's change-point judgement
# (ARCHITECTURE.md "Judging performance") with sqlite3, numpy and scipy.special:
#   - history: one SQL query for every ok value (failed cases left out) with its run's
#     position, grouped with numpy: the latest WINDOW values of each series plus the first 10
#     of its baseline (anchor runs beyond the window); case identities from the series table;
#   - per series (log values): isolated outliers out, E-divisive placement with a pooled
#     t-test, pruning with the robust noise (Hodges-Lehmann shift, effective sample sizes,
#     Bonferroni over the split's positions), the shared-last-point rule, the move of the
#     current level against the baseline segment;
#   - over all series at once (numpy): Benjamini-Hochberg, the three-way decision with
#     runs_needed, the overwhelming-case rule, case verdicts.
# No pending runs (one input) and no --accept: the bench uses neither (so a level of
# confirmation runs only, perf-check's `fixed` level, never arises here).
# Usage: python3 perfcheck.py STORE.db CURRENT.jsonl WINDOW [EXCLUDE_RUN_KEY]
#   -> {"series": {verdict: count}, "cases": {verdict: count}} as one JSON line.
import json, math, sqlite3, sys

import numpy as np
from scipy.special import ndtri, stdtr, stdtrit

ALPHA, MIN_HISTORY, MIN_CHANGE, MIN_EFFECT, FDR, OVERWHELMING_Z = 0.001, 5, 0.02, 3.0, 0.05, 8.0
OUTLIER_K, SHARE_ALPHA, MAX_RUNS_NEEDED, ANCHOR_RUNS, MAX_RHO = 4.0, 0.05, 1000, 10, 0.8
SHOWN_RUNS_NEEDED = 50
MC = math.log(1.0 + MIN_CHANGE)
EPS16 = 2.220446049250313e-16 * 16.0
SQRT2 = math.sqrt(2.0)

# perfline::metric::DIRECTIONS (True: higher is better), then the name rules of `better`.
DIRECTIONS = {m: True for m in ("seq_throughput", "token_throughput", "total_token_throughput",
                                "user_throughput", "al", "cache_hit_rate")}
DIRECTIONS.update({m: False for m in (
    "mean_ttft", "median_ttft", "p99_ttft", "mean_tpot", "median_tpot", "p99_tpot", "mean_itl",
    "median_itl", "p99_itl", "mean_e2el", "median_e2el", "p99_e2el",
    "mean_gen_worker_per_iter_device_step_time", "gpu_energy_per_token", "gpu_power_mean",
    "gpu_mem_used_max")})
LOWER_SUFFIXES = ("_ttft", "_tpot", "_itl", "_e2el", "_time")


def better(metric):
    b = DIRECTIONS.get(metric)
    if b is not None:
        return b
    if "throughput" in metric:
        return True
    if metric.startswith("mean_ttft_turn_") or metric.endswith(LOWER_SUFFIXES) or "latency" in metric:
        return False
    return None


# Verdicts: codes, names and the case rank (regression > suspect > undecided > improvement >
# no-change > insufficient-data).
REGRESSION, SUSPECT, UNDECIDED, IMPROVEMENT, NO_CHANGE, INSUFFICIENT = range(6)
NAMES = {REGRESSION: "regression", SUSPECT: "suspect", UNDECIDED: "undecided",
         IMPROVEMENT: "improvement", NO_CHANGE: "no-change", INSUFFICIENT: "insufficient-data"}


def two_sided(diff, se, df):
    if not (se > 0.0 and math.isfinite(se)):
        return 1.0 if abs(diff) <= EPS16 else 0.0
    p = 2.0 * (1.0 - float(stdtr(df, abs(diff / se))))
    return min(max(p, 0.0), 1.0)


def shift_p(diff, se, df):
    return two_sided(diff, se, max(df, 1.0))


def t_test(a, b):
    na, nb = len(a), len(b)
    if na == 0 or nb == 0 or na + nb < 3:
        return 1.0
    ma, mb = a.sum() / na, b.sum() / nb
    ssa = float(((a - ma) ** 2).sum())
    ssb = float(((b - mb) ** 2).sum())
    df = na + nb - 2
    return two_sided(float(ma - mb), math.sqrt((ssa + ssb) / df * (1.0 / na + 1.0 / nb)), df)


def median(x):
    # np.median's overhead dominates on a few dozen values: sort and pick.
    s = np.sort(x)
    h = len(s) // 2
    return float(s[h]) if len(s) % 2 else float((s[h - 1] + s[h]) / 2.0)


def hodges_lehmann(a, b):
    if len(a) * len(b) > 4096:
        return median(b) - median(a)
    return median(np.subtract.outer(b, a).ravel())


def best_split(z, mn):
    # The energy statistic at every split from prefix sums of the distance matrix.
    n = len(z)
    d = np.abs(z[:, None] - z[None, :])
    p = d.cumsum(0).cumsum(1)
    tau = np.arange(mn, n - mn + 1)
    within_l = p[tau - 1, tau - 1] / 2
    cross = p[tau - 1, n - 1] - p[tau - 1, tau - 1]
    within_r = (p[n - 1, n - 1] - 2 * cross - 2 * within_l) / 2
    left, right = tau.astype(float), (n - tau).astype(float)
    pl, pr = np.maximum(left * (left - 1) / 2, 1), np.maximum(right * (right - 1) / 2, 1)
    q = left * right / (left + right) * (2 * cross / (left * right) - within_l / pl - within_r / pr)
    return int(tau[int(np.argmax(q))])


def bisect(z, lo, hi, out):
    if hi - lo < 4:
        return
    tau = best_split(z[lo:hi], 2) + lo
    if t_test(z[lo:tau], z[tau:hi]) < ALPHA:
        out.append(tau)
        bisect(z, lo, tau, out)
        bisect(z, tau, hi, out)


def drop_weakest(found, ps, shifts, min_shift):
    """Removes the weakest insignificant point, else the smallest shift under min_shift."""
    weak = [(p, i) for i, p in enumerate(ps) if p >= ALPHA]
    if weak:
        found.pop(max(weak)[1])
        return True
    small = [(d, i) for i, d in enumerate(shifts) if d < min_shift]
    if small:
        found.pop(min(small)[1])
        return True
    return False


def detect(z, min_shift):
    found = []
    bisect(z, 0, len(z), found)
    found.sort()
    while True:
        b = [0] + found + [len(z)]
        ps, shifts = [], []
        for i in range(1, len(b) - 1):
            left, right = z[b[i - 1]:b[i]], z[b[i]:b[i + 1]]
            ps.append(t_test(left, right))
            shifts.append(abs(float(right.sum() / len(right) - left.sum() / len(left))))
        if not drop_weakest(found, ps, shifts, min_shift):
            return found


def bounds(n, cps):
    b = [0]
    for i in cps:
        if 0 < i < n and i != b[-1]:
            b.append(i)
    if b[-1] != n:
        b.append(n)
    return b


class Noise:
    __slots__ = ("sigma", "rho", "df")

    def __init__(self, sigma=0.0, rho=0.0, df=0.0):
        self.sigma, self.rho, self.df = sigma, rho, df

    def n_eff(self, n):
        return min(max(n * (1.0 - self.rho) / (1.0 + self.rho), min(1.0, n)), max(float(n), 1.0))

    def se_diff(self, na, nb):
        return self.sigma * math.sqrt(1.0 / self.n_eff(na) + 1.0 / self.n_eff(nb))


def diff_noise(y, lag):
    """1.4826 * median |y[t+lag] - y[t]| / sqrt 2 (0 for too few values)."""
    d = np.abs(y[lag:] - y[:-lag])
    return 1.4826 * median(d) / SQRT2 if len(d) else 0.0


def robust_noise(y, cps, floor=0.0):
    parts, seg_ids = [], []
    b = bounds(len(y), cps)
    for s, (lo, hi) in enumerate(zip(b, b[1:])):
        n = hi - lo
        if n < 2:
            continue
        seg = y[lo:hi]
        parts.append((seg - median(seg)) * math.sqrt(n / (n - 1)))
        seg_ids.append(np.full(n, s))
    if not parts:
        return Noise(max(0.0, floor))
    r = np.concatenate(parts)
    seg = np.concatenate(seg_ids)
    n = len(r)
    sigma = 1.4826 * median(np.abs(r))
    if sigma <= 0.0:
        sigma = math.sqrt(float((r * r).sum()) / n)
    rho = 0.0
    if sigma > 0.0:
        c = np.clip(r, -3.0 * sigma, 3.0 * sigma)
        den = float((c * c).sum())
        same = seg[1:] == seg[:-1]
        num = float((c[1:] * c[:-1])[same].sum())
        rho = min(max(num / den if den > 0.0 else 0.0, 0.0), MAX_RHO)
    return Noise(max(sigma, floor), rho, max((n - len(parts)) * (1.0 - rho) / (1.0 + rho), 1.0))


def prune(z, found, min_shift, noise):
    found = list(found)
    while True:
        b = bounds(len(z), found)
        tested, shifts = [], []
        for i in range(1, len(b) - 1):
            left, right = z[b[i - 1]:b[i]], z[b[i]:b[i + 1]]
            d = hodges_lehmann(left, right)
            positions = max(len(left) + len(right) - 3, 1)
            p = min(shift_p(d, noise.se_diff(len(left), len(right)), noise.df) * positions, 1.0)
            tested.append((b[i], p))
            shifts.append(abs(d))
        if not drop_weakest(found, [p for _, p in tested], shifts, min_shift):
            return tested


def signum(x):
    return math.copysign(1.0, x)


def judge(history, current):
    """One series: a verdict code without statistics, or the statistics of a judged series
    (p, n_base, n_new, effect, se, df, sigma, rho, current_off, searched)."""
    logs = np.log(history[np.isfinite(history) & (history > 0.0)])
    if len(logs) < max(MIN_HISTORY, 2):
        return INSUFFICIENT
    if not (math.isfinite(current) and current > 0.0):
        return SUSPECT
    c = math.log(current)
    diffs = np.abs(np.diff(logs))
    sigma0 = 1.4826 * median(diffs) / SQRT2 if len(diffs) else 0.0
    if sigma0 > 0.0:
        # Isolated outliers: off the mean of the two neighbours (the two after it, for the
        # first; the current run after the last) while those agree.
        ext = np.append(logs, c)
        a = np.concatenate(([ext[1]], ext[:-2]))
        b = np.concatenate(([ext[2]], ext[2:]))
        out = (np.abs(logs - (a + b) / 2.0) > OUTLIER_K * sigma0 * math.sqrt(1.5)) & (
            np.abs(a - b) <= 3.0 * sigma0 * SQRT2)
        y = logs[~out]
    else:
        y = logs
    m = len(y)
    z = np.append(y, c)
    first = detect(z, max(MC, MIN_EFFECT * sigma0))
    # sigma never below the smaller of the first- and lag-2-difference scales of the kept
    # values (segmenting a correlated wander shrinks the residuals).
    floor_sigma = min(diff_noise(y, 1), diff_noise(y, 2))
    noise = robust_noise(y, first, floor_sigma)
    cps = prune(z, first, max(MC, MIN_EFFECT * noise.sigma), noise)
    # The last change point must be shared by the earlier runs after it.
    while cps and cps[-1][0] < m:
        k = cps[-1][0]
        prev = cps[-2][0] if len(cps) >= 2 else 0
        before, earlier_new = z[prev:k], z[k:m]
        d = hodges_lehmann(before, earlier_new)
        dc = c - median(before)
        se = noise.se_diff(len(before), len(earlier_new))
        if signum(d) == signum(dc) and shift_p(d, se, noise.df) / 2.0 < SHARE_ALPHA:
            break
        cps.pop()
    noise = robust_noise(y, [i for i, _ in cps], floor_sigma)
    new_start = min(cps[-1][0], m) if cps else m
    base_end = min(cps[0][0], new_start) if cps else new_start
    base, new = z[:base_end], z[new_start:]
    if len(base) < 2:
        return INSUFFICIENT
    current_off = False
    if len(new) >= 3:
        level = median(new[:-1])
        se = noise.sigma * math.sqrt(1.0 + 1.0 / noise.n_eff(len(new) - 1))
        current_off = shift_p(c - level, se, noise.df) < ALPHA
    effect = hodges_lehmann(base, new)
    se = noise.se_diff(len(base), len(new))
    p = shift_p(effect, se, noise.df)
    searched = bool(cps) and cps[-1][0] < m
    if searched:
        p = min(p * max(len(z) - 3, 1), 1.0)
    return (p, len(base), len(new), effect, se, noise.df, noise.sigma, noise.rho, current_off,
            searched)


def t_quantile(p, df):
    """Student's t quantile, vectorised: Cornish-Fisher from 5 degrees of freedom (as
    perfline::changepoint::t_quantile), the exact inverse below."""
    p = np.clip(p, 1e-12, 1.0 - 1e-12)
    v = np.maximum(df, 1.0)
    z = ndtri(p)
    z2 = z * z
    g1 = (z2 + 1.0) * z / 4.0
    g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0
    g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0
    g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0
    cf = z + g1 / v + g2 / (v * v) + g3 / (v * v * v) + g4 / (v * v * v * v)
    return np.where(v >= 5.0, cf, stdtrit(v, p))


def n_eff(n, rho):
    return np.clip(n * (1.0 - rho) / (1.0 + rho), np.minimum(1.0, n), np.maximum(n, 1.0))


def benjamini_hochberg(p):
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.empty(m)
    q[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return q


def decide(s, higher):
    """Verdict codes of the judged series (arrays of their statistics), after BH."""
    p, n_base, n_new, d, se, df, sigma, rho, off, searched = s
    q = benjamini_hochberg(p)
    big = np.abs(d) >= MC
    clear = big & (~searched | (np.abs(d) >= MIN_EFFECT * sigma))
    t1 = t_quantile(1.0 - FDR, df)
    moved = np.where((d < 0.0) == higher, REGRESSION, IMPROVEMENT)
    verdict = np.select(
        [off, (n_new == 1) & (p < ALPHA) & (q <= FDR) & big, (n_new >= 2) & (q <= FDR) & clear,
         np.abs(d) + t1 * se < MC],
        [SUSPECT, SUSPECT, moved, NO_CHANGE], UNDECIDED)
    # runs_needed of the undecided ones: bisection of a monotone rule over all at once.
    und = verdict == UNDECIDED
    per_run = ((1.0 - rho) / (1.0 + rho))[und]
    base_term = 1.0 / n_eff(n_base[und], rho[und])

    def decided(more):
        se_m = sigma[und] * np.sqrt(base_term + 1.0 / n_eff(n_new[und] + more, rho[und]))
        df_m = df[und] + more * per_run
        ad = np.abs(d[und])
        # A move of at least min-change holds at ALPHA (the bar of a level of confirmation
        # runs), or the interval lies inside +-min-change.
        return ((ad >= MC) & (t_quantile(1.0 - ALPHA / 2.0, df_m) * se_m < ad)) | (
            ad + t_quantile(1.0 - FDR, df_m) * se_m < MC)

    lo, hi = np.zeros(und.sum()), np.full(und.sum(), float(MAX_RUNS_NEEDED))
    can = decided(hi)
    while np.any(hi - lo > 1):
        open_ = hi - lo > 1
        mid = np.floor((lo + hi) / 2)
        ok = decided(mid)
        hi, lo = np.where(open_ & ok, mid, hi), np.where(open_ & ~ok, mid, lo)
    # Every undecided series has one, at most SHOWN_RUNS_NEEDED.
    runs_needed = np.clip(np.where(can, hi, SHOWN_RUNS_NEEDED), 1, SHOWN_RUNS_NEEDED)
    z = np.where(se > 0.0, np.abs(d / np.where(se > 0.0, se, 1.0)), np.where(d == 0.0, 0.0, np.inf))
    strong = (verdict == SUSPECT) & (n_new == 1) & ~off & (z >= OVERWHELMING_Z) & (np.abs(d) >= 3.0 * MC)
    return verdict, moved, strong, runs_needed


def main():
    db = sqlite3.connect(sys.argv[1])
    window = int(sys.argv[3])
    exclude = sys.argv[4] if len(sys.argv) > 4 else None
    current, case_of, cases = {}, {}, {}
    for line in open(sys.argv[2]):
        if not line.strip():
            continue
        r = json.loads(line)
        if r.get("status") != "ok":
            continue
        case = (r["test_id"], r.get("server") or "", r.get("client") or "")
        for metric, value in r["metrics"].items():
            b = better(metric)
            if b is not None:
                current[case + (metric,)] = (value, b)
                case_of[case + (metric,)] = cases.setdefault(case, len(cases))
    # Identity of each case (the series table), then one query: every ok value of the store
    # with its run's position in history order; grouped per series with numpy.
    ident = {cid: (t, sv, cl) for cid, t, sv, cl in
             db.execute("SELECT case_id, test_id, server, client FROM series")}
    rows = db.execute("""
        WITH r AS (SELECT id, run_key,
                   ROW_NUMBER() OVER (ORDER BY (start_time IS NULL), start_time, id) AS pos FROM runs)
        SELECT p.case_id, p.metric, p.value, r.pos FROM perf_result p JOIN r ON r.id = p.run_id
        LEFT JOIN run_cases rc ON rc.run_id = p.run_id AND rc.case_id = p.case_id
        WHERE p.status = 'ok' AND (rc.status IS NULL OR rc.status = 'ok') AND r.run_key IS NOT ?""",
                      (exclude,)).fetchall()
    ids = {}
    sid = np.fromiter((ids.setdefault((c, m), len(ids)) for c, m, _, _ in rows), np.int64, len(rows))
    val = np.fromiter((v for _, _, v, _ in rows), float, len(rows))
    pos = np.fromiter((q for *_, q in rows), np.int64, len(rows))
    order = np.lexsort((pos, sid))
    val = val[order]
    starts = np.searchsorted(sid[order], np.arange(len(ids) + 1))
    where = {ident[c] + (m,): i for (c, m), i in ids.items() if c in ident}
    empty = np.empty(0)

    def history(key):
        # The latest `window` values and the first ANCHOR_RUNS before them (the baseline).
        i = where.get(key)
        if i is None:
            return empty
        h = val[starts[i]:starts[i + 1]]
        if len(h) > window:
            h = np.concatenate((h[:min(ANCHOR_RUNS, len(h) - window)], h[-window:]))
        return h

    keys = list(current)
    verdict = np.full(len(keys), INSUFFICIENT)
    higher = np.array([current[k][1] for k in keys])
    judged, stats = [], []
    for i, k in enumerate(keys):
        o = judge(history(k), current[k][0])
        if isinstance(o, tuple):
            judged.append(i)
            stats.append(o)
        else:
            verdict[i] = o
    judged = np.array(judged, dtype=int)
    if len(judged):
        cols = [np.array(c) for c in zip(*stats)]
        v, moved, strong, _ = decide(cols, higher[judged])
        # A case whose current run alone moved two or more metrics the same way, far outside
        # the noise, is decided at once.
        case = np.array([case_of[keys[i]] for i in judged])
        reg = np.bincount(case[strong & (moved == REGRESSION)], minlength=len(cases))
        imp = np.bincount(case[strong & (moved == IMPROVEMENT)], minlength=len(cases))
        decided_case = ((reg >= 2) & (imp == 0)) | ((imp >= 2) & (reg == 0))
        v = np.where(strong & decided_case[case], moved, v)
        verdict[judged] = v
    # Case verdicts: the most urgent of its metrics (codes are ranks).
    case_verdict = np.full(len(cases), INSUFFICIENT + 1)
    np.minimum.at(case_verdict, np.array([case_of[k] for k in keys], dtype=int), verdict)
    count = lambda a: {NAMES[c]: int(n) for c, n in sorted(
        zip(*np.unique(a[a <= INSUFFICIENT], return_counts=True)), key=lambda x: NAMES[x[0]])}
    print(json.dumps({"series": count(verdict), "cases": count(case_verdict)}))


main()
