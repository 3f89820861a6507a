package launcherv1

import (
	"fmt"
	"regexp"
)

// libvirt's QEMU capabilities cache, as LaunchOptions.qemu_capabilities carries it from
// virt-handler's qemu-capabilities probe to the launchers: one file per emulator.

// qemuCapabilitiesFileName is libvirt's name for a cache file: the sha256 hex of the
// emulator's path, .xml.
var qemuCapabilitiesFileName = regexp.MustCompile(`^[0-9a-f]{64}\.xml$`)

// MaxQEMUCapabilities bounds the cache files together: QEMU 7.2's x86_64 entry is about
// 85 KB, and the whole set rides in one Sync request, which gRPC limits to 4 MiB.
const MaxQEMUCapabilities = 1 << 20

// IsQEMUCapabilitiesFile says whether name is a libvirt cache file name.
func IsQEMUCapabilitiesFile(name string) bool {
	return qemuCapabilitiesFileName.MatchString(name)
}

// CheckQEMUCapabilities refuses a cache with a name that is not libvirt's (<sha256>.xml)
// or more than MaxQEMUCapabilities bytes in all.
func CheckQEMUCapabilities(files map[string][]byte) error {
	total := 0
	for name, content := range files {
		if !IsQEMUCapabilitiesFile(name) {
			return fmt.Errorf("QEMU capabilities file %q: not a libvirt cache file name (<sha256>.xml)", name)
		}
		total += len(content)
	}
	if total > MaxQEMUCapabilities {
		return fmt.Errorf("QEMU capabilities: %d bytes in all, more than %d", total, MaxQEMUCapabilities)
	}
	return nil
}
