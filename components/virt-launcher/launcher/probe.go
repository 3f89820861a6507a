package launcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"libvirt.org/go/libvirt"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-launcher/domain"
	"github.com/hypernest/hypernest/components/virt-launcher/libvirtd"
)

// probeTimeout bounds the probe: QEMU's capability probe takes about 2 s on a loaded
// 2-core TCG node; virt-handler waits for this init container before it starts.
const probeTimeout = 2 * time.Minute

// ProbeQEMUCapabilities has a private libvirtd probe QEMU, as a launcher's libvirtd does
// before its first domain, and moves libvirt's QEMU capabilities cache into outDir.
// virt-handler's qemu-capabilities init container runs it once per node with this same
// image; virt-handler then seeds every launcher's cache with it (see
// components/virt-handler/qemucaps). The probe runs in outDir/probe, removed afterwards.
// It gives up after probeTimeout, libvirt's own call included: virt-handler waits for it.
func ProbeQEMUCapabilities(ctx context.Context, log logr.Logger, libvirtdBinary, outDir string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
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
	began := time.Now()
	probed := make(chan error, 1)
	go func() { probed <- probe() }()
	select {
	case err := <-probed:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return fmt.Errorf("libvirt did not probe QEMU within %s", probeTimeout)
	}
	// virt-handler starts only once this container has exited: it never sees a file
	// half-moved, and the probe's folder is on the same volume, so a rename does.
	cacheDir := libvirtd.QEMUCapabilitiesDir(privateDir)
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return fmt.Errorf("reading libvirt's capabilities cache: %w", err)
	}
	var moved []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !launcherv1.IsQEMUCapabilitiesFile(e.Name()) {
			continue
		}
		if err := os.Rename(filepath.Join(cacheDir, e.Name()), filepath.Join(outDir, e.Name())); err != nil {
			return err
		}
		moved = append(moved, e.Name())
	}
	if len(moved) == 0 {
		return fmt.Errorf("libvirt left no capabilities cache in %s", cacheDir)
	}
	log.Info("probed QEMU's capabilities", "arch", domain.Arch, "files", moved, "took", time.Since(began).String())
	return nil
}

// probe makes libvirt look the emulator up as a define of a domain without <emulator>
// does: the default emulator of the guests' architecture. Virt type qemu: this
// container has no /dev/kvm, and on a KVM node libvirt finds the entry does not match a
// launcher that has one, and probes (virt-handler sends the cache under emulation only).
func probe() error {
	conn, err := libvirt.NewConnect(libvirtd.URI)
	if err != nil {
		return fmt.Errorf("connecting to libvirt at %s: %w", libvirtd.URI, err)
	}
	defer conn.Close()
	if _, err := conn.GetDomainCapabilities("", domain.Arch, "", "qemu", 0); err != nil {
		return fmt.Errorf("probing QEMU for %s: %w", domain.Arch, err)
	}
	return nil
}
