# syntax=docker/dockerfile:1
#
# openclaw-rs gateway image.
#
#   docker build -t openclaw-rs .
#   docker run -d --name openclaw \
#       -e OPENCLAW_GATEWAY_TOKEN="$(openssl rand -hex 32)" \
#       -p 127.0.0.1:18789:18789 \
#       -v openclaw-state:/var/lib/openclaw \
#       openclaw-rs
#
# Inside the container the gateway binds 0.0.0.0 (`--bind lan`), so it refuses to start
# (exit 78) unless a token or password is configured: pass OPENCLAW_GATEWAY_TOKEN (or
# OPENCLAW_GATEWAY_PASSWORD, or a config file in the state volume).
# With gateway.tls.enabled the self-signed certificate is generated in-process (no openssl
# needed) into the state volume's gateway/tls/ on first start; its fingerprint is in the log.
#
# NOTE: this image has only been linted with hadolint; it has never been built on the
# machine it was written on (no container engine there).

# ---- builder ---------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS builder

# rust:*-slim already carries gcc + libc6-dev, which is all ring (rustls) needs to build.
WORKDIR /src
COPY . .

RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin openclaw \
    && install -D -m 0755 target/release/openclaw /out/openclaw

# distroless has no shell or mkdir: create the state directory here and copy it over.
RUN mkdir -p /out/state

# ---- runtime ---------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot

COPY --from=builder /out/openclaw /usr/local/bin/openclaw
COPY --from=builder --chown=65532:65532 /out/state /var/lib/openclaw

ENV OPENCLAW_STATE_DIR=/var/lib/openclaw

USER 65532:65532
EXPOSE 18789
VOLUME ["/var/lib/openclaw"]

# The unauthenticated liveness probe on 127.0.0.1:<port>/healthz (no token needed; use
# `healthcheck --ready` to also require the configured channels to be up).
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/openclaw", "healthcheck", "--timeout", "3000"]

ENTRYPOINT ["/usr/local/bin/openclaw"]
CMD ["gateway", "run", "--bind", "lan"]
