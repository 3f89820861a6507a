#!/usr/bin/env bash
# Builds the demo guest disk: a BIOS-bootable qcow2 (syslinux on FAT) holding the Debian
# kernel and a busybox initramfs (guest/init). The guest behaves like KubeVirt's cirros
# demo: DHCP on every NIC, runs NoCloud/ConfigDrive user-data scripts, prints to the
# serial console, offers a root shell there, powers off on ACPI shutdown.
#
#   build.sh <out.qcow2> <guest dir> <flavor> <package.deb>...
#   build.sh --kernel-boot <out vmlinuz> <out initramfs> <guest dir> <flavor> <package.deb>...
# The flavor (hypernest, cirros or alpine) goes on the kernel command line and into the
# initramfs (/etc/hypernest-flavor); the guest's init then logs in as the image whose
# name the disk carries does (guest/init). --kernel-boot writes the kernel and the
# initramfs instead of a disk, for a KubeVirt kernelBoot image.
# The packages must include one linux-image-*-amd64 and busybox-static (rpm/demo-disk.lock)
# and qemu-guest-agent with its run-time closure (rpm/guest-agent.lock): the guest runs
# qemu-ga, with the shared libraries it loads, as KubeVirt's demo images do.
#
# Reproducible: fixed timestamps everywhere, sorted cpio, gzip -n, a constant FAT serial.
# Host tools (hack/install-deps.sh): dpkg-deb, cpio, mkfs.vfat, mtools, syslinux, qemu-img,
# gcc (with glibc's static libraries) for guest/sudo.c.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
kernel_out="" initrd_out=""
if [ "$1" = "--kernel-boot" ]; then
  kernel_out="$2" initrd_out="$3"; shift 3
  set -- "-" "$@"
fi
out="$1" guest="$2" flavor="$3"; shift 3
case "$flavor" in
  hypernest|cirros|alpine) ;;
  *) echo "demo disk: unknown flavor '$flavor' (hypernest, cirros or alpine)" >&2; exit 1 ;;
esac
kernel_deb="" busybox_deb="" agent_debs=()
for deb in "$@"; do
  case "$(basename "$deb")" in
    linux-image-*) kernel_deb="$deb" ;;
    busybox-static_*) busybox_deb="$deb" ;;
    *) agent_debs+=("$deb") ;;
  esac
