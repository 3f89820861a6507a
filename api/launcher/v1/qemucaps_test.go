package launcherv1

import (
	"strings"
	"testing"
)

func TestCheckQEMUCapabilities(t *testing.T) {
	name := strings.Repeat("0f", 32) + ".xml"
	if err := CheckQEMUCapabilities(map[string][]byte{name: []byte("<qemuCaps/>")}); err != nil {
		t.Errorf("a valid cache: %v", err)
	}
	for _, bad := range []struct {
		files map[string][]byte
		says  string
	}{
		{map[string][]byte{"../../../escape.xml": nil}, "not a libvirt cache file name"},
		{map[string][]byte{strings.Repeat("0F", 32) + ".xml": nil}, "not a libvirt cache file name"},
		{map[string][]byte{strings.Repeat("x", 64) + ".xml": nil}, "not a libvirt cache file name"},
		{map[string][]byte{name: make([]byte, MaxQEMUCapabilities/2), strings.Repeat("1f", 32) + ".xml": make([]byte, MaxQEMUCapabilities/2+1)}, "in all, more than"},
	} {
		if err := CheckQEMUCapabilities(bad.files); err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("CheckQEMUCapabilities(%v keys): %v, want an error saying %q", len(bad.files), err, bad.says)
		}
	}
}
