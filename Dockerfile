# syntax=docker/dockerfile:1
# extauthz container image: a static binary on distroless, running as
# nonroot (uid 65532), with a read-only root file system in mind (it writes
# nothing to disk).
#
#   docker build -t ghcr.io/extauthz/extauthz:$(git describe --tags --always) .
#
# No Docker engine runs on the project's build machines, so this file is not
# built in CI. `make deploy-check` runs the exact `go build` line below (the
# one marked "build:") and checks that it yields a static binary.

# The same release as scripts/goenv.sh.
ARG GO_VERSION=1.27.3

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# build:
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/extauthz ./cmd/extauthz

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/extauthz /usr/local/bin/extauthz
USER nonroot:nonroot
EXPOSE 9191 9090
ENTRYPOINT ["/usr/local/bin/extauthz"]
CMD ["serve"]
