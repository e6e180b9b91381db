#!/usr/bin/env bash
# The test command: install (or reuse) the real OpenClaw reference, then run the whole
# workspace's tests. Extra arguments go to the test runner, e.g.
#   scripts/test.sh interop            # only tests whose name matches "interop"
#   scripts/test.sh --no-fail-fast
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export OPENCLAW_REF_DIR="${OPENCLAW_REF_DIR:-${HOME}/.cache/openclaw-rs/openclaw-ref}"

bash scripts/setup-openclaw-ref.sh
bash scripts/setup-browser.sh   # Debian chromium + playwright-core for tests/browser/ui.mjs

if cargo nextest --version >/dev/null 2>&1; then
    echo "test.sh: cargo nextest run --workspace $*" >&2
    exec cargo nextest run --workspace "$@"
else
    echo "test.sh: cargo-nextest not found; falling back to cargo test --workspace $*" >&2
    exec cargo test --workspace "$@"
fi
