package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// debEntry is one file, folder or link unpacked from a Debian package.
type debEntry struct {
	header tar.Header
	data   []byte
}

// mergedUsr maps the top-level folders Debian 12 merges into /usr: the packages still
// ship some files under /bin or /lib, a merged-/usr system reaches them through links.
var mergedUsr = []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"}

// debLayerTar unpacks the data of the given .deb files (later ones win on conflicts, as
// later-installed packages would) into one reproducible layer, laid out as a merged-/usr
// Debian 12 root. Maintainer scripts are not run: images take files, not installations.
// excludes are absolute paths left out, each with everything below it; one that matches
// nothing is an error, so a list that no longer fits the packages is noticed.
func debLayerTar(debs, excludes []string) ([]byte, error) {
	entries := map[string]*debEntry{}
	for _, deb := range debs {
		if err := unpackDeb(deb, entries); err != nil {
			return nil, fmt.Errorf("%s: %w", deb, err)
		}
	}
	if err := exclude(entries, excludes); err != nil {
		return nil, err
	}
	for _, dir := range mergedUsr {
		if _, ok := entries["usr/"+dir]; ok {
			entries[dir] = &debEntry{header: tar.Header{Typeflag: tar.TypeSymlink, Name: dir, Linkname: "usr/" + dir, Mode: 0o777}}
		}
	}
	// A hard link becomes a copy of its target: layers are written in path order, and a
	// link may sort before the file it points to.
	for _, e := range entries {
		if e.header.Typeflag == tar.TypeLink {
			target, ok := entries[mergePath(strings.TrimPrefix(path.Clean("/"+e.header.Linkname), "/"))]
			if !ok || target.header.Typeflag != tar.TypeReg {
				return nil, fmt.Errorf("hard link %s points to %s, which no package provides", e.header.Name, e.header.Linkname)
			}
			e.header.Typeflag, e.header.Linkname, e.data = tar.TypeReg, "", target.data
		}
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range names {
		e := entries[name]
		hdr := tar.Header{
			Typeflag: e.header.Typeflag, Name: name, Linkname: e.header.Linkname,
			Mode: e.header.Mode & 0o7777, ModTime: epoch, Format: tar.FormatPAX,
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeReg:
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	return buf.Bytes(), tw.Close()
}

// exclude deletes each excluded path, and everything below it, from entries.
func exclude(entries map[string]*debEntry, excludes []string) error {
	for _, ex := range excludes {
		if !path.IsAbs(ex) {
			return fmt.Errorf("--deb-exclude %q: want an absolute path", ex)
		}
		p := mergePath(strings.TrimPrefix(path.Clean(ex), "/"))
		matched := false
		for name := range entries {
			if name == p || strings.HasPrefix(name, p+"/") {
				delete(entries, name)
				matched = true
			}
		}
		if !matched {
			return fmt.Errorf("--deb-exclude %s: no package provides it; drop it from the image's deb_excludes", ex)
		}
	}
	return nil
}

// mergePath moves a path under one of the merged top-level folders into /usr.
func mergePath(p string) string {
	for _, dir := range mergedUsr {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			return "usr/" + p
		}
	}
	return p
}

// unpackDeb reads the data member of a .deb (an ar archive) into entries.
func unpackDeb(deb string, entries map[string]*debEntry) error {
	f, err := os.Open(deb)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != "!<arch>\n" {
		return fmt.Errorf("not a Debian package (no ar header)")
	}
	for {
		hdr := make([]byte, 60)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return fmt.Errorf("no data.tar member")
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[0:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil {
			return fmt.Errorf("bad ar member size for %q", name)
		}
		member := io.LimitReader(r, size)
		if strings.HasPrefix(name, "data.tar") {
			return readDataTar(name, member, entries)
		}
		if _, err := io.Copy(io.Discard, member); err != nil {
			return err
		}
		if size%2 == 1 {
			if _, err := r.Discard(1); err != nil {
				return err
			}
		}
	}
}

func readDataTar(member string, r io.Reader, entries map[string]*debEntry) error {
	var stream io.Reader
	switch path.Ext(member) {
	case ".xz":
		x, err := xz.NewReader(r)
		if err != nil {
			return err
		}
		stream = x
	case ".zst":
		z, err := zstd.NewReader(r)
		if err != nil {
			return err
		}
		defer z.Close()
		stream = z
	case ".gz":
		g, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		stream = g
	case ".tar":
		stream = r
	default:
		return fmt.Errorf("unsupported compression of %s", member)
	}
	tr := tar.NewReader(stream)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := mergePath(strings.TrimPrefix(path.Clean("/"+hdr.Name), "/"))
		if name == "" {
			continue // the archive's root folder
		}
		e := &debEntry{header: *hdr}
		switch hdr.Typeflag {
		case tar.TypeReg:
			if e.data, err = io.ReadAll(tr); err != nil {
				return err
			}
		case tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
		default:
			continue // device nodes and fifos have no place in an image layer
		}
		if old, ok := entries[name]; ok && old.header.Typeflag == tar.TypeDir && e.header.Typeflag == tar.TypeDir {
			continue // a folder shared by several packages
		}
		entries[name] = e
	}
}
