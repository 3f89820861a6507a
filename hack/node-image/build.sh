#!/usr/bin/env bash
# Builds the node image of nested clusters (make node-image): a KubeVirt containerDisk
# whose disk boots Debian 12 with systemd, cloud-init (ConfigDrive and NoCloud), the QEMU
# guest agent and sshd, containerd + runc + the CNI plugins, and kubeadm, kubelet and
# kubectl at KUBE_VERSION: what Cluster API's kubeadm bootstrap expects of a node. Every
# image kubeadm runs (images.sh) and flannel's (flannel.sh, the nested clusters' CNI) are
# preloaded into the node's containerd: a node pulls nothing.
#
# Everything comes from locked or source inputs: the Debian packages of
# rpm/node-image.lock (checked against their sha256, installed by mmdebstrap from those
# files only), the Kubernetes binaries (hack/kube-binaries.sh, with kubeadm), the node
# runtime (hack/runtime-binaries.sh) and the files under hack/node-image/rootfs. The
# result is cached in $HYPERNEST_CACHE/node-image/<hash of the inputs>/.
#
#   hack/node-image/build.sh    build (or reuse) and, when the local cluster runs, import it
#                               there; the last line printed is the image tarball
#   NODE_IMAGE_IMPORT=0 ...     never import
#
# The disk: an MBR with syslinux, a FAT boot partition (the Debian kernel and its
# initramfs) and an ext4 root labelled node-root, written without mounting anything.
# Needs root (mmdebstrap runs the packages' scripts in a chroot).
set -euo pipefail
# The local cluster's settings too: the image is imported there when it runs.
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/common.sh"
cd "$HYPERNEST_ROOT"

NODE_IMAGE_TAG="${NODE_IMAGE_TAG:-localhost/hypernest/node-image:$KUBE_VERSION}"
lock=rpm/node-image.lock
# BOOT_MB: the FAT partition holds one kernel (8 MiB) and its initramfs (~35 MiB).
BOOT_MB=96
# ROOT_FREE_MB: room the node gets beyond the installed files, for etcd's data, logs and
# the images the nested cluster pulls; qcow2 stores only what is written, so it is free
# until used.
ROOT_FREE_MB="${ROOT_FREE_MB:-4096}"
# A fixed time and UUIDs: the same inputs give the same disk.
export SOURCE_DATE_EPOCH=946684800 E2FSPROGS_FAKE_TIME=946684800
ROOT_UUID=6e6f6465-2d72-6f6f-742d-68797065726e

source hack/node-image/images.sh
source hack/node-image/flannel.sh

# preload_images <runtime bin> <root> <tarball>...: imports the images into the containerd
# store of the node's root, with a containerd of our own (from runtime bin) that runs only
# for this (its state and socket in a scratch folder), unpacked for the overlayfs
# snapshotter the node's containerd uses.
preload_images() {
  local runtime_bin="$1" root="$2" state pid t; shift 2
  state="$(mktemp -d)"
  cat > "$state/config.toml" <<TOML
version = 4
root = "$root/var/lib/containerd"
state = "$state/state"
disabled_plugins = ["io.containerd.cri.v1.runtime", "io.containerd.grpc.v1.cri"]
[plugins.'io.containerd.server.v1.grpc']
  address = "$state/containerd.sock"
[plugins.'io.containerd.server.v1.ttrpc']
  address = "$state/containerd.sock.ttrpc"
TOML
  "$runtime_bin/containerd" --config "$state/config.toml" >"$state/containerd.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do [ -S "$state/containerd.sock" ] && break; sleep 0.2; done
  [ -S "$state/containerd.sock" ] || { kill "$pid"; die "the preload containerd did not start; see $state/containerd.log"; }
  for t in "$@"; do
    "$runtime_bin/ctr" --address "$state/containerd.sock" -n k8s.io images import --snapshotter overlayfs "$t" >/dev/null 2>&1 \
      || { kill "$pid"; die "preloading $t failed; see $state/containerd.log"; }
  done
  log "  preloaded: $("$runtime_bin/ctr" --address "$state/containerd.sock" -n k8s.io images ls -q 2>/dev/null | grep -vc '@sha256' ) images"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$state"
}

