// Package disks prepares the files behind a VMI's disks inside the launcher pod:
// copy-on-write overlays on containerDisk images (which stay read-only), sparse
// emptyDisks and cloud-init ISOs. It uses qemu-img from the launcher image.
package disks

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/components/virt-launcher/cloudinit"
	"github.com/hypernest/hypernest/components/virt-launcher/domain"
)

// Preparer knows where the pod keeps things.
type Preparer struct {
	// PrivateDir is the launcher's own writable folder (launcherv1.PrivateDir in the pod).
	PrivateDir string
	// ContainerDisksDir holds one image volume per containerDisk (launcherv1.ContainerDisksDir
	// in the pod).
	ContainerDisksDir string
	// SecretsDir holds the cloud-init Secrets mounted into the pod, one folder per volume.
	SecretsDir string
	// KernelBootDir is where the kernel boot image is mounted (launcherv1.KernelBootDir).
	KernelBootDir string
	// PVCDisksDir holds one mounted folder per filesystem-mode claim
	// (launcherv1.PVCDisksDir in the pod).
	PVCDisksDir string
	// QemuImg is the qemu-img binary.
	QemuImg string
}

// Prepare creates (or reuses, when the launcher restarts the domain) every disk's file
// and returns them by volume name.
func (p *Preparer) Prepare(ctx context.Context, vmi *v1.VirtualMachineInstance) (map[string]domain.DiskSource, error) {
	if err := p.checkKernelBoot(vmi); err != nil {
		return nil, err
	}
	out := map[string]domain.DiskSource{}
	for i := range vmi.Spec.Volumes {
		vol := &vmi.Spec.Volumes[i]
		var (
			src domain.DiskSource
			err error
		)
		switch {
		case vol.ContainerDisk != nil:
			src, err = p.containerDisk(ctx, vol)
		case vol.EmptyDisk != nil:
			src, err = p.emptyDisk(ctx, vol)
		case vol.PersistentVolumeClaim != nil:
			src, err = p.persistentVolumeClaim(vmi, vol)
		case vol.CloudInitNoCloud != nil || vol.CloudInitConfigDrive != nil:
			src, err = p.cloudInit(vmi, vol)
		default:
			err = fmt.Errorf("volume %q: its source is not supported by Hypernest yet", vol.Name)
		}
		if err != nil {
			return nil, err
		}
		out[vol.Name] = src
	}
	return out, nil
}

// containerDisk puts a qcow2 overlay in front of the image's disk file, so the guest's
// writes land in the pod's private folder and the image stays read-only (and shared).
func (p *Preparer) containerDisk(ctx context.Context, vol *v1.Volume) (domain.DiskSource, error) {
	root := filepath.Join(p.ContainerDisksDir, vol.Name)
	base, err := baseImage(root, vol.ContainerDisk.Path)
	if err != nil {
		return domain.DiskSource{}, fmt.Errorf("volume %q (containerDisk %s): %w", vol.Name, vol.ContainerDisk.Image, err)
	}
	format, err := p.format(ctx, base)
	if err != nil {
		return domain.DiskSource{}, fmt.Errorf("volume %q: %w", vol.Name, err)
	}
	overlay := filepath.Join(p.PrivateDir, "disks", vol.Name+".qcow2")
	if _, err := os.Stat(overlay); os.IsNotExist(err) {
		if err := os.MkdirAll(filepath.Dir(overlay), 0o750); err != nil {
			return domain.DiskSource{}, err
		}
		if err := p.qemuImg(ctx, "create", "-q", "-f", "qcow2", "-F", format, "-b", base, overlay); err != nil {
			return domain.DiskSource{}, fmt.Errorf("volume %q: creating the overlay on %s: %w", vol.Name, base, err)
		}
	}
	return domain.DiskSource{Path: overlay, Format: "qcow2"}, nil
}

