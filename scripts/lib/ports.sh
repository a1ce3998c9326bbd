# shellcheck shell=bash
# Ports and processes for scripts/run: who holds a TCP port, whether that is
# Debian's packaged mosquitto (and stopping it), whether a process we started
# listens. Needs ss (iproute2) and /proc. Sourced after deps.sh (parley_root).

# parley_ip_family ADDR - "4", "6", or "" when ADDR is not an IP literal.
parley_ip_family() {
  case "$1" in
    *:*) echo 6 ;;
    "" | *[!0-9.]*) echo "" ;;
    *) echo 4 ;;
  esac
}

# parley_addr_conflict LISTENER_ADDR BIND_ADDR - true when a listener on
# LISTENER_ADDR (as ss prints it: 127.0.0.1, [::1], *, 0.0.0.0, [::]) keeps us
# from binding BIND_ADDR on the same port. Errs on the side of "in the way": a
# host name as BIND_ADDR (not resolved here) conflicts with every listener.
parley_addr_conflict() {
  local l="$1" b="$2" bf
  l="${l#[}"; l="${l%]}"; l="${l%%%*}"   # [::1] -> ::1, [fe80::1%eth0] -> fe80::1
  b="${b#[}"; b="${b%]}"
  bf="$(parley_ip_family "$b")"
  case "$l" in
    '*' | '::') return 0 ;;                       # every address, IPv6 and maybe IPv4
    0.0.0.0) [ "$bf" != 6 ] || [ "$b" = '::' ]; return ;;
  esac
  [ -n "$bf" ] || return 0
  [ "$l" = "$b" ] && return 0
  [ "$b" = '::' ] && return 0                     # dual-stack wildcard
  [ "$b" = 0.0.0.0 ] && [ "$(parley_ip_family "$l")" = 4 ] && return 0
  return 1
}

# parley_port_holders PORT BIND [ROOT] - one line "PID ADDR" per listener on
# PORT that conflicts with binding BIND (PID is "?" when ss cannot see the
# process, i.e. it belongs to another user and we are not root). With ROOT=1,
# asks ss as root (sudo when not root) so every holder has a pid.
parley_port_holders() {
  local port="$1" bind="$2" asroot="${3:-}" line addr pid
  local ss=(ss -ltnpH "sport = :$port")
  [ "$asroot" = 1 ] && [ "$(id -u)" != 0 ] && ss=(parley_root "${ss[@]}")
  while read -r line; do
    [ -n "$line" ] || continue
    # State Recv-Q Send-Q Local:Port Peer:Port [users:(("name",pid=N,fd=M),...)]
    addr="$(awk '{print $4}' <<<"$line")"; addr="${addr%:*}"
    parley_addr_conflict "$addr" "$bind" || continue
    pid="$(grep -o 'pid=[0-9]*' <<<"$line" | head -n 1 | cut -d= -f2)"
    echo "${pid:-?} $addr"
  done < <("${ss[@]}" 2>/dev/null)
}

# parley_proc_desc PID - "pid N: COMMAND LINE (user U)" for messages.
parley_proc_desc() {
  local pid="$1" cmd user
  # One line, not too long: arguments may hold newlines (python3 -c ...).
  cmd="$(tr '\0\n\t' '   ' <"/proc/$pid/cmdline" 2>/dev/null | tr -s ' ')"; cmd="${cmd% }"
  [ "${#cmd}" -le 160 ] || cmd="${cmd:0:157}..."
  user="$(ps -o user= -p "$pid" 2>/dev/null | tr -d ' ')"
  echo "pid $pid: ${cmd:-?}${user:+ (user $user)}"
}

# parley_systemd_mosquitto_pid - main pid of mosquitto.service when systemd
# runs it, else nothing. (systemctl fails when systemd is not PID 1.)
parley_systemd_mosquitto_pid() {
  command -v systemctl >/dev/null 2>&1 || return 0
  local pid
  pid="$(systemctl show -p MainPID --value mosquitto.service 2>/dev/null)" || return 0
  [ -n "$pid" ] && [ "$pid" != 0 ] && echo "$pid"
  return 0
}

