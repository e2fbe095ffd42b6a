# kmipd container image: a release build in the Rust image, run as an unprivileged user in a slim Debian.
#
#   docker build -t kmipd .
#   docker run -d --name kmipd -p 5696:5696 \
#     -v kmipd-data:/var/lib/kmipd \
#     -v /srv/kmipd/etc:/etc/kmipd:ro \
#     -v /srv/kmipd/secrets/master.key:/run/secrets/kmipd-master-key:ro \
#     kmipd
#
# /etc/kmipd holds kmipd.toml (packaging/kmipd.toml is the default), server.pem, server.key and client-ca.pem,
# readable by uid 10001; the master key is mounted apart from the data volume (a Docker or Kubernetes secret),
# owned by uid 10001 with mode 0400 or 0600: kmipd refuses a key file others may read (a Swarm secret needs
# `uid: "10001"` and `mode: 0400`). A wrapped key (`kmipd master-key init`) also needs KMIPD_MASTER_PASSPHRASE.
# The health check asks the metrics endpoint (127.0.0.1:9184 in the container) for /healthz.

FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin kmipd \
    && install -D -m 0755 target/release/kmipd /out/kmipd \
    && strip /out/kmipd

FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 kmipd \
    && useradd --system --uid 10001 --gid kmipd --home-dir /var/lib/kmipd --shell /usr/sbin/nologin kmipd \
    && install -d -o kmipd -g kmipd -m 0700 /var/lib/kmipd \
    && install -d -m 0755 /etc/kmipd
COPY --from=build /out/kmipd /usr/bin/kmipd
COPY packaging/kmipd.toml /etc/kmipd/kmipd.toml
USER kmipd:kmipd
VOLUME ["/var/lib/kmipd"]
EXPOSE 5696
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/bin/kmipd", "healthcheck", "--address", "127.0.0.1:9184", "--path", "/healthz"]
ENTRYPOINT ["/usr/bin/kmipd"]
CMD ["serve", "--config", "/etc/kmipd/kmipd.toml", "--master-key-file", "/run/secrets/kmipd-master-key"]
