package qemucaps

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	name := strings.Repeat("ab", 32) + ".xml"
	for file, content := range map[string]string{
		name:                             "<qemuCaps/>",
		"notes.txt":                      "not a cache file",
		strings.Repeat("x", 64) + ".xml": "not hex",
	} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, strings.Repeat("cd", 32)+".xml"), 0o700); err != nil {
		t.Fatal(err)
	}

	c, err := Load(dir, "localhost/hypernest/virt-launcher:devel")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Files) != 1 || string(c.Files[name]) != "<qemuCaps/>" {
		t.Fatalf("loaded %v, want only %s", c.Files, name)
	}
	if got := c.For("localhost/hypernest/virt-launcher:devel"); len(got) != 1 {
		t.Errorf("For(the probed image) = %v, want the file", got)
	}
	if got := c.For("localhost/hypernest/virt-launcher:v2"); got != nil {
		t.Errorf("For(another image) = %v, want nothing", got)
	}

	missing, err := Load(filepath.Join(dir, "absent"), "img")
	if err != nil || missing.For("img") != nil {
		t.Errorf("Load(missing folder) = %v, %v; want an empty cache and no error", missing, err)
	}

	big := t.TempDir()
	if err := os.WriteFile(filepath.Join(big, name), make([]byte, launcherv1.MaxQEMUCapabilities+1), 0o600); err != nil {
		t.Fatal(err)
	}
	// The small good file beside it is not sent either: all or nothing.
	if err := os.WriteFile(filepath.Join(big, strings.Repeat("cd", 32)+".xml"), []byte("<qemuCaps/>"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(big, "img"); err == nil || !strings.Contains(err.Error(), "more than") || c.For("img") != nil {
		t.Errorf("Load(oversized file) = %v, %v; want an error and an empty cache", c.For("img"), err)
	}
}
