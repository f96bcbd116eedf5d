# syntax=docker/dockerfile:1
# Production image for the Layerr gateway (used by docker-compose.yml).

FROM rust:1.95-bookworm AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake pkg-config libssl-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p layerr \
    && cp target/release/layerr /usr/local/bin/layerr

FROM debian:bookworm-slim
# libssl3: harmless if unused, needed if any dependency links OpenSSL dynamically.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/layerr --create-home layerr
COPY --from=builder /usr/local/bin/layerr /usr/local/bin/layerr
USER layerr
WORKDIR /var/lib/layerr
EXPOSE 8080
ENTRYPOINT ["layerr"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
