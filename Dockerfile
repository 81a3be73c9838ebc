# One image holding every InstaShop Analytics binary; it runs the stream worker unless
# told otherwise (`docker run IMAGE` = `stream-worker`; `--entrypoint publisher` etc.).
# Build and check: scripts/image.sh. Push to Artifact Registry: see the README.

ARG RUST_VERSION=1.95

# --- build: every binary, release, exactly the locked dependencies -------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY bigquery ./bigquery
COPY assets ./assets
RUN cargo build --release --locked --bins \
    && mkdir /out \
    && cp target/release/stream-worker target/release/publisher target/release/batch-loader \
          target/release/provision target/release/datagen target/release/replay \
          target/release/alerts target/release/dashboard target/release/refresh \
          target/release/forecast /out/

# --- runtime: glibc, CA certificates and a non-root user, nothing else ---------------
FROM gcr.io/distroless/cc-debian12:nonroot
WORKDIR /app
COPY --from=build /out/ /usr/local/bin/
COPY bigquery /app/bigquery
COPY looker /app/looker
ENV INSTASHOP_MODEL_DIR=/app/bigquery \
    INSTASHOP_LOG_FORMAT=json
# distroless's "nonroot" user, by number so that any runtime resolves it.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/stream-worker"]
