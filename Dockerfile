# syntax=docker/dockerfile:1
#
# openclaw-rs gateway image: a release build on Debian, run from distroless as uid 65532.
#
#   docker build -t openclaw-rs .
#   docker run -d --name openclaw \
#       -e OPENCLAW_GATEWAY_TOKEN="$(openssl rand -hex 32)" \
#       -p 127.0.0.1:18789:18789 \
#       -v openclaw-data:/data \
#       openclaw-rs
#
# State (config, pairing, sessions, the generated TLS certificate) lives in the /data
# volume (OPENCLAW_STATE_DIR). The gateway runs with `--bind auto`, which is 0.0.0.0 in a
# container, so it refuses to start (exit 78) without a secret: pass
# OPENCLAW_GATEWAY_TOKEN (or OPENCLAW_GATEWAY_PASSWORD, or put gateway.auth in
# /data/openclaw.json). The healthcheck is the binary itself (`openclaw healthcheck`:
# GET /healthz on the configured port), so the image needs no shell or curl.
#
# tests/it/docker.rs runs the binary the way this file does (uid 65532, this ENV, a
# temporary /data, this CMD and HEALTHCHECK), reading them from this file. No container
# engine runs where this was written; `hadolint Dockerfile` runs in CI (.ci/run).

# ---- builder ---------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS builder

WORKDIR /src

# 1. Dependencies only: the manifests with stub sources. This layer stays cached until
#    Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
COPY actors/Cargo.toml actors/Cargo.toml
RUN mkdir -p src actors/src benches tests/it \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs actors/src/lib.rs tests/it/main.rs \
    && for b in gateway_bench invoke_bench flow_bench; do echo 'fn main() {}' > "benches/${b}.rs"; done \
    && cargo build --release --locked --bin openclaw

# 2. The real sources. Touch the crate roots so cargo rebuilds them over the stubs.
COPY . .
RUN touch src/main.rs src/lib.rs actors/src/lib.rs \
    && cargo build --release --locked --bin openclaw \
    && install -D -m 0755 target/release/openclaw /out/openclaw \
    && mkdir -p /out/data

# ---- runtime ---------------------------------------------------------------------------
# distroless/cc: glibc, libgcc and CA certificates; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot

COPY --from=builder /out/openclaw /usr/local/bin/openclaw
COPY --from=builder --chown=65532:65532 /out/data /data

# `container` makes `--bind auto` pick 0.0.0.0 under every runtime (Docker also has
# /.dockerenv; containerd/Kubernetes on cgroup v2 has no other reliable sign).
ENV OPENCLAW_STATE_DIR=/data \
    container=oci

USER 65532:65532
EXPOSE 18789
VOLUME ["/data"]

# The unauthenticated liveness probe on 127.0.0.1:<port>/healthz (no token needed; use
# `healthcheck --ready` to also require the configured channels to be up).
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/openclaw", "healthcheck", "--timeout", "3000"]

ENTRYPOINT ["/usr/local/bin/openclaw"]
CMD ["gateway", "run", "--bind", "auto"]
