# Multi-stage build: a static hotswap binary on a small non-root image.
# docker build --build-arg VERSION=$(git describe --always --dirty) -t hotswap .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/hotswap ./cmd/hotswap

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hotswap /usr/local/bin/hotswap
USER nonroot:nonroot
EXPOSE 6380 9090
ENTRYPOINT ["/usr/local/bin/hotswap"]
CMD ["serve", "--listen", "0.0.0.0:6380", "--admin", "0.0.0.0:9090"]
