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

# tests/it/ssh.rs needs a real sshd (Debian openssh-server). Install it when we can (root
# with apt-get, as in CI); otherwise those tests say loudly that they were skipped.
if [ ! -x /usr/sbin/sshd ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
        echo "test.sh: installing openssh-server for tests/it/ssh.rs (its service is not started)" >&2
        policy_rc_d_added=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
            policy_rc_d_added=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null; }
        if [ -n "${policy_rc_d_added}" ]; then rm -f /usr/sbin/policy-rc.d; fi
    else
        echo "test.sh: WARNING: /usr/sbin/sshd not found; tests/it/ssh.rs will be skipped (apt-get install openssh-server)" >&2
    fi
fi
# tests/it/metrics.rs parses the metrics with PyPI prometheus-client's parser.
bash scripts/setup-prom-parser.sh
export OPENCLAW_PROM_PYTHONPATH="${OPENCLAW_PROM_PYTHONPATH:-${HOME}/.cache/openclaw-rs/prom-client-0.21.1}"

if cargo nextest --version >/dev/null 2>&1; then
    echo "test.sh: cargo nextest run --workspace $*" >&2
    exec cargo nextest run --workspace "$@"
else
    echo "test.sh: cargo-nextest not found; falling back to cargo test --workspace $*" >&2
    exec cargo test --workspace "$@"
fi
