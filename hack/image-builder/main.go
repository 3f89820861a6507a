// Command image-builder assembles an OCI image (an OCI image layout, as a tarball) from
// local folders and files, deterministically: the same inputs always give the same image digest (fixed
// timestamps, root ownership, sorted entries), so images can be compared and cached.
// No registry and no container engine are involved; `ctr images import` loads the result.
//
//	image-builder --tag localhost/hypernest/pause:v1 --output pause.tar \
//	    --layer /tmp/pause-root --entrypoint /pause
//
// Each --layer is a folder whose contents become the image's filesystem root, or
// SRC=DEST to place one file or folder at DEST. Layers are stacked in order, on top of
// one layer made of the --deb packages' files (a merged-/usr Debian root), if any, less
// the paths --deb-exclude names.
// Every --tag names the same image (one image, several names).
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is the timestamp of every file and of the image itself: reproducibility beats
// a meaningful date (the same choice as Bazel's rules_oci and ko).
var epoch = time.Unix(0, 0).UTC()

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var tags, debs, debExcludes, layers, entrypoint, cmd, env, labels stringList
	flag.Var(&tags, "tag", "image reference to tag the image with, e.g. localhost/hypernest/pause:v1; repeat for more (required)")
	flag.Var(&debs, "deb", "a Debian package whose files go into the base layer; repeat for more")
	flag.Var(&debExcludes, "deb-exclude", "an absolute path the packages provide that the base layer leaves out (a folder: all of it); repeat for more")
	output := flag.String("output", "", "path of the image tarball to write (required)")
	user := flag.String("user", "", "user the image runs as, e.g. 65532:65532")
	workdir := flag.String("workdir", "", "working directory")
	flag.Var(&layers, "layer", "a folder (its contents become /) or SRC=DEST; repeat for more layers")
	flag.Var(&entrypoint, "entrypoint", "entrypoint argument; repeat for more")
	flag.Var(&cmd, "cmd", "cmd argument; repeat for more")
	flag.Var(&env, "env", "KEY=VALUE environment variable; repeat for more")
	flag.Var(&labels, "label", "KEY=VALUE image label; repeat for more")
	flag.Parse()
	if len(tags) == 0 || *output == "" || len(layers)+len(debs) == 0 {
		fmt.Fprintln(os.Stderr, "image-builder: --tag, --output and at least one --layer or --deb are required (see -h)")
		os.Exit(2)
	}
	if len(debExcludes) > 0 && len(debs) == 0 {
		fmt.Fprintln(os.Stderr, "image-builder: --deb-exclude leaves paths out of the --deb packages' layer, and there are no --deb packages")
		os.Exit(2)
	}
	digest, err := build(tags, *output, debs, debExcludes, layers, imageConfig{entrypoint, cmd, env, labels, *user, *workdir})
	if err != nil {
		fmt.Fprintf(os.Stderr, "image-builder: %s: %v\n", tags[0], err)
		os.Exit(1)
	}
	for _, tag := range tags {
		fmt.Printf("%s %s\n", tag, digest)
	}
}

type imageConfig struct {
	entrypoint, cmd, env, labels []string
	user, workdir                string
}

func build(tags []string, output string, debs, debExcludes, layerSpecs []string, cfg imageConfig) (v1.Hash, error) {
	var refList []name.Tag
	for _, tag := range tags {
		ref, err := name.NewTag(tag)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("bad --tag %q: %w", tag, err)
		}
		refList = append(refList, ref)
	}
	var layerData [][]byte
	if len(debs) > 0 {
		data, err := debLayerTar(debs, debExcludes)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("package layer: %w", err)
		}
		layerData = append(layerData, data)
	}
	for _, spec := range layerSpecs {
		data, err := layerTar(spec)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("layer %s: %w", spec, err)
		}
		layerData = append(layerData, data)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, data := range layerData {
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return v1.Hash{}, err
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			return v1.Hash{}, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = cfg.entrypoint
	cf.Config.Cmd = cfg.cmd
	cf.Config.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, cfg.env...)
	cf.Config.User = cfg.user
	cf.Config.WorkingDir = cfg.workdir
	if len(cfg.labels) > 0 {
		cf.Config.Labels = map[string]string{}
		for _, l := range cfg.labels {
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				return v1.Hash{}, fmt.Errorf("bad --label %q: want KEY=VALUE", l)
			}
			cf.Config.Labels[k] = v
		}
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return v1.Hash{}, err
	}
	if img, err = mutate.CreatedAt(img, v1.Time{Time: epoch}); err != nil {
		return v1.Hash{}, err
	}
	if err := os.MkdirAll(filepath.Dir(output), 0o755); err != nil {
		return v1.Hash{}, err
	}
	if err := writeLayoutTarball(output, img, refList); err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}

// layerTar renders one layer spec as an uncompressed, reproducible tar stream.
func layerTar(spec string) ([]byte, error) {
	src, dest := spec, "/"
	if s, d, ok := strings.Cut(spec, "="); ok {
		src, dest = s, d
	}
	info, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// Parent folders of dest first, so the layer extracts on an empty root.
	if err := writeParents(tw, map[string]bool{}, dest, info.IsDir()); err != nil {
		return nil, err
	}
	if !info.IsDir() {
		if err := writeEntry(tw, src, strings.TrimPrefix(dest, "/"), info); err != nil {
			return nil, err
		}
		return buf.Bytes(), tw.Close()
	}
	var paths []string
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != src {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, _ := filepath.Rel(src, p)
		target := strings.TrimPrefix(path.Join(dest, filepath.ToSlash(rel)), "/")
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, err
		}
		if err := writeEntry(tw, p, target, fi); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), tw.Close()
}

func writeParents(tw *tar.Writer, written map[string]bool, dest string, destIsDir bool) error {
	clean := strings.Trim(path.Clean(dest), "/")
	if clean == "" || clean == "." {
		return nil
	}
	parts := strings.Split(clean, "/")
	if !destIsDir {
		parts = parts[:len(parts)-1]
	}
	for i := range parts {
		dir := strings.Join(parts[:i+1], "/")
		if written[dir] {
			continue
		}
		written[dir] = true
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	return nil
}

// writeEntry adds one file, folder or symlink, owned by root with the fixed timestamp and
// the source's permission bits.
func writeEntry(tw *tar.Writer, src, target string, fi os.FileInfo) error {
	hdr := &tar.Header{Name: target, Mode: int64(fi.Mode().Perm()), ModTime: epoch, Format: tar.FormatPAX}
	if fi.Mode()&os.ModeSetuid != 0 {
		hdr.Mode |= 0o4000
	}
	if fi.Mode()&os.ModeSticky != 0 {
		hdr.Mode |= 0o1000
	}
	switch {
	case fi.IsDir():
		hdr.Typeflag, hdr.Name = tar.TypeDir, target+"/"
		return tw.WriteHeader(hdr)
	case fi.Mode()&os.ModeSymlink != 0:
		link, err := os.Readlink(src)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, link
		return tw.WriteHeader(hdr)
	case fi.Mode().IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	default:
		return fmt.Errorf("%s: unsupported file type %s", src, fi.Mode().Type())
	}
}
