package launcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"libvirt.org/go/libvirt"

	"github.com/hypernest/hypernest/components/virt-launcher/libvirtd"
)

// probeTimeout bounds the probe: QEMU's capability probe takes about 2 s on a loaded
// 2-core TCG node; virt-handler waits for this init container before it starts.
const probeTimeout = 2 * time.Minute

// libvirtArch is libvirt's name for the architecture this launcher runs guests of.
var libvirtArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64", "s390x": "s390x"}

// ProbeQEMUCapabilities has a private libvirtd probe QEMU, as a launcher's libvirtd does
// before its first domain, and copies libvirt's QEMU capabilities cache into outDir.
// virt-handler's qemu-capabilities init container runs it once per node with this same
// image; virt-handler then seeds every launcher's cache with it (see
// components/virt-handler/qemucaps). The probe runs in outDir/probe, removed afterwards.
func ProbeQEMUCapabilities(ctx context.Context, log logr.Logger, libvirtdBinary, outDir string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	arch, ok := libvirtArch[goruntime.GOARCH]
	if !ok {
		return fmt.Errorf("no libvirt architecture known for %s", goruntime.GOARCH)
	}
	privateDir := filepath.Join(outDir, "probe")
	if err := os.MkdirAll(privateDir, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(privateDir)
	daemon, err := libvirtd.Start(ctx, log, libvirtdBinary, privateDir, false)
	if err != nil {
		return err
	}
	defer func() {
		daemon.Stop()
		select {
		case <-daemon.Done():
		case <-time.After(10 * time.Second):
		}
	}()
	conn, err := libvirt.NewConnect(libvirtd.URI)
	if err != nil {
		return fmt.Errorf("connecting to libvirt at %s: %w", libvirtd.URI, err)
	}
	defer conn.Close()
	began := time.Now()
	// The lookup a define makes for a domain without <emulator>: the default emulator
	// of the architecture. Virt type qemu: this container has no /dev/kvm; on a KVM
	// node libvirt finds the entry does not match a launcher that has it, and probes.
	if _, err := conn.GetDomainCapabilities("", arch, "", "qemu", 0); err != nil {
		return fmt.Errorf("probing QEMU for %s: %w", arch, err)
	}
	cacheDir := libvirtd.QEMUCapabilitiesDir(privateDir)
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return fmt.Errorf("reading libvirt's capabilities cache: %w", err)
	}
	var copied []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".xml") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(cacheDir, e.Name()))
		if err != nil {
			return err
		}
		// Written under a temporary name, then renamed: virt-handler never reads half a file.
		tmp := filepath.Join(outDir, "."+e.Name())
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(outDir, e.Name())); err != nil {
			return err
		}
		copied = append(copied, e.Name())
	}
	if len(copied) == 0 {
		return fmt.Errorf("libvirt left no capabilities cache in %s", cacheDir)
	}
	log.Info("probed QEMU's capabilities", "arch", arch, "files", copied, "took", time.Since(began).String())
	return nil
}
