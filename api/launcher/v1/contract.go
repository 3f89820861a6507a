// Package launcherv1 is the contract between virt-controller (which renders the
// virt-launcher pod), virt-launcher (which runs in it) and virt-handler (which drives it):
// the pod's labels, volumes and paths, the command API (launcher.proto), and the memory
// the pod reserves on top of the guest.
package launcherv1

import "path/filepath"

// The launcher pod runs one container, as one unprivileged user.
const (
	// ComputeContainerName is the launcher container's name.
	ComputeContainerName = "compute"
	// LauncherUID (and GID) is the user virt-launcher, libvirt and QEMU run as. 107 is
	// KubeVirt's "qemu" user, so files prepared for KubeVirt keep working.
	LauncherUID = 107
)

// Volumes of the launcher pod and where the launcher container mounts them.
const (
	// SocketsVolume is an emptyDir shared with the node: virt-handler reaches the command
	// socket, the serial console and VNC through the kubelet's copy of it.
	SocketsVolume = "sockets"
	SocketsDir    = "/var/run/kubevirt/sockets"
	// PrivateVolume is an emptyDir only the launcher uses: libvirt's state, disk overlays,
	// cloud-init ISOs and emptyDisks.
	PrivateVolume = "private"
	PrivateDir    = "/var/run/kubevirt-private"
	// ContainerDisksDir holds one image volume per containerDisk, named after the VMI
	// volume, each mounted read-only at ContainerDisksDir/<volume name>.
	ContainerDisksDir = "/var/run/kubevirt/container-disks"
	// SecretsDir holds, per cloud-init volume that reads a Secret, a folder with the
	// Secret's keys (SecretsDir/<volume name>/userdata, ...).
	SecretsDir = "/var/run/kubevirt-private/secret"
	// KernelBootDir is where the image of spec.domain.firmware.kernelBoot.container is
	// mounted (an image volume, read-only); kernelPath and initrdPath are inside it.
	KernelBootDir = "/var/run/kubevirt/kernel-boot"
	// PVCDisksDir holds one folder per filesystem-mode PersistentVolumeClaim volume,
	// PVCDisksDir/<volume name>, with the disk in it as disk.img (KubeVirt's layout, so
	// a claim filled for KubeVirt works unchanged). Block-mode claims are device nodes
	// at BlockDevicePath.
	PVCDisksDir = "/var/run/kubevirt-private/vmi-disks"
	// PVCDiskImage is the disk's file name in a filesystem-mode claim.
	PVCDiskImage = "disk.img"
)

// Files in SocketsDir.
const (
	// CommandSocket serves the Launcher gRPC API; mode 0600, owned by LauncherUID.
	CommandSocket = "launcher.sock"
	// SerialSocket is the guest's first serial port (virtctl console).
	SerialSocket = "serial0"
	// VNCSocket is the guest's graphical console (virtctl vnc).
	VNCSocket = "vnc"
)

// The sockets of a live migration, in SocketsDir of both launcher pods. libvirt gives the
// same unix:// path to the QEMU sending the guest (in the source pod) and to the one
// receiving it (in the target pod), so the names are the same in both pods, and
// virt-handler joins each pair between the nodes over mutual TLS: on the source, it
// listens on them; on the target, it dials the ones the receiving QEMU listens on.
// A launcher pod holds one VMI and takes part in one migration at a time, so the names
// need no UID (KubeVirt's <vmi uid>-<port>-source.sock): short, because a unix socket
// path has at most 107 bytes and the kubelet's pod folder takes 99 of them.
const (
	// MigrationLibvirtSocket: on the source, where the source's libvirt reaches the
	// target's (KubeVirt's port "0"); on the target nothing listens on it, virt-handler
	// dials the launcher's libvirt socket instead (LibvirtSocket).
	MigrationLibvirtSocket = "mig-libvirt"
	// MigrationMemorySocket carries QEMU's migration stream (KubeVirt's port 49152).
	MigrationMemorySocket = "mig-memory"
	// MigrationDisksSocket carries the copy of the pod's local disks (KubeVirt's port
	// 49153): libvirt's NBD connection for a block migration.
	MigrationDisksSocket = "mig-disks"
)

// KubeVirt's names for the migration streams, the keys of
// status.migrationState.targetDirectMigrationNodePorts: "0" for libvirt's connection,
// the port numbers of the memory and the disk streams.
const (
	MigrationLibvirtPort = "0"
	MigrationMemoryPort  = "49152"
	MigrationDisksPort   = "49153"
)

// MigrationSockets maps each stream's key (MigrationLibvirtPort, ...) to its socket's
// name in SocketsDir.
var MigrationSockets = map[string]string{
	MigrationLibvirtPort: MigrationLibvirtSocket,
	MigrationMemoryPort:  MigrationMemorySocket,
	MigrationDisksPort:   MigrationDisksSocket,
}

// LibvirtSocket is the launcher's libvirt daemon socket, relative to PrivateDir
// ($XDG_RUNTIME_DIR/libvirt/libvirt-sock of libvirtd's session mode, see
// components/virt-launcher/libvirtd): the target's virt-handler joins the source's
// libvirt to it.
const LibvirtSocket = "v/r/libvirt/libvirt-sock"

// Labels and annotations of the launcher pod (values are KubeVirt's).
const (
	// AppLabelValue is the value of the kubevirt.io label on launcher pods.
	AppLabelValue = "virt-launcher"
)

// Extended resources virt-handler's device plugins offer; the launcher pod requests the
// ones it needs, so an unprivileged pod gets exactly those device nodes.
const (
	KVMResource      = "devices.kubevirt.io/kvm"
	TunResource      = "devices.kubevirt.io/tun"
	VhostNetResource = "devices.kubevirt.io/vhost-net"
)

// KubeletPodsDir is where the kubelet keeps pod volumes on the node.
const KubeletPodsDir = "/var/lib/kubelet/pods"

// SocketsDirOnNode is where a launcher pod's sockets volume is on its node (emptyDir
// volumes live in the kubelet's pod folder), as virt-handler sees it.
func SocketsDirOnNode(kubeletPodsDir, podUID string) string {
	return filepath.Join(kubeletPodsDir, podUID, "volumes", "kubernetes.io~empty-dir", SocketsVolume)
}

// ContainerDiskPath is where a containerDisk volume's image is mounted in the launcher.
func ContainerDiskPath(volumeName string) string {
	return filepath.Join(ContainerDisksDir, volumeName)
}

// PVCDiskDir is where a filesystem-mode PersistentVolumeClaim volume is mounted in the
// launcher.
func PVCDiskDir(volumeName string) string {
	return filepath.Join(PVCDisksDir, volumeName)
}

// BlockDevicePath is where a block-mode PersistentVolumeClaim volume's device node is in
// the launcher (KubeVirt's /dev/<volume name>).
func BlockDevicePath(volumeName string) string {
	return filepath.Join("/dev", volumeName)
}

// DomainStatus.reason values virt-handler acts on.
const (
	// ReasonPausedIOError: the domain paused itself on a disk I/O error (the disks'
	// error policy is "stop"); virt-handler resumes it, with a growing delay.
	ReasonPausedIOError = "IOError"
	// ReasonPausedUser: paused through the Pause call (virtctl pause).
	ReasonPausedUser = "User"
	// ReasonPausedMigration: paused by a live migration: the source at its switch-over,
	// the target while the guest comes in. The guest is not paused by anyone.
	ReasonPausedMigration = "Migration"
	// ReasonShutoffMigrated: the domain left this pod in a live migration that
	// succeeded; the guest runs in the target pod.
	ReasonShutoffMigrated = "Migrated"
)
