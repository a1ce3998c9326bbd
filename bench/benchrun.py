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
