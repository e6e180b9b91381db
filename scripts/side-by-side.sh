#!/usr/bin/env bash
# Side by side: the real OpenClaw gateway (openclaw@2026.9.6 on Node 24, installed by
# scripts/setup-openclaw-ref.sh) and ours (release build), same token, each alone on its own
# loopback port, measured by the same unchanged bench (scripts/bench/bench.py, a copy of
# the shared tools' bench.py): `latency` (N sequential connect + hello + health) and `idle`
# (K held authenticated connections, RSS per connection, connect+health probes while held) and
# `throughput` (`health` req/s, 64 in flight on each of C connections); plus the Rust load
# bench's client (benches/load_bench.rs, `--port/--pid` mode) for `health` req/s and
# connect+hello+health latency, where the Python client would be the bottleneck.
# Then bench.py's floor: the same `latency` and `throughput` against benches/floor_server.rs
# (a server that does no work), in alternating rounds with ours: the best any gateway
# could score with this client on this machine.
# Start-up: OpenClaw is started once (~35 s) and timed by `bench.py wait` launched right after
# the spawn; ours by `bench.py startup` (its own short-lived process, then started again).
# Prints each figure for both, the ratio (OpenClaw / ours, or ours / OpenClaw for req/s: > 1
# means ours is better) and the issue-12 goal. JSON results go to $OUT (default
# target/side-by-side/).
#
#   scripts/side-by-side.sh                   # N=500 K=1000 C=4 SECS=10 ROUNDS=3
#   N=2000 K=5000 HOLD=20 scripts/side-by-side.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
: "${N:=500}" "${K:=1000}" "${HOLD:=10}" "${SETTLE:=5}" "${TOKEN:=T}" "${C:=4}" "${SECS:=10}" "${ROUNDS:=3}"
: "${OUT:=${ROOT}/target/side-by-side}"
: "${OPENCLAW_REF_DIR:=${HOME}/.cache/openclaw-rs/openclaw-ref}"
export OPENCLAW_REF_DIR
BENCH="${ROOT}/scripts/bench/bench.py"
mkdir -p "${OUT}"

python3 -c 'import websockets' 2>/dev/null || python3 -m pip install --quiet websockets \
    || python3 -m pip install --quiet --break-system-packages websockets
# bench.py uses orjson when it is importable (its docs): the faster client, for both gateways.
ORJSON_VERSION="3.13.0"
ORJSON_DIR="${HOME}/.cache/openclaw-rs/orjson-${ORJSON_VERSION}"
if ! PYTHONPATH="${ORJSON_DIR}" python3 -c 'import orjson' 2>/dev/null; then
    mkdir -p "${ORJSON_DIR}"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "${ORJSON_DIR}" \
            "orjson==${ORJSON_VERSION}" 2>/dev/null \
        || python3 -m pip install --quiet --disable-pip-version-check --no-deps --break-system-packages \
            --target "${ORJSON_DIR}" "orjson==${ORJSON_VERSION}" \
        || echo "side-by-side: orjson not installed; bench.py falls back to json (slower client)" >&2
fi
export PYTHONPATH="${ORJSON_DIR}${PYTHONPATH:+:${PYTHONPATH}}"
bash scripts/setup-openclaw-ref.sh >&2
cargo build --release --bin openclaw >&2
cargo bench --bench load_bench --no-run >&2
cargo bench --bench floor_server --no-run >&2
# K held connections plus the probes need file descriptors on both sides.
ulimit -n "$(( K * 2 + 1024 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

# shellcheck source=bench/procs.sh
source scripts/bench/procs.sh
trap stop_pids EXIT

