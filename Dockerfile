# syntax=docker/dockerfile:1
#
# goray's images for users with Docker (the test cluster packs the same images
# without Docker: hack/cluster/load-images.sh + hack/images; a test in
# hack/images checks that both agree on paths, entrypoints, user and PATH).
#
#   docker build --target operator -t goray/operator:dev .
#   docker build --target runtime  -t goray/goray:dev .
#
# operator: /usr/local/bin/goray-operator, entrypoint goray-operator.
# runtime:  /usr/local/bin/goray and /usr/local/bin/goray-examples, entrypoint
#           goray, plus a shell: Debian's busybox-static as /bin/busybox with
#           /bin/sh, /bin/wget, ... links (the job supervisor runs entrypoints
#           with `/bin/sh -c`; distroless has no shell).
# Both run as the non-root user 65532 (distroless "nonroot").

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS builder
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w" -o /out/goray ./cmd/goray && \
    go build -trimpath -ldflags "-s -w" -o /out/goray-operator ./cmd/goray-operator && \
    go build -trimpath -ldflags "-s -w" -o /out/goray-examples ./cmd/goray-examples

# The shell of the runtime image: Debian's statically linked busybox.
FROM debian:bookworm-slim AS busybox
ARG BUSYBOX_APPLETS="sh wget cat cp date echo env false grep head hostname id kill ls mkdir mv nc nslookup ps pwd rm sed sleep tail tee test timeout touch tr true uname wc which xargs"
RUN apt-get update && apt-get install -y --no-install-recommends busybox-static && rm -rf /var/lib/apt/lists/* && \
    mkdir -p /out/bin /out/usr/bin /out/usr/share/doc/busybox-static && \
    cp /bin/busybox /out/bin/busybox && \
    cp /usr/share/doc/busybox-static/copyright /out/usr/share/doc/busybox-static/copyright && \
    for a in $BUSYBOX_APPLETS; do ln -s /bin/busybox /out/bin/$a; done && \
    ln -s /bin/busybox /out/usr/bin/env

FROM gcr.io/distroless/static:nonroot AS operator
COPY --from=builder /out/goray-operator /usr/local/bin/goray-operator
ENV PATH=/usr/local/bin:/usr/bin:/bin
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/goray-operator"]

FROM gcr.io/distroless/static:nonroot AS runtime
COPY --from=busybox /out/ /
COPY --from=builder /out/goray /usr/local/bin/goray
COPY --from=builder /out/goray-examples /usr/local/bin/goray-examples
ENV PATH=/usr/local/bin:/usr/bin:/bin
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/goray"]