# parley_is_packaged_mosquitto PID - true when PID is the broker of Debian's
# mosquitto package: /usr/sbin/mosquitto -c /etc/mosquitto/mosquitto.conf, which
# is what both mosquitto.service and /etc/init.d/mosquitto run.
# PARLEY_SYSTEM_MOSQUITTO_CONF names another configuration file to recognise
# (the tests start such a broker on a free port).
parley_is_packaged_mosquitto() {
  local want
  want="$(printf '/usr/sbin/mosquitto\0-c\0%s\0' "${PARLEY_SYSTEM_MOSQUITTO_CONF:-/etc/mosquitto/mosquitto.conf}" | od -An -tx1 | tr -d ' \n')"
  [ "$(od -An -tx1 <"/proc/$1/cmdline" 2>/dev/null | tr -d ' \n')" = "$want" ]
}

# parley_wait_gone PID SECONDS - wait until PID no longer exists.
parley_wait_gone() {
  local pid="$1" i
  for ((i = 0; i < $2 * 10; i++)); do
    [ -d "/proc/$pid" ] || return 0
    sleep 0.1
  done
  return 1
}

# parley_free_packaged_mosquitto PORT BIND - when Debian's packaged mosquitto
# holds PORT, stop it (systemd: stop and disable mosquitto.service), saying so.
# Returns 1 when it tried and the port is still held; 0 otherwise (including
# when the holder is something else: the caller's check reports that).
parley_free_packaged_mosquitto() {
  local port="$1" bind="$2" holders pid addr unit_pid seen=" " systemctl
  holders="$(parley_port_holders "$port" "$bind")"
  [ -n "$holders" ] || return 0
  # Another user's process (the packaged broker runs as user mosquitto): ask as root.
  grep -q '^?' <<<"$holders" && holders="$(parley_port_holders "$port" "$bind" 1)"
  unit_pid="$(parley_systemd_mosquitto_pid)"
  while read -r pid addr; do
    case "$seen" in *" $pid "*) continue ;; esac
    seen+="$pid "
    [ "$pid" != "?" ] || continue
    if [ -n "$unit_pid" ] && [ "$pid" = "$unit_pid" ]; then
      echo "parley: port $port is held by Debian's mosquitto.service (installed and started with the mosquitto package);" \
        "stopping and disabling it: systemctl disable --now mosquitto.service (undo: systemctl enable --now mosquitto.service)" >&2
      systemctl="$(command -v systemctl)"
      parley_root "$systemctl" disable --now mosquitto.service >&2 ||
        { echo "parley: systemctl disable --now mosquitto.service failed" >&2; return 1; }
    elif parley_is_packaged_mosquitto "$pid"; then
      echo "parley: port $port is held by Debian's packaged mosquitto ($(parley_proc_desc "$pid")), not run by systemd here;" \
        "stopping it with SIGTERM (start it again with: service mosquitto start)" >&2
      # As root (sudo) only when it is not ours: it runs as user mosquitto.
      kill -TERM "$pid" 2>/dev/null || parley_root kill -TERM "$pid" || true
    else
      continue
    fi
    parley_wait_gone "$pid" 15 || { echo "parley: mosquitto pid $pid is still running after 15 s" >&2; return 1; }
  done <<<"$holders"
  return 0
}

# parley_free_port_from PORT BIND [SKIP...] - the first port above PORT that
# nothing holds and that is not one of SKIP (the other ports we want), for
# suggestions.
parley_free_port_from() {
  local p="$1" bind="$2"; shift 2
  while [ "$p" -lt 65535 ]; do
    p=$((p + 1))
    case " $* " in *" $p "*) continue ;; esac
    [ -z "$(parley_port_holders "$p" "$bind")" ] && { echo "$p"; return 0; }
  done
  echo "$p"
}

# parley_listens PID PORT - true when process PID listens on TCP PORT.
parley_listens() {
  ss -ltnpH "sport = :$2" 2>/dev/null | grep -q "pid=$1,"
}
