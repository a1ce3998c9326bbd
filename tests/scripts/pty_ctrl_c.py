"""pty_ctrl_c.py LOG TIMEOUT CMD... - run CMD as the foreground job of a new
pseudo-terminal (as in a terminal window), copy its output to LOG, wait (at most
TIMEOUT seconds) for "Press Ctrl-C to stop.", type Ctrl-C (the terminal sends
SIGINT to its whole foreground process group), wait (at most TIMEOUT seconds)
for CMD to exit, and print its exit status. Exit 3: no banner; 4: still running
after Ctrl-C (CMD is killed then)."""
import os
import pty
import select
import signal
import sys
import time

log, timeout, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)

out = open(log, "wb")
seen = b""


def read_some(wait):
    """Copy what CMD printed within WAIT seconds; False at end of output."""
    global seen
    r, _, _ = select.select([fd], [], [], wait)
    if not r:
        return True
    try:
        data = os.read(fd, 65536)
    except OSError:  # EIO: the terminal's last user closed it
        return False
    if not data:
        return False
    out.write(data)
    out.flush()
    seen += data
    return True


deadline = time.monotonic() + timeout
while b"Press Ctrl-C to stop." not in seen:
    if time.monotonic() > deadline or not read_some(0.1):
        print("no banner", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)
        sys.exit(3)

os.write(fd, b"\x03")  # Ctrl-C: the line discipline sends SIGINT to the group

deadline = time.monotonic() + timeout
status = None
while status is None:
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = st
        break
    if time.monotonic() > deadline:
        print("still running after Ctrl-C", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)
        sys.exit(4)
    if not read_some(0.1):
        time.sleep(0.05)
while read_some(0.1):
    pass
print(os.waitstatus_to_exitcode(status))
