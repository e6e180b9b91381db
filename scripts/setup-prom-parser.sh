#!/usr/bin/env bash
# Installs (or reuses) PyPI prometheus-client into a private directory, for
# tests/it/metrics.rs, which parses /api/diagnostics/prometheus with its real text parser.
# Prints nothing on reuse. The directory is passed to the tests as OPENCLAW_PROM_PYTHONPATH.
set -euo pipefail

VERSION="0.21.1"
DIR="${OPENCLAW_PROM_PYTHONPATH:-${HOME}/.cache/openclaw-rs/prom-client-${VERSION}}"

if PYTHONPATH="${DIR}" python3 -c "import prometheus_client.parser" >/dev/null 2>&1; then
    exit 0
fi
echo "setup-prom-parser: installing prometheus-client==${VERSION} into ${DIR}" >&2
mkdir -p "${DIR}"
# Debian's system pip refuses installs (PEP 668) without --break-system-packages, even
# with --target; the target directory is private, so nothing system-wide changes.
python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "${DIR}" \
        "prometheus-client==${VERSION}" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --no-deps --break-system-packages \
        --target "${DIR}" "prometheus-client==${VERSION}"
PYTHONPATH="${DIR}" python3 -c "import prometheus_client.parser"