# run_bench NAME PORT PID [rounds]: with `rounds`, bench.py's latency and throughput are left to
# the alternating rounds with the floor below (they would be measured twice).
run_bench() {
    local name="$1" port="$2" pid="$3" url="ws://127.0.0.1:$2" rounds="${4:-}"
    echo "== ${name}: waiting for the first health" >&2
    python3 "${BENCH}" --url "${url}" --token "${TOKEN}" --json-out "${OUT}/${name}-wait.json" wait --max-seconds 180 >/dev/null
    sleep "${SETTLE}"   # let start-up work settle before measuring (not a wait for a condition)
    python3 "${BENCH}" --url "${url}" --token "${TOKEN}" --json-out "${OUT}/${name}-procstats.json" procstats --pid "${pid}" --seconds 3 >/dev/null
    if [ -z "${rounds}" ]; then
        echo "== ${name}: latency --n ${N}" >&2
        python3 "${BENCH}" --url "${url}" --token "${TOKEN}" --json-out "${OUT}/${name}-latency.json" latency --n "${N}" --warmup 20 --pid "${pid}" >/dev/null
    fi
    echo "== ${name}: idle --conns ${K}" >&2
    python3 "${BENCH}" --url "${url}" --token "${TOKEN}" --json-out "${OUT}/${name}-idle.json" idle --conns "${K}" --hold "${HOLD}" --settle "${SETTLE}" --pid "${pid}" --max-open-seconds 300 >/dev/null
    if [ -z "${rounds}" ]; then
        echo "== ${name}: throughput --connections ${C} --window 64 --seconds ${SECS}" >&2
        python3 "${BENCH}" --url "${url}" --token "${TOKEN}" --json-out "${OUT}/${name}-throughput.json" throughput --connections "${C}" --window 64 --seconds "${SECS}" --pid "${pid}" >/dev/null
    fi
    echo "== ${name}: Rust client (load_bench --port ${port} --pid ${pid} --conns 0)" >&2
    cargo bench --bench load_bench -- --port "${port}" --pid "${pid}" --token "${TOKEN}" --conns 0 --probes "${N}" \
        --health-conns "${C}" --health-n 40000 --no-invoke --no-flow --json "${OUT}/${name}-load.json" >"${OUT}/${name}-load.txt" 2>&1 \
        || echo "   load_bench failed against ${name}: see ${OUT}/${name}-load.txt" >&2
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
stop_pids

# --- ours ---
RS_HOME="$(mktemp -d)"
RS_PORT="$(free_port)"
echo "== openclaw-rs: startup" >&2
( export HOME="${RS_HOME}" OPENCLAW_STATE_DIR="${RS_HOME}"
  python3 "${BENCH}" --url "ws://127.0.0.1:${RS_PORT}" --token "${TOKEN}" --json-out "${OUT}/openclaw-rs-startup.json" \
      startup --port "${RS_PORT}" --settle 1 --idle-seconds 1 -- "${ROOT}/target/release/openclaw" gateway run --port "${RS_PORT}" --token "${TOKEN}" >/dev/null )
RS_PORT="$(free_port)"
cat >"${RS_HOME}/openclaw.json" <<JSON
{ "gateway": { "limits": { "maxConnections": $(( K + 1000 )), "maxConnectionsPerIp": $(( K + 1000 )) } } }
JSON
( export HOME="${RS_HOME}" OPENCLAW_STATE_DIR="${RS_HOME}"
  exec setsid "${ROOT}/target/release/openclaw" gateway run --port "${RS_PORT}" --token "${TOKEN}" ) >"${OUT}/openclaw-rs.log" 2>&1 &
RS_PID=$!
PIDS+=("${RS_PID}")
run_bench openclaw-rs "${RS_PORT}" "${RS_PID}" rounds

# --- the client's floor: a server that does no work (benches/floor_server.rs) ---
# What bench.py itself costs: no gateway can score better than this with the same client.
# bench.py's own figures move by ±25 % from run to run on this VM, so ours and the floor are
# run in ROUNDS alternating rounds, and the run with the median p50 (median req/s) of each
# is the one reported.
FLOOR_PORT="$(free_port)"
( exec setsid cargo bench --bench floor_server -- --port "${FLOOR_PORT}" ) >"${OUT}/floor.log" 2>&1 &
PIDS+=("$!")
python3 "${BENCH}" --url "ws://127.0.0.1:${FLOOR_PORT}" --token "${TOKEN}" --json-out "${OUT}/floor-wait.json" wait --max-seconds 60 >/dev/null
for r in $(seq 1 "${ROUNDS}"); do
    for pair in "openclaw-rs:${RS_PORT}" "floor:${FLOOR_PORT}"; do
        name="${pair%%:*}" url="ws://127.0.0.1:${pair##*:}"
        echo "== round ${r}/${ROUNDS}: ${name}: latency --n ${N}, throughput --connections ${C}" >&2
        python3 "${BENCH}" --url "${url}" --token "${TOKEN}" --json-out "${OUT}/${name}-latency-r${r}.json" latency --n "${N}" --warmup 20 >/dev/null
        python3 "${BENCH}" --url "${url}" --token "${TOKEN}" --json-out "${OUT}/${name}-throughput-r${r}.json" throughput --connections "${C}" --window 64 --seconds "${SECS}" >/dev/null
    done
done
stop_pids
rm -rf "${OC_HOME}" "${RS_HOME}"
python3 - "${OUT}" "${ROUNDS}" <<'PY'
import json, shutil, sys
out, rounds = sys.argv[1], int(sys.argv[2])
for name in ("openclaw-rs", "floor"):
    for kind, key in (("latency", lambda d: d["ms"]["total"]["p50"]), ("throughput", lambda d: d["rps"])):
        runs = []
        for r in range(1, rounds + 1):
            path = f"{out}/{name}-{kind}-r{r}.json"
            try:
                with open(path) as fh:
                    runs.append((key(json.load(fh)), path))
            except (OSError, KeyError, TypeError, ValueError):
                pass
        if runs:
            runs.sort()
            print(f"{name} {kind} over {len(runs)} rounds: " + ", ".join(f"{v:g}" for v, _ in runs), file=sys.stderr)
            shutil.copyfile(runs[len(runs) // 2][1], f"{out}/{name}-{kind}.json")
PY

python3 - "${OUT}" "${N}" "${K}" "${C}" <<'PY'
import json, os, sys
out, n, k, c = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def load(name, kind):
    path = f"{out}/{name}-{kind}.json"
    if not os.path.exists(path):
        return {}
    with open(path) as fh:
        return json.load(fh)
rows = []
def g(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d
# Start-up: OpenClaw's `wait` (seconds since spawn) against our `startup` (ms since spawn).
oc_ready = g(load("openclaw", "wait"), "ready_after_s")
rs_ready = g(load("openclaw-rs", "startup"), "first_health_ok_ms")
def num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)
# (label, OpenClaw value, ours value, unit, higher_is_better, goal ratio or None)
figs = [
    ("spawn → first health answered", oc_ready * 1000 if num(oc_ready) else None, rs_ready, "ms", False, 250),
    ("idle RSS (process tree)", g(load("openclaw", "procstats"), "mem", "tree_rss_mb"),
     g(load("openclaw-rs", "procstats"), "mem", "tree_rss_mb"), "MB", False, 80),
]
for label, kind, path, unit, hib, goal in [
    (f"connect+hello+health p50 ({n} seq., bench.py)", "latency", ("ms", "total", "p50"), "ms", False, 10),
    (f"connect+hello+health p99 ({n} seq., bench.py)", "latency", ("ms", "total", "p99"), "ms", False, None),
    ("hello (connect req → hello-ok) p50", "latency", ("ms", "hello", "p50"), "ms", False, None),
    (f"connect+hello+health p50 ({n} seq., Rust client)", "load", ("latency_idle", "p50_ms"), "ms", False, 10),
    (f"health req/s ({c} conns × 64, bench.py)", "throughput", ("rps",), "req/s", True, 20),
    (f"health req/s ({c} conns × 64, Rust client)", "load", ("health", "rps"), "req/s", True, 20),
    (f"RSS per held connection ({k} held)", "idle", ("rss_per_conn_kb",), "KB", False, None),
    (f"connect+health p50 while {k} held", "idle", ("probe_connect_health_ms", "p50"), "ms", False, None),
    (f"connections opened of {k}", "idle", ("opened",), "", True, None),
]:
    figs.append((label, g(load("openclaw", kind), *path), g(load("openclaw-rs", kind), *path), unit, hib, goal))
def fmt(v, unit):
    if not num(v):
        return "n/a"
    s = f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}"
    return f"{s} {unit}".strip()
for label, a, b, unit, hib, goal in figs:
    ratio = None
    if num(a) and num(b) and a and b:
        ratio = b / a if hib else a / b
    rstr = f"{ratio:.1f}×" if ratio is not None else "—"
    gstr = "" if goal is None else f"≥ {goal}×: " + ("met" if ratio is not None and ratio >= goal else "MISSED" if ratio is not None else "n/a")
    rows.append((label, fmt(a, unit), fmt(b, unit), rstr, gstr))
hdr = ("figure", "OpenClaw", "openclaw-rs", "ratio", "goal")
w = [max(len(r[i]) for r in rows + [hdr]) for i in range(5)]
print("  ".join(h.ljust(w[i]) for i, h in enumerate(hdr)))
for r in rows:
    print("  ".join(col.ljust(w[i]) for i, col in enumerate(r)))
# The floor: the best any server could score with bench.py on this machine.
fl_lat = g(load("floor", "latency"), "ms", "total", "p50")
fl_rps = g(load("floor", "throughput"), "rps")
oc_lat = g(load("openclaw", "latency"), "ms", "total", "p50")
oc_rps = g(load("openclaw", "throughput"), "rps")
if num(fl_lat) and num(oc_lat) and fl_lat:
    print(f"bench.py's floor (benches/floor_server.rs, a server that does no work): connect+hello+health p50 "
          f"{fmt(fl_lat, 'ms')} → no server can be more than {oc_lat / fl_lat:.1f}× below OpenClaw with this client")
if num(fl_rps) and num(oc_rps) and oc_rps:
    print(f"bench.py's floor: health {fmt(fl_rps, 'req/s')} → no server can be more than {fl_rps / oc_rps:.1f}× above OpenClaw with this client")
print("(ratio: how many times better ours is: OpenClaw / ours for times and memory, ours / OpenClaw for req/s)")
print("(≤ 8 KB per idle connection with 15000 held: scripts/bench/load.sh, see README Performance)")
print(f"(JSON in {out})")
PY
