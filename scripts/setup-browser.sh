#!/usr/bin/env bash
# Install what the browser tests (tests/it/control_ui.rs → tests/browser/ui.mjs) need:
#   - Debian's `chromium` (apt-get, when missing and we are root; otherwise say how);
#   - `playwright-core` (npm registry; no browser download: it drives /usr/bin/chromium)
#     into $OPENCLAW_REF_DIR/browser/node_modules, run with the Node 24 that
#     scripts/setup-openclaw-ref.sh installs in $OPENCLAW_REF_DIR/node24.
# Idempotent: a second run is a fast no-op.
set -euo pipefail

PLAYWRIGHT_VERSION="1.63.0"
REF_DIR="${OPENCLAW_REF_DIR:-${HOME}/.cache/openclaw-rs/openclaw-ref}"
BROWSER_DIR="${REF_DIR}/browser"
NODE_BIN="${REF_DIR}/node24/node_modules/.bin"

log() { printf 'setup-browser: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [ ! -x /usr/bin/chromium ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
        log "installing Debian chromium with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends chromium >/dev/null
    else
        # Not fatal here: the rest of the suite still runs; the browser tests fail with this hint.
        log "warning: /usr/bin/chromium not found and not root. Install it ('sudo apt-get install chromium'); the browser tests in tests/it/control_ui.rs fail until then."
    fi
fi
[ -x /usr/bin/chromium ] && log "$(/usr/bin/chromium --version 2>/dev/null | tail -n1)"

mkdir -p "${BROWSER_DIR}"
current="$(PATH="${NODE_BIN}:${PATH}" node -p "require('${BROWSER_DIR}/node_modules/playwright-core/package.json').version" 2>/dev/null || true)"
if [ "${current}" = "${PLAYWRIGHT_VERSION}" ]; then
    log "playwright-core ${current} already installed in ${BROWSER_DIR}"
else
    log "installing playwright-core@${PLAYWRIGHT_VERSION} into ${BROWSER_DIR} (npm registry) ..."
    [ -f "${BROWSER_DIR}/package.json" ] || echo '{"private": true}' > "${BROWSER_DIR}/package.json"
    (cd "${BROWSER_DIR}" && PATH="${NODE_BIN}:${PATH}" PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
        npm install --no-audit --no-fund --loglevel=error "playwright-core@${PLAYWRIGHT_VERSION}")
fi
[ -f "${BROWSER_DIR}/node_modules/playwright-core/package.json" ] \
    || die "playwright-core missing in ${BROWSER_DIR} after install"
log "ready: playwright-core in ${BROWSER_DIR}/node_modules"