// checkKernelBoot finds the kernel and initrd of a kernel boot in their image, so a wrong
// path is reported as such rather than as QEMU failing to start.
func (p *Preparer) checkKernelBoot(vmi *v1.VirtualMachineInstance) error {
	fw := vmi.Spec.Domain.Firmware
	if fw == nil || fw.KernelBoot == nil || fw.KernelBoot.Container == nil {
		return nil
	}
	c := fw.KernelBoot.Container
	for _, f := range []struct{ name, path string }{{"kernelPath", c.KernelPath}, {"initrdPath", c.InitrdPath}} {
		if f.path == "" {
			continue
		}
		st, err := os.Stat(filepath.Join(p.KernelBootDir, filepath.Clean("/"+f.path)))
		if err == nil && !st.Mode().IsRegular() {
			err = fmt.Errorf("not a regular file")
		}
		if err != nil {
			return fmt.Errorf("spec.domain.firmware.kernelBoot.container.%s: %s is not a file in the image %s (%v); check the path", f.name, f.path, c.Image, err)
		}
	}
	return nil
}

// baseImage finds the disk file of a containerDisk image mounted at root: the given path,
// or else the single file under /disk (KubeVirt's containerDisk format).
func baseImage(root, path string) (string, error) {
	if path != "" {
		full := filepath.Join(root, filepath.Clean("/"+path))
		if _, err := os.Stat(full); err != nil {
			return "", fmt.Errorf("no %s in the image: %w", path, err)
		}
		return full, nil
	}
	entries, err := os.ReadDir(filepath.Join(root, "disk"))
	if err != nil {
		return "", fmt.Errorf("the image has no /disk folder (is it a containerDisk image?): %w", err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() {
			files = append(files, e.Name())
		}
	}
	if len(files) != 1 {
		return "", fmt.Errorf("the image's /disk folder must hold exactly one disk file, it holds %d; name it with containerDisk.path", len(files))
	}
	return filepath.Join(root, "disk", files[0]), nil
}

func (p *Preparer) emptyDisk(ctx context.Context, vol *v1.Volume) (domain.DiskSource, error) {
	path := filepath.Join(p.PrivateDir, "empty-disks", vol.Name+".qcow2")
	if _, err := os.Stat(path); os.IsNotExist(err) {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return domain.DiskSource{}, err
		}
		size := strconv.FormatInt(vol.EmptyDisk.Capacity.Value(), 10)
		if err := p.qemuImg(ctx, "create", "-q", "-f", "qcow2", path, size); err != nil {
			return domain.DiskSource{}, fmt.Errorf("volume %q: creating the emptyDisk: %w", vol.Name, err)
		}
	}
	return domain.DiskSource{Path: path, Format: "qcow2"}, nil
}

func (p *Preparer) cloudInit(vmi *v1.VirtualMachineInstance, vol *v1.Volume) (domain.DiskSource, error) {
	src, err := cloudinit.Resolve(vmi, vol, p.SecretsDir)
	if err != nil {
		return domain.DiskSource{}, err
	}
	path := filepath.Join(p.PrivateDir, "cloud-init", vol.Name+".iso")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return domain.DiskSource{}, err
	}
	if err := src.WriteISO(path); err != nil {
		return domain.DiskSource{}, fmt.Errorf("volume %q: writing the cloud-init ISO: %w", vol.Name, err)
	}
	return domain.DiskSource{Path: path, Format: "raw", ReadOnly: true}, nil
}

func (p *Preparer) format(ctx context.Context, path string) (string, error) {
	out, err := exec.CommandContext(ctx, p.QemuImg, "info", "--output=json", path).Output()
	if err != nil {
		return "", fmt.Errorf("reading %s with qemu-img: %w", path, exitDetail(err))
	}
	var info struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return "", err
	}
	if info.Format != "qcow2" && info.Format != "raw" {
		return "", fmt.Errorf("%s is a %s image; containerDisks must be qcow2 or raw", path, info.Format)
	}
	return info.Format, nil
}

func (p *Preparer) qemuImg(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, p.QemuImg, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img %s: %w: %s", args[0], err, out)
	}
	return nil
}

func exitDetail(err error) error {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return err
}

// SupportsDirectIO tells whether files in dir can be opened with O_DIRECT, which QEMU's
// cache=none needs (tmpfs, for one, cannot).
func SupportsDirectIO(dir string) bool {
	f, err := os.CreateTemp(dir, ".directio-")
	if err != nil {
		return false
	}
	name := f.Name()
	f.Close()
	defer os.Remove(name)
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}
