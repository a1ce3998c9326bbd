"""bench/benchrun.py - reading the results the benchmark scripts collect
(one JSON line per run: {"tag", "cfg", "r": parley-loadgen's answer}) and
formatting their figures. Imported by the report steps of cluster.sh and
store_forward.sh (PYTHONPATH=bench)."""
import json
import statistics


def load(path):
    """Every run of a results file."""
    return [json.loads(line) for line in open(path)]


def get(x, *path):
    """x[path[0]][path[1]]..., or None where a step is missing."""
    for p in path:
        if not isinstance(x, dict) or p not in x:
            return None
        x = x[p]
    return x


def med(runs, tag, cfg, *path):
    """The median of a figure over the runs of (tag, cfg), or None."""
    v = [get(x["r"], *path) for x in runs if x["tag"] == tag and x["cfg"] == cfg]
    v = [a for a in v if a is not None]
    return statistics.median(v) if v else None


def ms(us):
    return "n/a" if us is None else "{:.2f} ms".format(us / 1000)


def n(v):
    return "n/a" if v is None else "{:,.0f}".format(v)


def stage_quantiles(pre_path, post_path, qs=(0.5, 0.99)):
    """From two scrapes of the plugin's /metrics (the start and the end of the
    measured window), each stage of parley_broker_message_stage_seconds: its
    count in the window and its quantiles in µs (linear inside a bucket; a
    quantile past the last finite bound is that bound). {} without data."""
    import re
    pat = re.compile(r'^parley_broker_message_stage_seconds_bucket\{stage="(\w+)",le="([^"]+)"\} (\d+)')

    def buckets(path):
        out = {}
        try:
            for line in open(path):
                m = pat.match(line)
                if m:
                    le = float("inf") if m.group(2) == "+Inf" else float(m.group(2)) * 1e6
                    out.setdefault(m.group(1), {})[le] = int(m.group(3))
        except OSError:
            pass
        return out
    a, b = buckets(pre_path), buckets(post_path)
    res = {}
    for stage, post in b.items():
        pre = a.get(stage, {})
        bounds = sorted(post)
        cum = [post[le] - pre.get(le, 0) for le in bounds]
        total = cum[-1] if cum else 0
        if total <= 0:
            continue
        r = {"count": total}
        for q in qs:
            rank = q * total
            lo_b, lo_c = 0.0, 0
            for le, c in zip(bounds, cum):
                if c >= rank:
                    if le == float("inf"):
                        r["p%g" % (q * 100)] = lo_b
                    else:
                        frac = (rank - lo_c) / (c - lo_c) if c > lo_c else 1.0
                        r["p%g" % (q * 100)] = lo_b + frac * (le - lo_b)
                    break
                lo_b, lo_c = le, c
        res[stage] = r
    return res
