#!/usr/bin/env bash
# Install the real OpenClaw (npm `openclaw@2026.9.6` on Node 24) that the interop
# tests in tests/it/interop.rs drive against our gateway.
#
#   OPENCLAW_REF_DIR   where it goes (default: $HOME/.cache/openclaw-rs/openclaw-ref)
#     node24/          `npm install node@24`         -> node24/node_modules/.bin/node
#     oc/              `npm install openclaw@...`    -> oc/node_modules/.bin/openclaw
#
# Idempotent: each part is skipped when it is already installed at the right version,
# so a second run is a fast no-op. Only the npm registry is contacted.
set -euo pipefail

OPENCLAW_VERSION="2026.9.6"
NODE_MAJOR="24"
REF_DIR="${OPENCLAW_REF_DIR:-${HOME}/.cache/openclaw-rs/openclaw-ref}"
NODE_DIR="${REF_DIR}/node24"
OC_DIR="${REF_DIR}/oc"
NODE_BIN="${NODE_DIR}/node_modules/.bin"

log() { printf 'setup-openclaw-ref: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# 1. A system npm to bootstrap with (any Node version will do for installing node@24).
if ! command -v npm >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
        log "npm not found; installing Debian nodejs + npm with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    else
        die "npm not found. Install Node.js and npm (e.g. 'sudo apt-get install nodejs npm') and re-run."
    fi
fi

mkdir -p "${NODE_DIR}" "${OC_DIR}"

# 2. Node 24 (the openclaw package's preinstall refuses older Node versions).
node24_version() {
    if [ -x "${NODE_BIN}/node" ]; then "${NODE_BIN}/node" --version 2>/dev/null || true; fi
}
current_node="$(node24_version)"
if [[ "${current_node}" == "v${NODE_MAJOR}."* ]]; then
    log "Node ${current_node} already installed in ${NODE_DIR}"
else
    log "installing node@${NODE_MAJOR} into ${NODE_DIR} (npm registry) ..."
    (cd "${NODE_DIR}" && npm install --no-audit --no-fund --loglevel=error "node@${NODE_MAJOR}")
    current_node="$(node24_version)"
    [[ "${current_node}" == "v${NODE_MAJOR}."* ]] \
        || die "node@${NODE_MAJOR} install did not produce a v${NODE_MAJOR} node in ${NODE_BIN} (got '${current_node}')"
    log "installed Node ${current_node}"
fi

# 3. openclaw@VERSION, installed with Node 24 first on PATH.
openclaw_version() {
    local pkg="${OC_DIR}/node_modules/openclaw/package.json"
    [ -f "${pkg}" ] || return 0
    "${NODE_BIN}/node" -p "require(process.argv[1]).version" "${pkg}" 2>/dev/null || true
}
current_oc="$(openclaw_version)"
if [ "${current_oc}" = "${OPENCLAW_VERSION}" ]; then
    log "openclaw ${current_oc} already installed in ${OC_DIR}"
else
    if [ -n "${current_oc}" ]; then
        log "found openclaw ${current_oc}; replacing it with ${OPENCLAW_VERSION}"
    fi
    log "installing openclaw@${OPENCLAW_VERSION} into ${OC_DIR} with Node ${current_node} (npm registry; takes a few minutes) ..."
    (cd "${OC_DIR}" && PATH="${NODE_BIN}:${PATH}" \
        npm install --no-audit --no-fund --loglevel=error "openclaw@${OPENCLAW_VERSION}")
    current_oc="$(openclaw_version)"
    [ "${current_oc}" = "${OPENCLAW_VERSION}" ] \
        || die "openclaw install finished but ${OC_DIR}/node_modules/openclaw reports version '${current_oc}'"
    log "installed openclaw ${current_oc}"
fi

[ -x "${OC_DIR}/node_modules/.bin/openclaw" ] \
    || die "missing ${OC_DIR}/node_modules/.bin/openclaw after install"

log "ready: OPENCLAW_REF_DIR=${REF_DIR}"
log "  run the real CLI with: PATH=\"${NODE_BIN}:\$PATH\" ${OC_DIR}/node_modules/.bin/openclaw --version"
