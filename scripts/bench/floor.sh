#!/usr/bin/env bash
# The floor of the Rust load bench's sub-millisecond figures: connect+hello+health p50 and
# `node.invoke` round-trip p50, measured by benches/load_bench.rs (`--port/--pid` mode) against
# ours (release build) and against benches/floor_server.rs (a server that does no work: canned
# answers, a bare `node.invoke` relay, one thread, accepting on that thread), in ROUNDS
# alternating rounds so both see the same minute of this VM's noise. With FLOOR_ACTIX=1 a
# second floor serves through actix-server (its accept thread hands each socket to a worker
# thread, as for ours): the difference between the two floors is what that hand-off costs.
# Prints the median of the rounds for each figure and what ours adds over the floor. JSON
# per round goes to $OUT (default target/floor/).
#
#   scripts/bench/floor.sh                         # ROUNDS=5 PROBES=1000 INVOKES=3000
#   ROUNDS=9 FLOOR_ACTIX=1 scripts/bench/floor.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT="$(pwd)"
: "${ROUNDS:=5}" "${PROBES:=1000}" "${INVOKES:=3000}" "${FLOOR_ACTIX:=0}"
: "${OUT:=${ROOT}/target/floor}"
TOKEN=BENCH
mkdir -p "${OUT}"
rm -f "${OUT}"/*.json

cargo build --release --bin openclaw >&2
cargo bench --bench load_bench --no-run >&2
cargo bench --bench floor_server --no-run >&2

# shellcheck source=procs.sh
source scripts/bench/procs.sh
HOMES=()
cleanup() {
    stop_pids
    for h in "${HOMES[@]}"; do rm -rf "${h}"; done
}
trap cleanup EXIT

# wait_port NAME PORT LOG: until PORT accepts TCP (at most 120 s).
wait_port() {
    for _ in $(seq 1 480); do
        if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$2" 2>/dev/null; then
            return 0
        fi
        sleep 0.25
    done
    echo "floor.sh: $1 did not listen on port $2; its log:" >&2
    cat "$3" >&2
    exit 1
}

# The servers, each in its own process group: "name:port:pid".
SERVERS=()
RS_HOME="$(mktemp -d)"
HOMES+=("${RS_HOME}")
RS_PORT="$(free_port)"
( export HOME="${RS_HOME}" OPENCLAW_STATE_DIR="${RS_HOME}"
  exec setsid "${ROOT}/target/release/openclaw" gateway run --port "${RS_PORT}" --token "${TOKEN}" ) >"${OUT}/openclaw-rs.log" 2>&1 &
PIDS+=("$!")
SERVERS+=("openclaw-rs:${RS_PORT}:$!")
wait_port openclaw-rs "${RS_PORT}" "${OUT}/openclaw-rs.log"

FLOOR_PORT="$(free_port)"
( exec setsid cargo bench --bench floor_server -- --port "${FLOOR_PORT}" ) >"${OUT}/floor.log" 2>&1 &
PIDS+=("$!")
wait_port floor "${FLOOR_PORT}" "${OUT}/floor.log"
# `cargo bench` is the group leader; the server is its child.
FLOOR_PID="$(pgrep -n -f "floor_server.* --port ${FLOOR_PORT}\$")"
SERVERS+=("floor:${FLOOR_PORT}:${FLOOR_PID}")
if [ "${FLOOR_ACTIX}" = 1 ]; then
    AFLOOR_PORT="$(free_port)"
    ( exec setsid cargo bench --bench floor_server -- --port "${AFLOOR_PORT}" --actix-server ) >"${OUT}/floor-actix.log" 2>&1 &
    PIDS+=("$!")
    wait_port floor-actix "${AFLOOR_PORT}" "${OUT}/floor-actix.log"
    AFLOOR_PID="$(pgrep -n -f "floor_server.* --port ${AFLOOR_PORT} --actix-server")"
    SERVERS+=("floor-actix:${AFLOOR_PORT}:${AFLOOR_PID}")
fi

for r in $(seq 1 "${ROUNDS}"); do
    for s in "${SERVERS[@]}"; do
        IFS=: read -r name port pid <<<"${s}"
        echo "== round ${r}/${ROUNDS}: ${name}" >&2
        cargo bench --bench load_bench -- --port "${port}" --pid "${pid}" --token "${TOKEN}" \
            --conns 0 --no-flow --probes "${PROBES}" --health-n 1 --health-conns 1 \
            --invoke-n "${INVOKES}" --invoke-pipelined 1000 --json "${OUT}/${name}-r${r}.json" \
            >"${OUT}/${name}-r${r}.log" 2>&1 \
            || { echo "floor.sh: load_bench against ${name} failed; its output:" >&2; cat "${OUT}/${name}-r${r}.log" >&2; exit 1; }
    done
done

python3 - "${OUT}" "${ROUNDS}" "${SERVERS[@]}" <<'PY'
import json, statistics, sys
out, rounds, servers = sys.argv[1], int(sys.argv[2]), [s.split(":")[0] for s in sys.argv[3:]]

def figures(name):
    rows = []
    for r in range(1, rounds + 1):
        with open(f"{out}/{name}-r{r}.json") as f:
            j = json.load(f)
        lat = j["latency_idle"]
        rows.append({"connect": lat["p50_ms"] * 1000, **{k: v * 1000 for k, v in lat["phase_p50_ms"].items()},
                     "invoke": j["invoke"]["p50_us"]})
    return rows

data = {n: figures(n) for n in servers}
names = [("connect", "connect+hello+health p50"), ("upgrade", "  TCP + upgrade"),
         ("hello", "  connect → hello-ok"), ("health", "  health"), ("invoke", "node.invoke round trip p50")]
med = {n: {k: statistics.median(r[k] for r in rows) for k, _ in names} for n, rows in data.items()}
head = f"{'figure (µs, median of ' + str(rounds) + ' rounds)':<44}" + "".join(f"{n:>14}" for n in servers)
head += f"{'ours − floor':>14}"
print(head)
for k, label in names:
    line = f"{label:<44}" + "".join(f"{med[n][k]:>14.0f}" for n in servers)
    line += f"{med['openclaw-rs'][k] - med['floor'][k]:>+14.0f}"
    print(line)
print()
print("per round (connect / invoke p50, µs):")
for n in servers:
    print(f"  {n:<12} " + "  ".join(f"{r['connect']:.0f}/{r['invoke']:.0f}" for r in data[n]))
with open(f"{out}/summary.json", "w") as f:
    json.dump({"rounds": rounds, "median_us": med, "per_round_us": data}, f, indent=1)
PY
