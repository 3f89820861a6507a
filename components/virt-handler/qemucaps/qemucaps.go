// Package qemucaps hands launchers libvirt's QEMU capabilities cache. Every launcher runs
// its own libvirtd, which probes QEMU before its first domain (on a 2-core TCG node about
// 0.2 CPU-seconds and 2 s of the VMI's start). virt-handler's qemu-capabilities init
// container runs the launcher image once per node (virt-launcher
// --probe-qemu-capabilities), in a pod no guest ever ran in, and leaves the cache files
// in a folder only virt-handler reads; virt-handler sends them with each domain to
// launchers of that same image. The cache stays libvirt's to judge: it holds the ctimes of
// libvirtd and QEMU, libvirt's version and whether KVM was usable, and libvirt probes
// anew where one differs (another image, a re-unpacked image, a KVM node).
//
// The cache is never taken from a VM's launcher: a guest that broke out into QEMU runs
// as the launcher's user and could rewrite it, and libvirt builds every QEMU command line
// (the seccomp sandbox among it) from those capabilities.
package qemucaps

import (
	"fmt"
	"os"
	"path/filepath"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// Cache is the probe's output for one launcher image.
type Cache struct {
	// Image is the launcher image the probe ran.
	Image string
	// Files are the cache files by name.
	Files map[string][]byte
}

// Load reads the probe's cache files from dir. A missing or empty folder (no probe, or a
// probe that failed) gives an empty cache: launchers then probe QEMU themselves. So does
// an error, which is returned too: a cache is sent whole or not at all.
func Load(dir, image string) (*Cache, error) {
	empty := &Cache{Image: image}
	if dir == "" || image == "" {
		return empty, nil
	}
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return empty, nil
	}
	if err != nil {
		return empty, fmt.Errorf("reading the QEMU capabilities folder %s: %w", dir, err)
	}
	files := map[string][]byte{}
	var total int64
	for _, e := range entries {
		if !e.Type().IsRegular() || !launcherv1.IsQEMUCapabilitiesFile(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return empty, err
		}
		// Checked before reading, so an oversized file is never read whole.
		if total += info.Size(); total > launcherv1.MaxQEMUCapabilities {
			return empty, fmt.Errorf("QEMU capabilities in %s: more than %d bytes in all", dir, launcherv1.MaxQEMUCapabilities)
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return empty, err
		}
		files[e.Name()] = data
	}
	if err := launcherv1.CheckQEMUCapabilities(files); err != nil {
		return empty, err
	}
	return &Cache{Image: image, Files: files}, nil
}

// For returns the cache files for a launcher running image: none when the probe ran
// another image (during an upgrade) or did not run.
func (c *Cache) For(image string) map[string][]byte {
	if c == nil || image != c.Image {
		return nil
	}
	return c.Files
}
