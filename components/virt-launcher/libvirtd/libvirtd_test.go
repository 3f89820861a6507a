package libvirtd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
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

	// A set launcherv1.CheckQEMUCapabilities refuses (its own test has the cases) is
	// refused whole: not even its good file is written.
	good := strings.Repeat("1f", 32) + ".xml"
	n, err = SeedQEMUCapabilities(private, map[string][]byte{good: []byte("<qemuCaps/>"), "../../../escape.xml": []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "not a libvirt cache file name") || n != 0 {
		t.Errorf("seeding a bad name: %d, %v; want nothing written and an error naming it", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, good)); !os.IsNotExist(err) {
		t.Errorf("a refused set left %s behind (%v)", good, err)
	}
}

func TestWithFeatureWordsCPURead(t *testing.T) {
	name := strings.Repeat("0f", 32) + ".xml"
	probed := []byte("<qemuCaps>\n  <flag name='query-cpu-model-expansion'/>\n  <flag name='cpu-unavailable-features'/>\n  <flag name='migration-file-drop-cache'/>\n</qemuCaps>\n")
	original := string(probed)
	got := WithFeatureWordsCPURead(map[string][]byte{name: probed})
	if strings.Contains(string(got[name]), "cpu-unavailable-features") {
		t.Errorf("the flag is still there:\n%s", got[name])
	}
	for _, kept := range []string{"query-cpu-model-expansion", "migration-file-drop-cache"} {
		if !strings.Contains(string(got[name]), kept) {
			t.Errorf("flag %s was lost:\n%s", kept, got[name])
		}
	}
	if string(probed) != original {
		t.Errorf("the given file was changed:\n%s", probed)
	}
	if len(WithFeatureWordsCPURead(nil)) != 0 {
		t.Error("no files in, some out")
	}
}

// The target node's virt-handler dials the launcher's libvirt socket by the contract's
// path (launcherv1.LibvirtSocket): it must be where the daemon puts it.
func TestLibvirtSocketIsWhereTheContractSays(t *testing.T) {
	got := filepath.Join(Environment("/p")["XDG_RUNTIME_DIR"], "libvirt", "libvirt-sock")
	if want := filepath.Join("/p", launcherv1.LibvirtSocket); got != want {
		t.Fatalf("the daemon's socket is %s, the contract says %s", got, want)
	}
}
