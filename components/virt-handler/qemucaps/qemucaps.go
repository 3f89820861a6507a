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
	"regexp"
)

// fileName is libvirt's name for a cache file: the sha256 hex of the emulator's path.
var fileName = regexp.MustCompile(`^[0-9a-f]{64}\.xml$`)

// maxFile bounds one cache file: QEMU 7.2's x86_64 entry is about 85 KB; a launcher
// refuses more than 4 MiB.
const maxFile = 4 << 20

// Cache is the probe's output for one launcher image.
type Cache struct {
	// Image is the launcher image the probe ran.
	Image string
	// Files are the cache files by name.
	Files map[string][]byte
}

// Load reads the probe's cache files from dir. A missing or empty folder (no probe, or a
// probe that failed) gives an empty cache: launchers then probe QEMU themselves.
func Load(dir, image string) (*Cache, error) {
	c := &Cache{Image: image, Files: map[string][]byte{}}
	if dir == "" || image == "" {
		return c, nil
	}
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("reading the QEMU capabilities folder %s: %w", dir, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !fileName.MatchString(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return c, err
		}
		if info.Size() > maxFile {
			return c, fmt.Errorf("QEMU capabilities file %s: %d bytes, more than %d", filepath.Join(dir, e.Name()), info.Size(), maxFile)
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return c, err
		}
		c.Files[e.Name()] = data
	}
	return c, nil
}

// For returns the cache files for a launcher running image: none when the probe ran
// another image (during an upgrade) or did not run.
func (c *Cache) For(image string) map[string][]byte {
	if c == nil || image != c.Image || len(c.Files) == 0 {
		return nil
	}
	return c.Files
}
