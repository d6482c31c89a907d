# InfraMon container image: a Debian 12 build stage and a slim runtime stage that holds
# only the binary, its shared libraries and a non-root user.
#
#   docker build -t inframon .
#   docker compose -f deploy/compose.yml up -d       # see docs/deploy.md
#
# The web UI is embedded from web/dist when the build context has it: run `make` on the
# host first, because the UI build needs Node.js 20, which Debian 12 does not ship.
# Without web/dist the server builds anyway and its UI page says the UI was not built.

FROM debian:12 AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libmicrohttpd-dev libwslay-dev libjansson-dev nettle-dev libgnutls28-dev \
        libcrypt-dev libssl-dev libsqlite3-dev libyaml-dev libcmocka-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# CMakeLists.txt also configures the unit tests, hence libcmocka-dev and libssl-dev (the
# JWT test's cross-check) above; only the server target is built here.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    && cmake --build /build --target inframon --parallel "$(nproc)" \
    && strip --strip-debug /build/inframon

FROM debian:12-slim
# Runtime libraries only: the shared objects that `ldd inframon` lists come from these
# packages. A tcp:// engine with DOCKER_TLS_VERIFY=true is verified against
# DOCKER_CERT_PATH/ca.pem only, not against the ca-certificates store.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libmicrohttpd12 libgnutls30 libwslay1 libjansson4 libnettle8 libcrypt1 \
        libsqlite3-0 libyaml-0-2 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed uid/gid, so that volume ownership and `user:` in compose files stay stable
# across rebuilds.
RUN groupadd --system --gid 10001 inframon \
    && useradd --system --uid 10001 --gid inframon --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin inframon \
    && install -d -o inframon -g inframon -m 0700 /data /backups
COPY --from=build /build/inframon /usr/local/bin/inframon

ENV HOST=0.0.0.0 \
    PORT=8065 \
    DATABASE_URL=sqlite:////data/inframon.db \
    DOCKER_HOST=unix:///var/run/docker.sock
WORKDIR /data
VOLUME ["/data"]
USER inframon:inframon
EXPOSE 8065
# The image has no curl: `inframon healthcheck` sends GET /health to HOST:PORT itself.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/inframon", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/inframon"]
CMD ["serve"]
