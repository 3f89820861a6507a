package libvirtd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSeedQEMUCapabilities(t *testing.T) {
	private := t.TempDir()
	name := strings.Repeat("0f", 32) + ".xml"
	dir := QEMUCapabilitiesDir(private)
	if !strings.HasPrefix(dir, private) || !strings.HasSuffix(dir, "libvirt/qemu/cache/capabilities") {
		t.Fatalf("QEMUCapabilitiesDir = %s, want libvirt's cache folder under %s", dir, private)
	}

	n, err := SeedQEMUCapabilities(private, map[string][]byte{name: []byte("<qemuCaps/>")})
	if err != nil || n != 1 {
		t.Fatalf("SeedQEMUCapabilities = %d, %v; want 1 file written", n, err)
	}
	// What libvirt wrote (or an earlier seed) stays: libvirt's own entry wins.
	n, err = SeedQEMUCapabilities(private, map[string][]byte{name: []byte("<other/>")})
	if err != nil || n != 0 {
		t.Fatalf("seeding again = %d, %v; want nothing written", n, err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, name)); string(data) != "<qemuCaps/>" {
		t.Errorf("the cache file holds %q, want the first seed's", data)
	}
	if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v (%v), want 0600", info.Mode(), err)
	}

	for _, bad := range []struct {
		name    string
		content []byte
		says    string
	}{
		{"../../../escape.xml", []byte("x"), "not a libvirt cache file name"},
		{strings.Repeat("0F", 32) + ".xml", []byte("x"), "not a libvirt cache file name"},
		{strings.Repeat("1f", 32) + ".xml", make([]byte, maxCapabilitiesFile+1), "more than"},
	} {
		if _, err := SeedQEMUCapabilities(private, map[string][]byte{bad.name: bad.content}); err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("seeding %q: %v, want an error saying %q", bad.name, err, bad.says)
		}
	}
}
