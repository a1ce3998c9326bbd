#!/usr/bin/env bash
# docs/grafana/parley.json stays true to the code: valid JSON, a Grafana
# dashboard (title, panels with Prometheus targets), and every parley_*
# series a panel queries is one a component exports (broker-plugin/metrics.c
# builds parley_broker_NAME from "NAME", stages.c spells its histogram in
# full; the services spell names in full,
# or http/guard.c builds them as "%s_SUFFIX").
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
src="$PARLEY_SOURCE_DIR"
dash="$src/docs/grafana/parley.json"
jq -e '.title and (.panels | length > 0) and all(.panels[]; (.targets | length > 0))' "$dash" >/dev/null ||
  h_fail "$dash is not a dashboard with panels and targets"
names="$(jq -r '.panels[].targets[].expr' "$dash" | grep -o 'parley_[a-z_]*' | sort -u)"
[ -n "$names" ] || h_fail "no parley_* series in the dashboard"
n=0
for name in $names; do
  base="${name%_bucket}"
  case "$name" in
    parley_broker_*)
      # metrics.c's "NAME", or a full name (stages.c's histogram)
      grep -q "\"${base#parley_broker_}\"" "$src/broker-plugin/metrics.c" ||
        grep -rq "\"$base\"" "$src/broker-plugin" ||
        h_fail "dashboard queries $name; the plugin exports no such series" ;;
    parley_keyserver_* | parley_media_*)
      # full names, or the shared guard's "%s_SUFFIX" after the service prefix
      suffix="${base#parley_keyserver}"; suffix="${suffix#parley_media}"
      grep -rq -e "\"$base\"" -e "\"%s$suffix\"" "$src/keyserver" "$src/media-gateway" "$src/http" ||
        h_fail "dashboard queries $name; no service exports it" ;;
    *) h_fail "dashboard queries $name, not a Parley series" ;;
  esac
  n=$((n + 1))
done
h_log "$n series checked"
h_pass
