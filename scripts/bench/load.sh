#!/usr/bin/env bash
# The load bench (benches/load_bench.rs): raises the open-file limit to the hard limit (the
# gateway it spawns inherits it), then runs `cargo bench --bench load_bench` with the given
# arguments. The gateway is the release build, run as its own process on loopback.
#
#   scripts/bench/load.sh                         # 15000 held connections, JSON in target/load-bench.json
#   scripts/bench/load.sh --conns 1000 --no-flow  # a quick run
#   scripts/bench/load.sh --help
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
hard="$(ulimit -Hn)"
ulimit -n "${hard}" || { echo "load.sh: cannot raise the open-file limit to ${hard}" >&2; exit 1; }
echo "load.sh: open-file limit $(ulimit -n)" >&2
exec cargo bench --bench load_bench -- "$@"
