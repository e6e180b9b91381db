#!/usr/bin/env bash
# Crash soak: SIGKILL the real gateway at random points while devices pair, Telegram updates
# arrive at a fake Bot API and the embedded command agent appends transcripts; restart it on
# the same state directory and check after every cycle that nothing acknowledged was lost or
# duplicated and that the state directory loads (tests/it/soak.rs says exactly what is checked).
#
#   scripts/soak.sh              # 100 cycles
#   scripts/soak.sh 500          # 500 cycles
#   OPENCLAW_SOAK_SEED=123 scripts/soak.sh   # repeat the kill points of an earlier run
#   OPENCLAW_SOAK_POWER=1 scripts/soak.sh 200 # power cuts instead: the state directory on a
#                                             # loop-mounted ext4 image (needs root)
#
# The suite runs the same test with 5 cycles. The last line printed is the summary (`soak: …`).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

cycles="${1:-100}"
case "${cycles}" in
    '' | *[!0-9]*) echo "soak.sh: the cycle count must be a number, got '${cycles}'" >&2; exit 2 ;;
esac
export OPENCLAW_SOAK_CYCLES="${cycles}"
filter='crash_soak_sigkill_at_random_points'
if [ "${OPENCLAW_SOAK_POWER:-0}" != 0 ]; then
    filter='crash_soak_power_cut_at_random_points'
fi
log="$(mktemp)"
trap 'rm -f "${log}"' EXIT
if cargo nextest --version >/dev/null 2>&1; then
    cmd=(cargo nextest run --workspace --no-capture -E "test(/${filter}/)")
else
    cmd=(cargo test --test it -- --nocapture "${filter}")
fi
echo "soak.sh: OPENCLAW_SOAK_CYCLES=${cycles} ${cmd[*]}" >&2
status=0
"${cmd[@]}" 2>&1 | tee "${log}" || status=$?
echo
grep -E '^soak: ' "${log}" | tail -n 2 || true
if [ "${status}" -ne 0 ]; then
    echo "soak.sh: FAILED (exit ${status}); the panic above names the cycle and what was lost or duplicated" >&2
fi
exit "${status}"
