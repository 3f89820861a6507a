package main

import (
	"archive/tar"
	"slices"
	"strings"
	"testing"
)

func TestExclude(t *testing.T) {
	entries := func() map[string]*debEntry {
		m := map[string]*debEntry{}
		for _, name := range []string{"usr/bin/qemu-system-i386", "usr/bin/qemu-system-x86_64", "usr/lib/libvirt/storage-backend", "usr/lib/libvirt/storage-backend/fs.so", "usr/lib/libvirt/storage-file/fs.so"} {
			m[name] = &debEntry{header: tar.Header{Name: name}}
		}
		return m
	}
	names := func(m map[string]*debEntry) []string {
		var out []string
		for n := range m {
			out = append(out, n)
		}
		slices.Sort(out)
		return out
	}

	got := entries()
	// /bin is merged into /usr/bin, as the packages' own paths are.
	if err := exclude(got, []string{"/bin/qemu-system-i386", "/usr/lib/libvirt/storage-backend"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"usr/bin/qemu-system-x86_64", "usr/lib/libvirt/storage-file/fs.so"}
	if !slices.Equal(names(got), want) {
		t.Errorf("left %v, want %v", names(got), want)
	}

	for _, bad := range []struct{ path, says string }{
		{"/usr/bin/qemu-system-arm", "no package provides it"},
		{"/usr/lib/libvirt/storage", "no package provides it"}, // a prefix of a name is not its folder
		{"usr/bin/qemu-system-i386", "absolute path"},
	} {
		err := exclude(entries(), []string{bad.path})
		if err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("exclude(%s): %v, want an error saying %q", bad.path, err, bad.says)
		}
	}
}
