#!/usr/bin/env bash
# bench/store.sh - message store benchmark: appends/s of messages with 100-byte
# bodies through the group-commit writer at batch_max 1, 64, 256 and 1024 (and
# 4096, appends only) and
# with one transaction per message; every configuration both as appends (seq 0:
# the store sequences and de-duplicates in the transaction) and with explicit
# seqs (seq > 0, the old in-memory sequencing); same run, same machine, fresh
# SQLite files. Rewrites only the "Store" section
# of docs/benchmarks.md (between <!-- store:begin --> and <!-- store:end -->).
#
#   bench/store.sh                      # 200k group-commit inserts, 3k at batch_max 1,
#                                       # 2k single, 3 rounds
#   STORE_BENCH_GROUP=50000 STORE_BENCH_B1=1000 STORE_BENCH_SINGLE=500 STORE_BENCH_ROUNDS=1 bench/store.sh
#
# Every configuration runs once per round, rounds interleaved so drifting load on
# a shared machine hits all alike; the table shows the median round by rate and
# the range. Uses $PARLEY_BUILD_DIR (default build/); builds store_bench if missing.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
bdir="${PARLEY_BUILD_DIR:-$src/build}"
group_n="${STORE_BENCH_GROUP:-200000}"
single_n="${STORE_BENCH_SINGLE:-2000}"
b1_n="${STORE_BENCH_B1:-3000}"     # batch_max 1 commits once per message: fewer messages
rounds="${STORE_BENCH_ROUNDS:-3}"
doc="$src/docs/benchmarks.md"
bin="$bdir/bench/store/store_bench"

if [ ! -x "$bin" ]; then
  cmake -S "$src" -B "$bdir" >/dev/null
  cmake --build "$bdir" --target store_bench -j2 >/dev/null
fi
tmp="$(mktemp -d "${TMPDIR:-/tmp}/parley-store-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# The configurations: appends and explicit seqs at each batch_max (durable
# default), then synchronous=normal at 256 to show what the fsyncs cost.
configs=()
for e in "" "-E"; do
  configs+=("-g $b1_n -s $single_n -B 1 -S full $e")
  for b in 64 256 1024; do
    configs+=("-g $group_n -s 0 -B $b -S full $e")
  done
done
configs+=("-g $group_n -s 0 -B 4096 -S full")   # appends only: the largest batch
configs+=("-g $group_n -s 0 -B 256 -S normal")
out="$tmp/out.txt"
: >"$out"
for ((r = 1; r <= rounds; r++)); do
  for args in "${configs[@]}"; do
    echo "round $r: store_bench $args" >&2
    # shellcheck disable=SC2086
    "$bin" -u "sqlite:$tmp/bench" $args | tee -a "$out" >&2
  done
done

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
fs="$(df -T "$tmp" | awk 'NR==2 {print $2}')"
load="$(cut -d' ' -f1-3 /proc/loadavg)"
cpu_pressure="$(sed -n 's/^some avg10=\([^ ]*\) avg60=\([^ ]*\).*/avg10 \1%, avg60 \2%/p' \
  /proc/pressure/cpu 2>/dev/null || true)"
section="$tmp/section.md"

# The table: one row per (mode, synchronous, batch_max), the median round.
table="$(python3 - "$out" <<'EOF'
import statistics, sys
runs = {}
group = None
for line in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    if f.get("mode") == "single":
        runs.setdefault(("single", f["sync"], "1", f["seq"]), []).append(f)
    elif f.get("mode") == "group":
        group = f
        runs.setdefault(("group", f["sync"], f["batch_max"], f["seq"]), []).append(f)
    elif f.get("mode") == "group-stats" and group is not None:
        group.update({"stat_" + k: v for k, v in f.items()})
        group = None
names = {"single": "one transaction per message", "group": "group commit (writer)"}
seqs = {"append": "append (seq 0)", "explicit": "explicit seq"}
for key in sorted(runs, key=lambda k: (k[1], k[0] != "single", int(k[2]), k[3])):
    rs = sorted(runs[key], key=lambda f: float(f["rate"]))
    m = rs[(len(rs) - 1) // 2]  # the median (the lower one of an even count)
    lo, hi = float(rs[0]["rate"]), float(rs[-1]["rate"])
    if key[0] == "group":
        commits = m["stat_batches"]
        per = m["stat_avg_batch"]
        cus = m["stat_avg_commit_us"]
        share = "%.0f%%" % (float(commits) * float(cus) / 1e6 / float(m["secs"]) * 100)
        ck = "%s (%s)" % (m.get("stat_checkpoints", "-"), m.get("stat_inline", "-"))
        wal = "%.0f MB" % (float(m["stat_wal_bytes"]) / 1e6) if "stat_wal_bytes" in m else "-"
    else:
        commits, per, cus, share, ck, wal = m["msgs"], "1", "-", "-", "-", "-"
    print("| %s | %s | %s | %s | %s | %s | **%.0f** | %.0f-%.0f | %s | %s | %s | %s | %s | %s | %s |" % (
        names[key[0]], seqs[key[3]], key[1], key[2], m["msgs"], m["secs"], float(m["rate"]), lo, hi,
        m["cpu_us_per_msg"], commits, per, cus, share, ck, wal))
EOF
)"

