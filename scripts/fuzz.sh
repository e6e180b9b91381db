#!/usr/bin/env bash
# cargo fuzz (libFuzzer) targets in fuzz/: frame, connect, config_json5, telegram_updates,
# invoke_reply, upgrade_headers, cron_params, model_stream, workspace_tools, progress_drafts,
# exec_command, web_extract, transcript_context, qr_png, openai_request, voicewake,
# talk_speak, system_event, backup_archive, session_usage, message_params, spawn_params,
# sessions_search.
#
#   scripts/fuzz.sh smoke [SECONDS]         # every target for SECONDS (default 20) — CI
#   scripts/fuzz.sh run TARGET [SECONDS]    # one target (default 1800 s), at nice 19
#   scripts/fuzz.sh list
#
# Works on the stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo fuzz pass its -Z flags) and
# installs cargo-fuzz from crates.io when it is missing. Inputs found go to fuzz/corpus/<t>
# (not committed); the committed seeds are fuzz/seeds/<t> (copied from the reference
# captures for frame, connect and invoke_reply). A crash leaves fuzz/artifacts/<t>/crash-*, and the
# script exits non-zero; reproduce with `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <t> <file>`
# in fuzz/. The last line per target is libFuzzer's `Done N runs in S second(s)`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"

TARGETS=(frame connect config_json5 telegram_updates invoke_reply upgrade_headers cron_params model_stream workspace_tools progress_drafts exec_command web_extract transcript_context qr_png openai_request voicewake talk_speak system_event backup_archive session_usage message_params spawn_params sessions_search)
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

ensure_cargo_fuzz() {
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "fuzz.sh: installing cargo-fuzz (cargo install cargo-fuzz --locked)" >&2
        cargo install cargo-fuzz --locked
    fi
}

run_target() {
    local t="$1" secs="$2" log
    mkdir -p "corpus/${t}"
    log="$(mktemp)"
    echo "fuzz.sh: ${t} for ${secs}s" >&2
    local status=0
    # -s none: our code is safe Rust (no AddressSanitizer needed), which keeps the build
    # small and the executions fast; debug assertions (overflow checks) stay on.
    nice -n 19 cargo fuzz run -s none "${t}" "corpus/${t}" "seeds/${t}" -- \
        -max_total_time="${secs}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"${log}" 2>&1 || status=$?
    grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::number_of_executed_units)' "${log}" | sed "s/^/${t}: /" || true
    if [ "${status}" -ne 0 ]; then
        tail -n 60 "${log}" >&2
        echo "fuzz.sh: ${t} FAILED (exit ${status}); see fuzz/artifacts/${t}/" >&2
    fi
    rm -f "${log}"
    return "${status}"
}

cmd="${1:-smoke}"
case "${cmd}" in
    list) printf '%s\n' "${TARGETS[@]}" ;;
    smoke)
        secs="${2:-20}"
        ensure_cargo_fuzz
        nice -n 19 cargo fuzz build -s none
        failed=0
        for t in "${TARGETS[@]}"; do run_target "${t}" "${secs}" || failed=1; done
        exit "${failed}"
        ;;
    run)
        t="${2:?usage: scripts/fuzz.sh run TARGET [SECONDS]}"
        secs="${3:-1800}"
        ensure_cargo_fuzz
        run_target "${t}" "${secs}"
        ;;
    *) echo "usage: scripts/fuzz.sh smoke [SECONDS] | run TARGET [SECONDS] | list" >&2; exit 2 ;;
esac
