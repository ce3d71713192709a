# Multi-stage build: a static hotswap binary on a small non-root image.
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t hotswap .
# cmd/hotswap/dockerfile_test.go builds the binary with this file's `go build` line (parsed
# from here) and checks that it is static and that `hotswap version` prints VERSION.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/hotswap ./cmd/hotswap

# distroless static: CA certificates (DynamoDB over TLS), tzdata, /etc/passwd with nonroot
# (uid 65532), no shell, no libc. The binary needs nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hotswap /usr/local/bin/hotswap
USER 65532:65532
# 6380: Redis clients; 9090: admin (/healthz, /readyz, /metrics, status page).
EXPOSE 6380 9090
ENTRYPOINT ["/usr/local/bin/hotswap"]
CMD ["serve", "--listen", "0.0.0.0:6380", "--admin", "0.0.0.0:9090"]
