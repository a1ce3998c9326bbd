# shellcheck shell=bash
# bench/lib.sh - helpers the benchmark scripts share: free ports, waiting for
# a listener, the machine line, and rewriting one generated section of
# docs/benchmarks.md. Source it: . "$ROOT/bench/lib.sh"

# bench_free_port - print a free TCP port on 127.0.0.1.
bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# bench_wait_port PORT [PID] - wait (at most 10 s) until 127.0.0.1:PORT
# accepts a connection; fails at once if PID is given and has exited.
bench_wait_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then return 1; fi
    sleep 0.05
  done
  return 1
}

# bench_machine - "N CPUs, model, kernel": the line every section starts with.
bench_machine() {
  echo "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -sr)"
}

# bench_write_section DOC NAME FILE - replace what lies between
# <!-- NAME:begin --> and <!-- NAME:end --> in DOC with FILE's text.
bench_write_section() {
  grep -q "<!-- $2:begin -->" "$1" || { echo "no <!-- $2:begin --> marker in $1" >&2; return 1; }
  python3 - "$1" "$2" "$3" <<'PY'
import sys
doc, name, sec = sys.argv[1:4]
s = open(doc).read()
b, e = "<!-- %s:begin -->" % name, "<!-- %s:end -->" % name
a = s.index(b) + len(b)
z = s.index(e)
open(doc, "w").write(s[:a] + "\n" + open(sec).read() + s[z:])
PY
}
