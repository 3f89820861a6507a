#!/usr/bin/env bash
# Generates Go code for the project's protobuf APIs (today: the launcher command API)
# with Debian's protoc and the Go plugins pinned in go.mod as tool dependencies.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$HYPERNEST_ROOT"
command -v protoc >/dev/null || die "protoc is missing; run hack/install-deps.sh (Debian's protobuf-compiler)"
protoc \
  --plugin=protoc-gen-go="$(go tool -n protoc-gen-go)" \
  --plugin=protoc-gen-go-grpc="$(go tool -n protoc-gen-go-grpc)" \
  --go_out=paths=source_relative:. --go-grpc_out=paths=source_relative:. \
  api/launcher/v1/launcher.proto
