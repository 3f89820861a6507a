#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, when they are missing.
# Idempotent: with everything installed it only checks and prints one line.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# What each package is for:
#   make, git           the Makefile and generate-verify
#   ca-certificates     TLS to the Go module proxy
#   curl                health checks of local servers
#   openssl             certificates of the local cluster
#   procps              pgrep/pkill for tearing down test processes
PACKAGES=(make git ca-certificates curl openssl procps)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  log "Debian packages present: ${PACKAGES[*]}"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || die "missing packages ${missing[*]}; run as root or install them with: sudo apt-get install -y ${missing[*]}"
log "installing ${missing[*]} from Debian's archive"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || die "apt-get update failed; check that Debian's archive is reachable"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
log "installed ${missing[*]}"
