# syntax=docker/dockerfile:1
#
# The gateway as a static binary on distroless, running as nonroot (65532).
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t gateway .
#   docker run -p 8080:8080 -v gateway-data:/data-root/data gateway
#
# The working directory /data-root is laid out like a checkout, so that the
# built-in defaults need no configuration:
#   /data-root/policy.csv         policy.file (default policy.csv); mount your own
#                                 over it, or mount a directory and set
#                                 GATEWAY_POLICY_FILE (the watcher sees atomic
#                                 edits of a file in a mounted directory best)
#   /data-root/data/gateway.db    storage.database_url (default sqlite://data/gateway.db)
#   /data-root/data/keys/         tokens.keys_dir (default data/keys), generated on first start
#   /data-root/gateway.yaml       read when present (mount one), else defaults + GATEWAY_*
# /data-root/data is a volume owned by 65532 so that the nonroot user can write
# the database and the key; keep it (a named volume or a persistent disk), or
# every restart makes a new signing key and forgets every user.
#
# Inside a container 127.0.0.1 is the container itself: point the upstreams at
# your services (GATEWAY_UPSTREAMS or a gateway.yaml), and set
# GATEWAY_SERVER_ADMIN_ADDR=:9090 to scrape /metrics from outside the
# container (keep that port off the public network: it also serves pprof).

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gateway ./cmd/gateway
# The data directory, owned by the runtime user: distroless has no shell to
# create it there.
RUN mkdir -p /out/data && chown 65532:65532 /out/data && chmod 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="gateway" \
      org.opencontainers.image.description="Authentication gateway: login, tokens and role-based access in front of your API" \
      org.opencontainers.image.source="https://github.com/authgate/gateway" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /out/gateway /gateway
WORKDIR /data-root
COPY policy.csv /data-root/policy.csv
COPY --from=build --chown=65532:65532 /out/data /data-root/data
VOLUME ["/data-root/data"]
USER 65532:65532
EXPOSE 8080 9090
# Distroless has no shell or curl: the binary probes its own /healthz (exit 0
# on 200). It reads the configuration serve reads (./gateway.yaml or --config,
# and GATEWAY_*), so it follows server.addr and server.tls; give it the same
# --config as serve when you use one, e.g. in compose:
#   healthcheck: {test: ["CMD", "/gateway", "healthcheck", "--config", "/etc/gateway/gateway.yaml"]}
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["/gateway", "healthcheck"]
ENTRYPOINT ["/gateway"]
CMD ["serve"]
