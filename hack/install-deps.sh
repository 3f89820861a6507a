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
#   libseccomp-dev, pkg-config   building runc with seccomp support
#   iptables, conntrack  kube-proxy and the CNI portmap plugin (local cluster)
#   iproute2            ip and ss: the cluster's bridge and the port checks
#   util-linux          mount/umount and nsenter
#   the shellcheck linter, for the scripts in hack/ (make test)
#   bazel-bootstrap and rule sets   the Bazel build (Debian's Bazel 4.2.3, offline)
#   gcc, libc6-dev      cgo (Bazel's C toolchain, runc)
#   cpio dosfstools mtools syslinux syslinux-common qemu-utils   building the demo disk
#   protobuf-compiler   protoc, for make generate (the launcher command API)
#   libvirt-dev         cgo build of virt-launcher (libvirt.org/go/libvirt)
#   libvirt-clients libxml2-utils   virt-xml-validate checks generated domain XML
#   xorriso             reads cloud-init ISOs back in virt-launcher's tests
#   mmdebstrap dpkg-dev e2fsprogs fdisk   building the nested cluster node image (make node-image)
#   libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86   virt-launcher's integration
#                       tests run real libvirt + QEMU on the host
PACKAGES=(protobuf-compiler libvirt-dev libvirt-clients libxml2-utils xorriso libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 shellcheck bazel-bootstrap bazel-skylib bazel-platforms bazel-rules-java bazel-rules-proto
  gcc libc6-dev cpio dosfstools mtools syslinux syslinux-common qemu-utils make git ca-certificates curl openssl procps libseccomp-dev pkg-config iptables conntrack iproute2 util-linux
  mmdebstrap dpkg-dev e2fsprogs fdisk)

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
