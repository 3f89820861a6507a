package disks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
	k8sv1 "k8s.io/api/core/v1"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-launcher/domain"
)

// filesystemOverhead is the share of a filesystem-mode claim kept free of disk.img: the
// filesystem's own metadata needs room, so an image as large as the claim would not fit.
// 5.5% is CDI's default (and so KubeVirt's) global filesystem overhead.
const filesystemOverhead = 0.055

// lessSpaceTolerance: a claim's filesystem may offer less than its nominal size (rounding
// by the storage, reserved blocks); up to 10% less is accepted and the image shrunk to
// fit, as KubeVirt's lessPVCSpaceToleration default does. Beyond it the start fails.
const lessSpaceTolerance = 0.10

// imageAlignment: disk.img sizes are whole MiB, as KubeVirt aligns them, so the guest
// sees a size every partitioning tool is happy with.
const imageAlignment = 1 << 20

// persistentVolumeClaim serves a claim's disk. Block mode: the device node the kubelet put
// into the pod. Filesystem mode: disk.img in the claim's root (KubeVirt's layout), made
// sparse at the claim's size the first time, so data written by the guest stays in the
// claim across restarts.
func (p *Preparer) persistentVolumeClaim(vmi *v1.VirtualMachineInstance, vol *v1.Volume) (domain.DiskSource, error) {
	src := vol.PersistentVolumeClaim
	info := claimInfo(vmi, vol.Name)
	if info != nil && info.VolumeMode != nil && *info.VolumeMode == k8sv1.PersistentVolumeBlock {
		dev := launcherv1.BlockDevicePath(vol.Name)
		if err := checkBlockDevice(dev); err != nil {
			return domain.DiskSource{}, fmt.Errorf("volume %q (claim %s, block mode): %w", vol.Name, src.ClaimName, err)
		}
		return domain.DiskSource{Path: dev, Format: "raw", Block: true, ReadOnly: src.ReadOnly, DirectIO: boolPtr(openDirect(dev))}, nil
	}

	dir := filepath.Join(p.PVCDisksDir, vol.Name)
	image := filepath.Join(dir, launcherv1.PVCDiskImage)
	if _, err := os.Stat(image); err == nil {
		return domain.DiskSource{Path: image, Format: "raw", ReadOnly: src.ReadOnly, DirectIO: boolPtr(openDirect(image))}, nil
	} else if !os.IsNotExist(err) {
		return domain.DiskSource{}, fmt.Errorf("volume %q (claim %s): %w", vol.Name, src.ClaimName, err)
	}
	if src.ReadOnly {
		return domain.DiskSource{}, fmt.Errorf("volume %q: the read-only claim %s holds no %s; fill it first, or mount it writable so one is created",
			vol.Name, src.ClaimName, launcherv1.PVCDiskImage)
	}
	size, err := imageSize(info, dir)
	if err != nil {
		return domain.DiskSource{}, fmt.Errorf("volume %q (claim %s): %w", vol.Name, src.ClaimName, err)
	}
	if err := createSparse(image, size); err != nil {
		return domain.DiskSource{}, fmt.Errorf("volume %q (claim %s): creating %s: %w", vol.Name, src.ClaimName, image, err)
	}
	return domain.DiskSource{Path: image, Format: "raw", DirectIO: boolPtr(openDirect(image))}, nil
}

func claimInfo(vmi *v1.VirtualMachineInstance, volume string) *v1.PersistentVolumeClaimInfo {
	for i := range vmi.Status.VolumeStatus {
		if vmi.Status.VolumeStatus[i].Name == volume {
			return vmi.Status.VolumeStatus[i].PersistentVolumeClaimInfo
		}
	}
	return nil
}

// imageSize is the size of a new disk.img: the claim's capacity (its request while it
// was unbound) less the filesystem overhead, shrunk to the space the filesystem really
// has when that is within the tolerance, whole MiB.
func imageSize(info *v1.PersistentVolumeClaimInfo, dir string) (int64, error) {
	if info == nil {
		return 0, errors.New("virt-controller recorded no claim size in status.volumeStatus; is virt-controller up to date?")
	}
	capacity, ok := info.Capacity[k8sv1.ResourceStorage]
	if !ok {
		capacity, ok = info.Requests[k8sv1.ResourceStorage]
	}
	if !ok || capacity.Value() <= 0 {
		return 0, errors.New("the claim has neither a capacity nor a storage request")
	}
	want := int64(float64(capacity.Value()) * (1 - filesystemOverhead))
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return 0, fmt.Errorf("reading the claim's filesystem: %w", err)
	}
	available := int64(fs.Bavail) * fs.Bsize
	if available < want {
		if float64(available) < float64(want)*(1-lessSpaceTolerance) {
			return 0, fmt.Errorf("the claim's filesystem has %d bytes free, less than the %d bytes the disk needs (more than %.0f%% short); grow the claim or free space on it",
				available, want, lessSpaceTolerance*100)
		}
		want = available
	}
	want -= want % imageAlignment
	if want <= 0 {
		return 0, fmt.Errorf("the claim is too small for a disk (%s)", capacity.String())
	}
	return want, nil
}

// createSparse makes a sparse raw image: no block is written until the guest writes it.
// It is created under a temporary name first, so a launcher killed half-way leaves no
// image that would later be taken for the guest's data.
func createSparse(path string, size int64) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o660)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func checkBlockDevice(dev string) error {
	st, err := os.Stat(dev)
	if err != nil {
		return fmt.Errorf("the device the kubelet should have put at %s is missing: %w", dev, err)
	}
	if st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
		return fmt.Errorf("%s is not a block device", dev)
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		if os.IsPermission(err) {
			return fmt.Errorf("%s cannot be opened by the launcher's user (%d): the container runtime must give devices the pod's user "+
				"(containerd: device_ownership_from_security_context = true; CRI-O: device_ownership_from_security_context = true)", dev, os.Getuid())
		}
		return err
	}
	return f.Close()
}

// openDirect tells whether a claim's disk (its disk.img or its device) can be opened with
// O_DIRECT, which QEMU's cache=none needs; the answer depends on the claim's storage.
func openDirect(path string) bool {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

func boolPtr(b bool) *bool { return &b }