# write_disk <root> <work>: writes <work>/disk.raw: an MBR with syslinux's boot code, a
# FAT16 boot partition with the root's kernel and initramfs, and the root as ext4
# (labelled node-root), each written at its offset in the file, nothing mounted.
write_disk() {
  local root="$1" work="$2" kernel initrd used_mb root_mb raw boot_off root_off mbr
  kernel="$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' | sort | tail -1)"
  initrd="$(find "$root/boot" -maxdepth 1 -name 'initrd.img-*' | sort | tail -1)"
  { [ -f "$kernel" ] && [ -f "$initrd" ]; } || die "the root has no kernel or initramfs in /boot; is linux-image in $lock?"
  used_mb=$(( $(du -sxm "$root" | cut -f1) ))
  root_mb=$(( used_mb + used_mb / 5 + ROOT_FREE_MB ))
  log "writing the disk: ${BOOT_MB} MiB boot, ${root_mb} MiB root (${used_mb} MiB used)"
  raw="$work/disk.raw"
  rm -f "$work/disk.raw"
  boot_off=$((1024 * 1024)) root_off=$(( (1 + BOOT_MB) * 1024 * 1024 ))
  truncate -s $(( (1 + BOOT_MB + root_mb) * 1024 * 1024 )) "$raw"
  printf 'label: dos\nlabel-id: 0x6e6f6465\nstart=2048, size=%s, type=e, bootable\nstart=%s, type=83\n' \
    $((BOOT_MB * 2048)) $(( (1 + BOOT_MB) * 2048 )) | sfdisk -q "$raw"
  mkfs.vfat -F 16 --offset 2048 -n NODE-BOOT -i 6e6f6465 "$raw" $((BOOT_MB * 1024)) >/dev/null 2>&1 || die "mkfs.vfat could not write the boot partition"
  cat > "$work/syslinux.cfg" <<CFG
DEFAULT node
PROMPT 0
TIMEOUT 0
LABEL node
  KERNEL /vmlinuz
  APPEND initrd=/initrd.img root=LABEL=node-root rw console=tty0 console=ttyS0,115200 no_timer_check net.ifnames=0
CFG
  cp "$kernel" "$work/vmlinuz" && cp "$initrd" "$work/initrd.img"
  touch -d "@$SOURCE_DATE_EPOCH" "$work/vmlinuz" "$work/initrd.img" "$work/syslinux.cfg"
  MTOOLS_SKIP_CHECK=1 mcopy -m -i "$raw@@$boot_off" "$work/vmlinuz" "$work/initrd.img" "$work/syslinux.cfg" ::/ || die "mcopy could not fill the boot partition"
  syslinux --offset "$boot_off" --install "$raw" || die "syslinux could not be installed on the boot partition"
  mbr=/usr/lib/syslinux/mbr/mbr.bin
  [ -f "$mbr" ] || die "$mbr is missing; run hack/install-deps.sh (syslinux-common)"
  dd if="$mbr" of="$raw" bs=440 count=1 conv=notrunc status=none
  mke2fs -q -F -t ext4 -L node-root -U "$ROOT_UUID" -E "offset=$root_off,hash_seed=$ROOT_UUID,root_owner=0:0" \
    -d "$root" "$raw" "$((root_mb * 1024))k" || die "mke2fs could not write the root"
}

[ "$(id -u)" -eq 0 ] || die "building the node image needs root (mmdebstrap runs package scripts in a chroot)"
for tool in mmdebstrap dpkg-scanpackages mke2fs mkfs.vfat mcopy syslinux sfdisk qemu-img curl sha256sum; do
  command -v "$tool" >/dev/null || die "'$tool' is missing; run hack/install-deps.sh"
done

log "node image: Kubernetes binaries (kubeadm, kubelet, kubectl; cached) and the node runtime (cached)"
kube_bin="$(BINS="kubeadm kubelet kubectl" hack/kube-binaries.sh | tail -1)"
runtime_bin="$(hack/runtime-binaries.sh | tail -1)"

