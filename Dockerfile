# assent in a container: a build stage with the Rust toolchain, and a small runtime stage that
# holds only the binary and the two system libraries it links (libssl for the bundled libpq,
# CA certificates for outbound HTTPS). Runs as an unprivileged user with its data in /data.
#
#   docker build -t assent .
#   docker run -p 8080:8080 -v assent-data:/data assent
#
# See docs/docker.md (and compose.yaml for PostgreSQL).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The caches keep the registry and the build between image builds on one machine.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p assent \
    && install -m 0755 target/release/assent /usr/local/bin/assent

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin assent \
    && mkdir /data && chown assent:assent /data
COPY --from=build /usr/local/bin/assent /usr/local/bin/assent
USER assent
# Inside a container the server must listen on every interface to be reachable through the
# published port; the database and the generated key file live in the volume.
ENV ASSENT_BIND=0.0.0.0:8080 \
    ASSENT_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["assent"]
CMD ["serve"]
