#!/usr/bin/python3
"""prom_check.py FILE NAME=VALUE... - parse FILE as Prometheus text with the
Prometheus project's own parser (Debian's python3-prometheus-client) and
check samples: NAME is a sample name with optional labels in braces, e.g.
parley_broker_rejected_total{code="too_large"}=1. Prints the families found;
exits 1 on a parse error or a mismatch."""
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    samples = {}
    families = 0
    for fam in text_string_to_metric_families(text):
        families += 1
        if not fam.documentation:
            sys.exit(f"family {fam.name} has no HELP")
        for s in fam.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            key = s.name + ("{" + labels + "}" if labels else "")
            if key in samples:
                sys.exit(f"duplicate sample {key}")
            samples[key] = s.value
    print(f"{families} families, {len(samples)} samples")
    for want in sys.argv[2:]:
        key, _, value = want.rpartition("=")
        if key not in samples:
            sys.exit(f"sample {key} missing")
        if samples[key] != float(value):
            sys.exit(f"sample {key} is {samples[key]}, expected {value}")


main()