key="$( { cat "$lock" rpm/iptables.lock; find hack/node-image hack/image-builder -type f | LC_ALL=C sort | xargs sha256sum
          echo "$KUBE_VERSION $ETCD_VERSION $COREDNS_VERSION $FLANNEL_VERSION $FLANNEL_CNI_VERSION $CONTAINERD_VERSION $CONTAINERD_PATCH $RUNC_VERSION $CNI_VERSION $CRICTL_VERSION $NODE_IMAGE_TAG $ROOT_FREE_MB"
        } | sha256sum | cut -c1-16)"
out="$HYPERNEST_CACHE/node-image/$key"
tarball="$out/node-image.tar"
if [ -f "$tarball" ]; then
  log "node image $NODE_IMAGE_TAG is cached in $out"
else
  work="$out.work"
  rm -rf "$work" && mkdir -p "$work"

  # ---- the locked packages, downloaded once into the shared cache and checked
  repo="$work/repo"
  log "fetching the Debian packages of $lock (cached in $HYPERNEST_CACHE/debs)"
  fetch_lock "$lock" "$repo"
  (cd "$repo" && dpkg-scanpackages -m . 2>/dev/null > Packages) || die "indexing the packages failed"
  packages="$(grep -v '^#' "$lock" | awk '{print $1}' | paste -sd, -)"

  # ---- the root: mmdebstrap installs exactly the locked packages, then customize.sh
  log "installing the root with mmdebstrap (runs the packages' scripts, builds the initramfs; ~5-10 min)"
  export HEARTBEAT_LOG_DIR="$work" KUBE_BIN="$kube_bin" RUNTIME_BIN="$runtime_bin"
  export HEARTBEAT_HINT="the end of its log is above; a package script that fails names itself there"
  with_heartbeat node-image-mmdebstrap mmdebstrap --mode=root --variant=custom --format=directory \
      --include="$packages" \
      --aptopt='Acquire::Languages "none"' --aptopt='APT::Sandbox::User "root"' \
      --customize-hook="$HYPERNEST_ROOT/hack/node-image/customize.sh \"\$1\"" \
      bookworm "$work/root" "deb [trusted=yes] copy://$repo ./"

  # ---- the images kubeadm runs, preloaded into the root's containerd (unpacked, so a
  # node starts its control plane without pulling or unpacking anything)
  log "building the images kubeadm runs: $(kubeadm_image_refs | paste -sd' ' -)"
  build_kubeadm_images "$kube_bin" "$runtime_bin" "$work/images"
  log "building flannel $FLANNEL_VERSION, the nested clusters' CNI, and its image $FLANNEL_IMAGE"
  build_flannel "$work/flannel"
  build_flannel_image "$work/flannel" "$work/images/iptables-debs" "$work/images/iptables-links" "$work/images/flannel.tar"
  log "preloading them into the node's containerd"
  preload_images "$runtime_bin" "$work/root" "$work/images"/*.tar

  # ---- the disk
  write_disk "$work/root" "$work"
  log "compressing the disk to qcow2"
  qemu-img convert -c -O qcow2 "$work/disk.raw" "$work/node.qcow2"
  rm -f "$work/disk.raw"

  # ---- the containerDisk: the qcow2 under /disk, as KubeVirt's containerDisks
  log "packing the containerDisk image $NODE_IMAGE_TAG"
  go run ./hack/image-builder --tag "$NODE_IMAGE_TAG" --output "$work/node-image.tar" \
    --layer "$work/node.qcow2=/disk/node.qcow2" >/dev/null || die "packing the containerDisk failed"
  mkdir -p "$out"
  mv "$work/node.qcow2" "$work/node-image.tar" "$out/"
  rm -rf "$work"
fi
log "node image: $(du -h "$out/node.qcow2" | cut -f1) qcow2, containerDisk $NODE_IMAGE_TAG"

if [ "${NODE_IMAGE_IMPORT:-1}" != 0 ] && [ -n "$(daemon_pid containerd)" ]; then
  log "importing $NODE_IMAGE_TAG into the local cluster's containerd"
  import_image "$tarball"
elif [ "${NODE_IMAGE_IMPORT:-1}" != 0 ]; then
  log "the local cluster is not running: nothing imported (make cluster-up, then make node-image again)"
fi
echo "$tarball"
