# syntax=docker/dockerfile:1
# The production image of dmm: the CLI alone, without the simulator (package domino-sim, sim/).
#
#   docker build -t dmm .
#   mkdir -p maintenance && sudo chown 10001:10001 maintenance
#   docker run --rm -e DOMINO_HOSTNAME -e DOMINO_API_KEY -v "$PWD/maintenance:/work" \
#     dmm snapshot before-upgrade.json
#
# The snapshot and its FILE.journal are written under /work, a volume: mount durable storage
# there, writable by uid 10001 (the image's user `dmm`, gid 10001), or dmm stops at once with
# "permission denied" on the journal. In Kubernetes, `fsGroup: 10001` does that for a volume
# (deploy/kubernetes/).
#
# Base images: pinned by tag. Pin them by digest too (`FROM rust:1.95-bookworm@sha256:...`)
# when building for production: the digests could not be looked up from where this file was
# last edited (no registry access), and a made-up digest would only break the build.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Cargo reads every target the manifest declares, the benchmark included, even for one binary,
# and every member of the workspace: the simulator's manifest and sources are read, not built.
COPY benches ./benches
COPY sim ./sim
# The registry and target folders are BuildKit caches, so a rebuild compiles only what changed;
# the binary is copied out of the cache in the same step. A multi-platform build runs one
# builder per platform at once: each gets its own target cache, and the registry cache is
# taken by one at a time.
ARG TARGETARCH
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,id=dmm-target-${TARGETARCH} \
    cargo build --release --locked -p dmm --bin dmm \
    && install -m 0755 target/release/dmm /usr/local/bin/dmm

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 dmm \
    && useradd --system --uid 10001 --gid dmm --home-dir /work --no-create-home --shell /usr/sbin/nologin dmm \
    && mkdir -p /work \
    && chown dmm:dmm /work
COPY --from=builder /usr/local/bin/dmm /usr/local/bin/dmm
USER 10001:10001
WORKDIR /work
VOLUME ["/work"]
ENTRYPOINT ["dmm"]
CMD ["--help"]
