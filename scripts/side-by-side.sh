#!/usr/bin/env bash
# Side by side: the real OpenClaw gateway (openclaw@2026.9.6 on Node 24, installed by
# scripts/setup-openclaw-ref.sh) and ours (release build), same token, each alone on its own
# loopback port, measured by the same unchanged bench (scripts/bench/bench.py, a copy of
# the shared tools' bench.py): `latency` (N sequential connect + hello + health) and `idle`
# (K held authenticated connections, RSS per connection, connect+health probes while held).
# Prints each figure for both and the ratio (OpenClaw / ours; > 1 means ours is better for
# times and memory). JSON results go to $OUT (default target/side-by-side/).
#
#   scripts/side-by-side.sh                   # N=500 K=1000
#   N=2000 K=5000 HOLD=20 scripts/side-by-side.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
: "${N:=500}" "${K:=1000}" "${HOLD:=10}" "${SETTLE:=5}" "${TOKEN:=T}"
: "${OUT:=${ROOT}/target/side-by-side}"
: "${OPENCLAW_REF_DIR:=${HOME}/.cache/openclaw-rs/openclaw-ref}"
export OPENCLAW_REF_DIR
BENCH="${ROOT}/scripts/bench/bench.py"
mkdir -p "${OUT}"

python3 -c 'import websockets' 2>/dev/null || python3 -m pip install --quiet websockets \
    || python3 -m pip install --quiet --break-system-packages websockets
bash scripts/setup-openclaw-ref.sh >&2
cargo build --release --bin openclaw >&2
# K held connections plus the probes need file descriptors on both sides.
ulimit -n "$(( K * 2 + 1024 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "-${p}" 2>/dev/null || kill -TERM "${p}" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 1 40); do kill -0 "${p}" 2>/dev/null || break; sleep 0.25; done
        kill -KILL "-${p}" 2>/dev/null || kill -KILL "${p}" 2>/dev/null || true
    done
}
trap cleanup EXIT

# run_bench NAME PORT PID: latency + idle against one gateway.
run_bench() {
    local name="$1" port="$2" pid="$3" url="ws://127.0.0.1:$2"
    echo "== ${name}: waiting for the first health" >&2
    python3 "${BENCH}" --url "${url}" --token "${TOKEN}" --json-out "${OUT}/${name}-wait.json" wait --max-seconds 180 >/dev/null
    sleep "${SETTLE}"   # let start-up work settle before measuring (not a wait for a condition)
    python3 "${BENCH}" --url "${url}" --token "${TOKEN}" --json-out "${OUT}/${name}-procstats.json" procstats --pid "${pid}" --seconds 3 >/dev/null
    echo "== ${name}: latency --n ${N}" >&2
    python3 "${BENCH}" --url "${url}" --token "${TOKEN}" --json-out "${OUT}/${name}-latency.json" latency --n "${N}" --warmup 20 --pid "${pid}" >/dev/null
    echo "== ${name}: idle --conns ${K}" >&2
    python3 "${BENCH}" --url "${url}" --token "${TOKEN}" --json-out "${OUT}/${name}-idle.json" idle --conns "${K}" --hold "${HOLD}" --settle "${SETTLE}" --pid "${pid}" --max-open-seconds 300 >/dev/null
}

# --- the real OpenClaw ---
OC_HOME="$(mktemp -d)"
mkdir -p "${OC_HOME}/.openclaw"
cp scripts/bench/openclaw-ref.gateway.json "${OC_HOME}/.openclaw/openclaw.json"
OC_PORT="$(free_port)"
(
    export PATH="${OPENCLAW_REF_DIR}/node24/node_modules/.bin:${OPENCLAW_REF_DIR}/oc/node_modules/.bin:${PATH}"
    export HOME="${OC_HOME}" OPENCLAW_STATE_DIR="${OC_HOME}/.openclaw" NO_COLOR=1
    export OPENCLAW_NO_AUTO_UPDATE=1 DO_NOT_TRACK=1 OPENCLAW_DISABLE_BONJOUR=1 OPENCLAW_CLAWHUB_URL=http://127.0.0.1:9
    export NODE_OPTIONS="--require ${ROOT}/tests/fixtures/offline-guard.cjs" OFFLINE_GUARD_LOG="${OC_HOME}/offline-guard.log"
    exec setsid openclaw gateway run --bind loopback --port "${OC_PORT}" --auth token --token "${TOKEN}"
) >"${OUT}/openclaw.log" 2>&1 &
OC_PID=$!
PIDS+=("${OC_PID}")
T0=$(date +%s.%N)
run_bench openclaw "${OC_PORT}" "${OC_PID}"
cleanup; PIDS=()

# --- ours ---
RS_HOME="$(mktemp -d)"
RS_PORT="$(free_port)"
cat >"${RS_HOME}/openclaw.json" <<JSON
{ "gateway": { "limits": { "maxConnections": $(( K + 1000 )), "maxConnectionsPerIp": $(( K + 1000 )) } } }
JSON
( export HOME="${RS_HOME}" OPENCLAW_STATE_DIR="${RS_HOME}"
  exec setsid "${ROOT}/target/release/openclaw" gateway run --port "${RS_PORT}" --token "${TOKEN}" ) >"${OUT}/openclaw-rs.log" 2>&1 &
RS_PID=$!
PIDS+=("${RS_PID}")
run_bench openclaw-rs "${RS_PORT}" "${RS_PID}"
cleanup; PIDS=()
rm -rf "${OC_HOME}" "${RS_HOME}"

python3 - "${OUT}" "${N}" "${K}" <<'PY'
import json, sys
out, n, k = sys.argv[1], sys.argv[2], sys.argv[3]
def load(name, kind):
    with open(f"{out}/{name}-{kind}.json") as fh:
        return json.load(fh)
rows = []
def g(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d
for label, kind, path, unit in [
    ("ready after spawn (bench.py wait, approx.)", "wait", ("ready_after_s",), "s"),
    ("idle RSS (process tree)", "procstats", ("mem", "tree_rss_mb"), "MB"),
    (f"connect+hello+health p50 ({n} seq.)", "latency", ("ms", "total", "p50"), "ms"),
    (f"connect+hello+health p99 ({n} seq.)", "latency", ("ms", "total", "p99"), "ms"),
    ("hello (connect req → hello-ok) p50", "latency", ("ms", "hello", "p50"), "ms"),
    (f"RSS per held connection ({k} held)", "idle", ("rss_per_conn_kb",), "KB"),
    (f"connect+health p50 while {k} held", "idle", ("probe_connect_health_ms", "p50"), "ms"),
    (f"connections opened of {k}", "idle", ("opened",), ""),
]:
    a = g(load("openclaw", kind), *path)
    b = g(load("openclaw-rs", kind), *path)
    ratio = f"{a / b:.1f}×" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "—"
    rows.append((label, f"{a} {unit}".strip(), f"{b} {unit}".strip(), ratio))
w = [max(len(r[i]) for r in rows + [("figure", "OpenClaw", "openclaw-rs", "ratio")]) for i in range(4)]
hdr = ("figure", "OpenClaw", "openclaw-rs", "ratio")
print("  ".join(h.ljust(w[i]) for i, h in enumerate(hdr)))
for r in rows:
    print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
print(f"(ratio = OpenClaw / openclaw-rs; JSON in {out})")
PY
