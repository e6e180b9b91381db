#!/usr/bin/env bash
# How long a restart of the gateway process takes (`gateway.restart.request` / SIGUSR2, see
# README "Restarting the gateway"): starts the release build on a loopback port, sends
# SIGUSR2 ROUNDS times, and times each from the signal to `/readyz` answering 200 again on
# the same port (the old process drains, stops and execs the new one). Also prints the
# open file descriptors and resident size after the last restart (nothing may leak across
# an exec). Loopback only; the gateway is stopped at the end.
#
#   scripts/bench/restart.sh            # ROUNDS=20
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${ROUNDS:=20}"
cargo build --release --quiet --bin openclaw
dir="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "${dir}"' EXIT
HOME="${dir}" OPENCLAW_STATE_DIR="${dir}/state" target/release/openclaw gateway run --port 0 --token BENCH \
    >"${dir}/out.log" 2>"${dir}/err.log" &
pid=$!
port=""
for _ in $(seq 1 200); do
    port="$(grep -o 'listening on ws://127.0.0.1:[0-9]*' "${dir}/out.log" 2>/dev/null | head -1 | grep -o '[0-9]*$' || true)"
    [ -n "${port}" ] && break
    sleep 0.05
done
[ -n "${port}" ] || { echo "the gateway did not start: $(cat "${dir}/err.log")" >&2; exit 1; }
python3 - "${pid}" "${port}" "${ROUNDS}" <<'PY'
import os, signal, socket, statistics, sys, time
pid, port, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def ready():
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=0.2)
        s.sendall(b"GET /readyz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        head = s.recv(64)
        s.close()
        return head.startswith(b"HTTP/1.1 200")
    except OSError:
        return False
gaps = []
for _ in range(rounds):
    while not ready():
        time.sleep(0.001)
    t0 = time.perf_counter()
    os.kill(pid, signal.SIGUSR2)
    # Down (draining, closed) ...
    while ready() and time.perf_counter() - t0 < 10:
        time.sleep(0.0005)
    # ... and up again.
    while not ready():
        if time.perf_counter() - t0 > 30:
            sys.exit("the gateway did not come back within 30 s")
        time.sleep(0.0005)
    gaps.append((time.perf_counter() - t0) * 1000)
gaps.sort()
print(f"restart (SIGUSR2 -> /readyz 200 again), {rounds} rounds: "
      f"p50 {statistics.median(gaps):.1f} ms, min {gaps[0]:.1f} ms, max {gaps[-1]:.1f} ms")
PY
echo "same pid after the restarts: $(kill -0 "${pid}" && echo yes); open fds: $(ls "/proc/${pid}/fd" | wc -l); rss: $(ps -o rss= -p "${pid}" | tr -d ' ') KiB; starts: $(grep -c 'listening on ws://127.0.0.1' "${dir}/out.log")"
