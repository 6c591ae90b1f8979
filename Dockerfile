# The gateway as one small image: the binary, CA roots, a non-root user, production mode.
#   docker build -t gateway .
FROM rust:1.95-bookworm AS build
WORKDIR /src

# Dependencies first, in a layer of their own: it is rebuilt only when a manifest or
# Cargo.lock changes, not on every source edit. Each workspace member gets an empty
# stand-in for its sources so that cargo can resolve the workspace.
COPY Cargo.toml Cargo.lock ./
COPY api/Cargo.toml api/
COPY entity/Cargo.toml entity/
COPY migration/Cargo.toml migration/
COPY tests/Cargo.toml tests/
COPY bench/Cargo.toml bench/
RUN for d in api entity migration bench; do mkdir -p $d/src && echo '' > $d/src/lib.rs; done \
    && echo 'fn main() {}' > api/src/main.rs \
    && echo 'fn main() {}' > bench/src/main.rs \
    && echo '' > tests/src.rs \
    && cargo build --release --locked -p gateway \
    && rm -rf api/src entity/src migration/src bench/src tests/src.rs

# Then the sources (see .dockerignore for what stays out).
COPY . .
# Sources newer than the stand-ins' build: cargo rebuilds our crates, not the others.
RUN touch api/src/main.rs api/src/lib.rs entity/src/lib.rs migration/src/lib.rs \
    && cargo build --release --locked -p gateway

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/gateway --create-home gateway
COPY --from=build /src/target/release/gateway /usr/local/bin/gateway
USER gateway
WORKDIR /var/lib/gateway
# Production: PAYMENT_CONFIG_ENC_KEY, JWT_SECRET and a PostgreSQL DATABASE_URL must be
# given; nothing falls back to development keys.
ENV GATEWAY_ENV=production \
    BIND_ADDR=0.0.0.0:3000 \
    LOG_FORMAT=json
EXPOSE 3000
# `gateway health-check` asks this replica's /ready (database answers, migrations
# applied) and exits 0 or 1; no curl in the image.
HEALTHCHECK --interval=5s --timeout=4s --start-period=15s --retries=3 \
    CMD ["gateway", "health-check"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["gateway"]
CMD ["serve"]