done
[ -n "$kernel_deb" ] && [ -n "$busybox_deb" ] || { echo "demo disk: need a linux-image and a busybox-static package, got: $*" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for tool in dpkg-deb cpio mkfs.vfat mcopy syslinux qemu-img readelf gcc strip; do
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
# sudo for the cirros flavor (guest/sudo.c); static, as busybox is.
gcc -Os -static -Wall -Werror -o "$root/bin/sudo" "$guest/sudo.c"
strip "$root/bin/sudo"
chmod 0700 "$root/bin/sudo"
# A UDP echo service (guest/udp-echo.c): busybox's nc speaks TCP only, and the functional
# tests prove UDP port forwarding into the guest with it.
gcc -Os -static -Wall -Werror -o "$root/bin/udp-echo" "$guest/udp-echo.c"
strip "$root/bin/udp-echo"
cp "$guest/inittab" "$root/etc/inittab"
cp "$guest/udhcpc.script" "$root/etc/udhcpc.script"
cp -rL "$guest/acpi/." "$root/etc/acpi/"   # -L: Bazel hands us symlinks
echo "$flavor" > "$root/etc/hypernest-flavor"
echo 'root::0:0:root:/root:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
chmod 1777 "$root/tmp"

kmods="$work/kernel/lib/modules/$kver"
wanted=(
  drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_pci.ko
  drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci_legacy_dev.ko
  drivers/block/virtio_blk.ko drivers/net/virtio_net.ko drivers/net/net_failover.ko net/core/failover.ko
  drivers/char/hw_random/virtio-rng.ko drivers/char/hw_random/rng-core.ko
  drivers/virtio/virtio_balloon.ko
  drivers/scsi/virtio_scsi.ko drivers/scsi/scsi_mod.ko drivers/scsi/scsi_common.ko
  drivers/scsi/sr_mod.ko drivers/scsi/sd_mod.ko drivers/cdrom/cdrom.ko
  drivers/ata/ahci.ko drivers/ata/libahci.ko drivers/ata/libata.ko
  fs/isofs/isofs.ko fs/fat/fat.ko fs/fat/vfat.ko fs/nls/nls_cp437.ko fs/nls/nls_ascii.ko
  drivers/acpi/button.ko drivers/input/evdev.ko
  drivers/char/virtio_console.ko
)
for m in "${wanted[@]}"; do
  [ -f "$kmods/kernel/$m" ] || continue   # built into this kernel, or gone: modprobe copes
  mkdir -p "$root/lib/modules/$kver/kernel/$(dirname "$m")"
  cp "$kmods/kernel/$m" "$root/lib/modules/$kver/kernel/$m"
done
cp "$kmods/modules.builtin" "$kmods/modules.order" "$root/lib/modules/$kver/" 2>/dev/null || true
# The QEMU guest agent: qemu-ga and, found through their ELF NEEDED entries, the shared
# libraries it loads (with the dynamic loader), from the extracted packages.
agent="$work/agent"
mkdir -p "$agent"
for deb in "${agent_debs[@]}"; do dpkg-deb -x "$deb" "$agent"; done
[ -x "$agent/usr/sbin/qemu-ga" ] || { echo "demo disk: qemu-ga is missing; rpm/guest-agent.lock must hold qemu-guest-agent" >&2; exit 1; }
mkdir -p "$root/usr/sbin" "$root/lib/x86_64-linux-gnu" "$root/lib64" "$root/etc/qemu"
cp "$agent/usr/sbin/qemu-ga" "$root/usr/sbin/qemu-ga"
find_lib() {
  local d
  for d in "$agent/lib/x86_64-linux-gnu" "$agent/usr/lib/x86_64-linux-gnu"; do
    [ -e "$d/$1" ] && { echo "$d/$1"; return; }
  done
  echo "demo disk: the library $1 that qemu-ga needs is in no package of rpm/guest-agent.lock" >&2
  exit 1
}
queue=("$root/usr/sbin/qemu-ga")
while [ ${#queue[@]} -gt 0 ]; do
  elf="${queue[0]}"; queue=("${queue[@]:1}")
  for lib in $(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [ -e "$root/lib/x86_64-linux-gnu/$lib" ] && continue
    cp -L "$(find_lib "$lib")" "$root/lib/x86_64-linux-gnu/$lib"
    queue+=("$root/lib/x86_64-linux-gnu/$lib")
  done
done
cp -L "$(find_lib ld-linux-x86-64.so.2)" "$root/lib64/ld-linux-x86-64.so.2"
# What the guest agent reports as the guest's OS (guest-get-osinfo reads os-release).
cat > "$root/etc/os-release" <<'OSR'
NAME="Hypernest demo guest"
ID=hypernest-demo
VERSION="1"
VERSION_ID="1"
PRETTY_NAME="Hypernest demo guest 1 (busybox on the Debian kernel)"
OSR

# modules.dep for busybox modprobe, made by the guest's own busybox.
"$root/bin/busybox" depmod -b "$root" "$kver"

find "$root" -exec touch -h -d @946684800 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --reproducible -R 0:0) | gzip -n -9 > "$work/initrd.gz"
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
if [ -n "$kernel_out" ]; then
  cp "$work/vmlinuz" "$kernel_out"
  cp "$work/initrd.gz" "$initrd_out"
  exit 0
fi
cat > "$work/syslinux.cfg" <<CFG
DEFAULT demo
PROMPT 0
TIMEOUT 0
LABEL demo
  KERNEL /vmlinuz
  APPEND initrd=/initrd.gz console=tty0 console=ttyS0,115200 no_timer_check quiet hypernest.flavor=$flavor
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
