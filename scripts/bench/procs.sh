# Sourced by the bench scripts (scripts/side-by-side.sh, scripts/bench/floor.sh): a free
# loopback port, and the servers they start, each in its own process group, stopped on exit.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The process (group) ids to stop: `PIDS+=("$!")` after starting one with `setsid`.
PIDS=()

# SIGTERM to each group (or process), then up to 10 s for it to exit, then SIGKILL.
stop_pids() {
    for p in "${PIDS[@]}"; do kill -TERM "-${p}" 2>/dev/null || kill -TERM "${p}" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 1 40); do kill -0 "${p}" 2>/dev/null || break; sleep 0.25; done
        kill -KILL "-${p}" 2>/dev/null || kill -KILL "${p}" 2>/dev/null || true
    done
    PIDS=()
}
