#!/bin/sh
echo "bazel coverage is not available offline; use go test -cover" >&2
exit 1
