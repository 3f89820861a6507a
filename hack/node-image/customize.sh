#!/usr/bin/env bash
# mmdebstrap's customize hook for the node image (hack/node-image/build.sh): adds the
# binaries built from source and the files under hack/node-image/rootfs to the root in $1,
# enables the node's services, and leaves nothing that must differ between nodes
# (machine-id, ssh host keys: each node makes its own at first boot).
#   KUBE_BIN     folder with kubeadm, kubelet, kubectl
#   RUNTIME_BIN  folder with containerd, containerd-shim-runc-v2, runc, ctr, crictl and
#                the CNI plugins
set -euo pipefail
root="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${KUBE_BIN:?}" "${RUNTIME_BIN:?}"

install -d "$root/usr/local/bin" "$root/usr/local/sbin" "$root/opt/cni/bin" "$root/etc/cni/net.d" \
  "$root/etc/kubernetes/manifests" "$root/var/lib/kubelet"
for b in kubeadm kubelet kubectl; do install -m 0755 "$KUBE_BIN/$b" "$root/usr/local/bin/$b"; done
for b in containerd containerd-shim-runc-v2 ctr crictl; do install -m 0755 "$RUNTIME_BIN/$b" "$root/usr/local/bin/$b"; done
install -m 0755 "$RUNTIME_BIN/runc" "$root/usr/local/sbin/runc"
for b in bridge host-local loopback portmap; do install -m 0755 "$RUNTIME_BIN/$b" "$root/opt/cni/bin/$b"; done
cp -a "$here/rootfs/." "$root/"

echo node > "$root/etc/hostname"
# systemd makes a machine ID at first boot when the file is empty: every node its own
# (the kubelet reports it; two nodes with one ID confuse the control plane).
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
# resolv.conf from systemd-resolved: the nodes' DNS servers come by DHCP.
ln -sf ../run/systemd/resolve/resolv.conf "$root/etc/resolv.conf"

chroot "$root" systemctl enable containerd.service kubelet.service systemd-networkd.service \
  systemd-resolved.service serial-getty@ttyS0.service ssh.service >/dev/null
# cloud-init's network fallback (DHCP on the first NIC) is rendered for systemd-networkd.
printf 'system_info:\n  network:\n    renderers: [ networkd ]\n' > "$root/etc/cloud/cloud.cfg.d/91-hypernest-network.cfg"

# Nothing of the build stays: logs, apt's lists and caches.
rm -rf "$root"/var/log/*.log "$root"/var/log/apt "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
  "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
