#!/usr/bin/env bash
# Builds the demo guest disk: a BIOS-bootable qcow2 (syslinux on FAT) holding the Debian
# kernel and a busybox initramfs (guest/init). The guest behaves like KubeVirt's cirros
# demo: DHCP on every NIC, runs NoCloud/ConfigDrive user-data scripts, prints to the
# serial console, offers a root shell there, powers off on ACPI shutdown.
#
#   build.sh <out.qcow2> <guest dir> <package.deb>...
# The packages (rpm/demo-disk.lock) must include one linux-image-*-amd64 and busybox-static.
#
# Reproducible: fixed timestamps everywhere, sorted cpio, gzip -n, a constant FAT serial.
# Host tools (hack/install-deps.sh): dpkg-deb, cpio, mkfs.vfat, mtools, syslinux, qemu-img.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
out="$1" guest="$2"; shift 2
kernel_deb="" busybox_deb=""
for deb in "$@"; do
  case "$(basename "$deb")" in
    linux-image-*) kernel_deb="$deb" ;;
    busybox-static_*) busybox_deb="$deb" ;;
  esac
done
[ -n "$kernel_deb" ] && [ -n "$busybox_deb" ] || { echo "demo disk: need a linux-image and a busybox-static package, got: $*" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for tool in dpkg-deb cpio mkfs.vfat mcopy syslinux qemu-img; do
  command -v "$tool" >/dev/null || { echo "demo disk: '$tool' is missing; run hack/install-deps.sh" >&2; exit 1; }
done

dpkg-deb -x "$kernel_deb" "$work/kernel"
dpkg-deb -x "$busybox_deb" "$work/busybox"
kver="$(ls "$work/kernel/lib/modules")"

# The initramfs: busybox, the guest scripts, and only the modules the guest loads.
root="$work/initramfs"
mkdir -p "$root/bin" "$root/etc/acpi" "$root/proc" "$root/sys" "$root/dev" "$root/run" "$root/tmp" "$root/mnt" "$root/root"
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
cp "$guest/init" "$root/init"
cp "$guest/inittab" "$root/etc/inittab"
cp "$guest/udhcpc.script" "$root/etc/udhcpc.script"
cp -rL "$guest/acpi/." "$root/etc/acpi/"   # -L: Bazel hands us symlinks
echo 'root::0:0:root:/root:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
chmod 1777 "$root/tmp"

kmods="$work/kernel/lib/modules/$kver"
wanted=(
  drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_pci.ko
  drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci_legacy_dev.ko
  drivers/block/virtio_blk.ko drivers/net/virtio_net.ko drivers/net/net_failover.ko net/core/failover.ko
  drivers/char/hw_random/virtio-rng.ko drivers/char/hw_random/rng-core.ko
  drivers/scsi/virtio_scsi.ko drivers/scsi/scsi_mod.ko drivers/scsi/scsi_common.ko
  drivers/scsi/sr_mod.ko drivers/scsi/sd_mod.ko drivers/cdrom/cdrom.ko
  drivers/ata/ahci.ko drivers/ata/libahci.ko drivers/ata/libata.ko
  fs/isofs/isofs.ko fs/fat/fat.ko fs/fat/vfat.ko fs/nls/nls_cp437.ko fs/nls/nls_ascii.ko
  drivers/acpi/button.ko drivers/input/evdev.ko
)
for m in "${wanted[@]}"; do
  [ -f "$kmods/kernel/$m" ] || continue   # built into this kernel, or gone: modprobe copes
  mkdir -p "$root/lib/modules/$kver/kernel/$(dirname "$m")"
  cp "$kmods/kernel/$m" "$root/lib/modules/$kver/kernel/$m"
done
cp "$kmods/modules.builtin" "$kmods/modules.order" "$root/lib/modules/$kver/" 2>/dev/null || true
# modules.dep for busybox modprobe, made by the guest's own busybox.
"$root/bin/busybox" depmod -b "$root" "$kver"

find "$root" -exec touch -h -d @946684800 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --reproducible -R 0:0) | gzip -n -9 > "$work/initrd.gz"
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
cat > "$work/syslinux.cfg" <<CFG
DEFAULT demo
PROMPT 0
TIMEOUT 0
LABEL demo
  KERNEL /vmlinuz
  APPEND initrd=/initrd.gz console=tty0 console=ttyS0,115200 no_timer_check quiet
CFG
touch -d @946684800 "$work/vmlinuz" "$work/initrd.gz" "$work/syslinux.cfg"

# A 48 MiB FAT disk, bootable by SeaBIOS through syslinux; written with mtools, no mount.
img="$work/disk.raw"
truncate -s 48M "$img"
mkfs.vfat -n DEMO --invariant "$img" >/dev/null
# mtools (which syslinux uses) stamps files with SOURCE_DATE_EPOCH when it is set.
export SOURCE_DATE_EPOCH=946684800   # 2000-01-01: FAT cannot store dates before 1980
syslinux --install "$img"
export MTOOLS_SKIP_CHECK=1
for f in vmlinuz initrd.gz syslinux.cfg; do mcopy -m -i "$img" "$work/$f" "::/$f"; done
qemu-img convert -f raw -O qcow2 "$img" "$out"
