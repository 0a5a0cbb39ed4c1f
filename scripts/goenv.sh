# The one Go release that builds, tests, lints and benchmarks extauthz, and
# builds every pinned tool. The go command fetches it from the Go module
# proxy on first use (about 76 MB), whatever Go the machine starts with.
# Sourced by every script that runs go; the Makefile and .ci/run read it.
export GOTOOLCHAIN=go1.27.3