{
  echo "<!-- store:begin -->"
  echo "## Store"
  echo
  echo "Message appends per second into the SQLite store (\`store/store_sqlite.c\`), 100-byte"
  echo "bodies spread over 100 chats, fresh database file per run. \"append (seq 0)\" is"
  echo "\`store_message_append\` / \`STORE_OP_MESSAGE_PUT\` with seq 0: inside the writer's"
  echo "transaction the store reads the chat's last_seq, inserts the message with the next seq"
  echo "(de-duplicated by the unique index on (sender, client_msg_id)) and bumps last_seq."
  echo "\"explicit seq\" is the old path, the seq counted by the caller (seq > 0), same run."
  echo "\"group commit\" goes through the async writer (\`store/store_writer.c\`: one thread, one"
  echo "transaction per batch, a callback per op after the commit); \"one transaction per message\""
  echo "calls \`store_message_put\` directly, so every message is its own durable commit."
  echo "\`synchronous=full\` is the default (a callback means the WAL is fsynced);"
  echo "\`normal\` is shown only to measure what the fsyncs cost (see docs/store.md)."
  echo "Each configuration ran $rounds times (rounds interleaved); the row is the median round."
  echo
  echo "| mode | seqs | synchronous | batch_max | messages | seconds | appends/s | range of $rounds rounds | CPU µs/msg | commits | avg ops/commit | avg commit µs | time in commit | checkpoints (by the writer) | WAL at the end |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  echo "$table"
  echo
  echo "- machine: $(nproc) CPUs ($cpu), $(uname -sr), database on $fs; load average at the end: $load"
  echo "  (the machine is shared: other builds and tests ran at the same time; CPU pressure, share of"
  echo "  time some task waited for a CPU: ${cpu_pressure:-n/a})"
  echo "- time in commit: share of the run's wall time the writer spent in \`store_commit\` (WAL page"
  echo "  writes + fdatasync), from the writer's own stats"
  echo "- checkpoints: WAL checkpoints of the run, on the checkpoint thread (docs/store.md, \"WAL"
  echo "  checkpoints off the writer's commits\"); in parentheses those the writer ran itself between"
  echo "  two transactions because sustained writing kept the WAL from starting over; WAL at the end:"
  echo "  the WAL file's size before the writer stopped (\`journal_size_limit\` is 64 MB)"
  echo "- CPU µs/msg: CPU time of the benchmark process (every thread, user + system) per message,"
  echo "  a figure that depends much less on the other load of the machine than inserts/s"
  echo "- what dominates: the commit, then CPU. Each commit writes every B-tree page the batch"
  echo "  dirtied to the WAL (with 100 chats about one leaf of the (chat_id, seq) index per chat) and"
  echo "  fdatasyncs it. The avg commit µs of \`full\` and \`normal\` at batch_max 256 differ by"
  echo "  the fsync; the rest is page writes. A larger batch_max spreads both over more messages."
  echo "- append vs explicit seq: inside the writer's batch a run of message puts reads each"
  echo "  chat's last_seq once and writes it back once at the end of the run (\`sq_message_put_many\`,"
  echo "  docs/store.md), so per message both kinds run one INSERT into messages (whose unique"
  echo "  (sender, client_msg_id) index is the de-duplication); compare their CPU µs/msg: wall-clock"
  echo "  rates on a shared machine move with its load by more than the two paths differ (see the ranges)."
  echo "  \"one transaction per message\" still runs read, INSERT and UPDATE in its own transaction"
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- command: \`STORE_BENCH_GROUP=$group_n STORE_BENCH_B1=$b1_n STORE_BENCH_SINGLE=$single_n STORE_BENCH_ROUNDS=$rounds bench/store.sh\`"
  echo "  (runs \`store_bench -g N -s M -B BATCH -S full|normal [-E]\`, see \`bench/store/store_bench.c\`)"
  echo "<!-- store:end -->"
} >"$section"

if [ ! -f "$doc" ]; then
  cat >"$doc" <<'EOF'
# Benchmarks

Measured figures of Parley's components. Each section is written by its own script under
`bench/` (which rewrites only the text between its markers), with the machine, the date and
the exact command, so a figure can always be reproduced.

EOF
fi
if grep -q '<!-- store:begin -->' "$doc"; then
  python3 - "$doc" "$section" <<'EOF'
import re, sys
doc, sec = sys.argv[1], sys.argv[2]
text = open(doc).read()
new = open(sec).read().rstrip("\n")
text = re.sub(r"<!-- store:begin -->.*?<!-- store:end -->", lambda _: new, text, flags=re.S)
open(doc, "w").write(text)
EOF
else
  { echo; cat "$section"; } >>"$doc"
fi
echo "wrote the Store section of $doc" >&2
