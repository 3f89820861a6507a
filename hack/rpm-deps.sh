#!/usr/bin/env bash
# Resolves the package trees images are built from and rewrites the locks in rpm/.
#
# Each rpm/<base>.lock starts with its inputs, which this script keeps:
#   # roots: libvirt-daemon qemu-system-x86 ...   the packages the image base needs
#   # closure: full | roots                       full: roots + every dependency
#                                                 roots: the roots alone (files taken
#                                                 from them, e.g. a kernel)
# and lists one package per line:
#   <name> <version> <arch> sha256:<hex> <url>
# The image build (Bazel, rpm/debian.bzl) reads only the lock: it downloads each
# package from its URL and refuses one whose checksum differs.
#
# The trees are Debian 12 packages from Debian's archive (the folder keeps KubeVirt's
# name). Needs root for `apt-get update`; set RPM_DEPS_NO_UPDATE=1 to use current lists.
#
#   hack/rpm-deps.sh [rpm/launcher.lock ...]    (default: every rpm/*.lock)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$HYPERNEST_ROOT"

locks=("$@")
[ ${#locks[@]} -gt 0 ] || locks=(rpm/*.lock)

if [ -z "${RPM_DEPS_NO_UPDATE:-}" ]; then
  [ "$(id -u)" -eq 0 ] || die "apt-get update needs root; run as root or set RPM_DEPS_NO_UPDATE=1"
  log "updating Debian's package lists"
  apt-get update -qq || die "apt-get update failed; check that Debian's archive is reachable"
fi

# An empty dpkg status: apt then resolves the whole closure, as for an empty image.
empty_status="$(mktemp)"
trap 'rm -f "$empty_status"' EXIT
APT_EMPTY=(-o "Dir::State::status=$empty_status" -o Debug::NoLocking=1)

for lock in "${locks[@]}"; do
  [ -f "$lock" ] || die "$lock does not exist; create it with '# roots: <packages>' and '# closure: full|roots' lines"
  roots="$(sed -n 's/^# roots: *//p' "$lock")"
  closure="$(sed -n 's/^# closure: *//p' "$lock")"
  [ -n "$roots" ] || die "$lock has no '# roots: ...' line"
  # shellcheck disable=SC2206 # roots is a space-separated list of package names
  root_list=($roots)

  case "$closure" in
    full)
      resolved="$(apt-get -s "${APT_EMPTY[@]}" install --no-install-recommends "${root_list[@]}" 2>&1)" \
        || { echo "$resolved" | grep -E '^(E:|  )' >&2; die "apt cannot resolve $roots for $lock"; }
      # "Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64]) []"
      pins="$(echo "$resolved" | awk '/^Inst /{gsub(/\(/,"",$3); print $2"="$3}')"
      ;;
    roots)
      pins="$(for p in "${root_list[@]}"; do
        v="$(apt-cache policy "$p" | awk '/Candidate:/{print $2}')"
        [ -n "$v" ] && [ "$v" != "(none)" ] || { echo "no candidate version for $p" >&2; exit 1; }
        echo "$p=$v"
      done)" || die "cannot resolve the roots of $lock"
      ;;
    *) die "$lock: '# closure:' must be full or roots, not '$closure'" ;;
  esac

  # 'URL' file size SHA256:hex, one per package.
  # shellcheck disable=SC2086 # pins is a whitespace-separated list of name=version
  uris="$(apt-get --print-uris download $pins 2>/dev/null)" || die "apt cannot locate the packages of $lock"
  body="$(echo "$uris" | awk '
    {
      url = $1; gsub(/\x27/, "", url); file = $2; sum = $4; sub(/^SHA256:/, "", sum)
      n = split(file, parts, "_")                 # name_version_arch.deb (version %-escaped)
      arch = parts[n]; sub(/\.deb$/, "", arch)
      version = parts[2]; for (i = 3; i < n; i++) version = version "_" parts[i]
      gsub(/%3a/, ":", version)
      print parts[1], version, arch, "sha256:" sum, url
    }' | sort)"
  count="$(echo "$body" | wc -l)"
  if [ "$body" = "$(grep -v '^#' "$lock")" ]; then
    log "$lock: $count packages, unchanged"
    continue
  fi
  {
    grep '^#' "$lock" | grep -vE '^# (resolved|packages):'
    echo "# resolved: $(date -u +%Y-%m-%d) from Debian 12 (bookworm, -updates, -security)"
    echo "# packages: $count"
    echo "$body"
  } > "$lock.new"
  mv "$lock.new" "$lock"
  log "$lock: $count packages"
done
