// Package libvirtd runs the launcher's private libvirt daemon: libvirtd in session mode
// (qemu:///session), as the launcher's own unprivileged user, with every socket and
// state file under the pod's private folder.
package libvirtd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// URI is the libvirt connection URI of the launcher's daemon.
const URI = "qemu:///session"

// startTimeout bounds how long libvirtd may take to create its socket. It normally takes
// well under a second; KubeVirt budgets 10 s for libvirt's start on loaded nodes.
const startTimeout = 30 * time.Second

// Environment returns the variables that point libvirt (daemon and client alike) at the
// launcher's private folder. The launcher sets them on itself before connecting.
//
// The folder names are one letter on purpose: libvirt puts each domain's QEMU monitor
// socket at $XDG_CONFIG_HOME/libvirt/qemu/lib/domain-<id>-<name, 20 chars>/monitor.sock,
// and a unix socket path has at most 107 bytes.
func Environment(privateDir string) map[string]string {
	base := filepath.Join(privateDir, "v")
	return map[string]string{
		"HOME":            filepath.Join(base, "h"),
		"XDG_RUNTIME_DIR": filepath.Join(base, "r"),
		"XDG_CONFIG_HOME": filepath.Join(base, "c"),
		"XDG_CACHE_HOME":  filepath.Join(base, "k"),
	}
}

// QEMUCapabilitiesDir is where the daemon keeps its QEMU capabilities cache: one file per
// emulator, named by the sha256 of the emulator's path (libvirt's virFileCache).
func QEMUCapabilitiesDir(privateDir string) string {
	return filepath.Join(Environment(privateDir)["XDG_CACHE_HOME"], "libvirt", "qemu", "cache", "capabilities")
}

// SeedQEMUCapabilities writes cache files into the daemon's QEMU capabilities cache, so
// its first define finds them instead of probing QEMU. It writes none that exists
// already, and refuses a set launcherv1.CheckQEMUCapabilities refuses (names not
// libvirt's, too many bytes) before writing any. It must run
// before the daemon first looks an emulator up (the first define): libvirt keeps what it
// has loaded or probed in memory and does not read the folder again.
func SeedQEMUCapabilities(privateDir string, files map[string][]byte) (int, error) {
	if len(files) == 0 {
		return 0, nil
	}
	if err := launcherv1.CheckQEMUCapabilities(files); err != nil {
		return 0, err
	}
	dir := QEMUCapabilitiesDir(privateDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	written := 0
	for name, content := range files {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return written, err
		}
		_, werr := f.Write(content)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return written, werr
		}
		written++
	}
	return written, nil
}

// genericGuestCPUReadFlag is the QEMU capability (QEMU >= 4.1) that makes libvirt 9.0 read
// a started guest's CPU the generic way: qom-list of the CPU object, then one qom-get per
// property, about 400 QMP commands on x86. Without it, libvirt reads x86 guests through
// two properties, feature-words and filtered-features, which carry the same CPUID bits.
// Measured on a TCG node (paused 64 MiB guest): 413 QMP commands, 1.0-1.3 s and 0.7
// CPU-s of QEMU per start with the flag; 15 commands, 0.4 s and 0.2 CPU-s without it.
// The flag's only other use in libvirt 9.0 is to accept x86 domains naming MSR-based
// CPU features.
const genericGuestCPUReadFlag = "<flag name='cpu-unavailable-features'/>"

// WithFeatureWordsCPURead returns a copy of QEMU capabilities cache files without
// genericGuestCPUReadFlag, so libvirt reads the guest's CPU through feature-words. Only
// for domains that name no CPU feature and that libvirt checks nothing of (see
// domain.GuestCPUReadByFeatureWords); the files given are not changed.
func WithFeatureWordsCPURead(files map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for name, content := range files {
		out[name] = bytes.ReplaceAll(content, []byte(genericGuestCPUReadFlag), nil)
	}
	return out
}

// Daemon is a running libvirtd.
type Daemon struct {
	cmd  *exec.Cmd
	done chan error
}

// Start sets the environment, writes the daemon's configuration and starts libvirtd,
// returning once its socket answers. Its log lines go to the logger.
func Start(ctx context.Context, log logr.Logger, binary, privateDir string, verbose bool) (*Daemon, error) {
	env := Environment(privateDir)
	for k, v := range env {
		if err := os.MkdirAll(v, 0o700); err != nil {
			return nil, err
		}
		if err := os.Setenv(k, v); err != nil {
			return nil, err
		}
	}
	confDir := filepath.Join(env["XDG_CONFIG_HOME"], "libvirt")
	if err := os.MkdirAll(confDir, 0o700); err != nil {
		return nil, err
	}
	logOutputs := `log_outputs = "2:stderr"` // warnings and errors only
	if verbose {
		logOutputs = `log_outputs = "1:stderr"`
	}
	if err := os.WriteFile(filepath.Join(confDir, "libvirtd.conf"), []byte(logOutputs+"\n"), 0o600); err != nil {
		return nil, err
	}
	// QEMU writes its log file itself: no virtlogd, ~18 MiB less in every launcher pod.
	// (virtlogd's job is rotating logs of long-lived host daemons; a launcher lives as
	// long as its one guest.)
	if err := os.WriteFile(filepath.Join(confDir, "qemu.conf"), []byte("stdio_handler = \"file\"\n"), 0o600); err != nil {
		return nil, err
	}

	cmd := exec.Command(binary)
	cmd.Env = os.Environ()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	d := &Daemon{cmd: cmd, done: make(chan error, 1)}
	go relay(log.WithName("libvirtd"), stderr)
	go func() { d.done <- cmd.Wait() }()

	socket := filepath.Join(env["XDG_RUNTIME_DIR"], "libvirt", "libvirt-sock")
	deadline := time.Now().Add(startTimeout)
	for {
		if _, err := os.Stat(socket); err == nil {
			return d, nil
		}
		select {
		case err := <-d.done:
			return nil, fmt.Errorf("libvirtd exited while starting: %v", err)
		case <-ctx.Done():
			d.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.Stop()
			return nil, fmt.Errorf("libvirtd did not create %s within %s", socket, startTimeout)
		}
	}
}

// Done is closed with the daemon's exit error when it exits.
func (d *Daemon) Done() <-chan error { return d.done }

// Stop terminates the daemon.
func (d *Daemon) Stop() {
	if d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(os.Interrupt)
	}
}

// harmless are errors libvirtd logs at every start inside a launcher pod, about host
// facilities a session daemon does not use: no D-Bus, no dnsmasq (no libvirt networks),
// no DMI tables, no /dev/kvm under emulation. Repeating them would bury real errors.
var harmless = []string{
	"Unable to find 'dnsmasq' binary",
	"Unable to get system bus connection",
	"Unable to get session bus connection",
	"DBus not available",
	"udevGetDMIData",
	"virHostCPUGetCPUID",
}

func relay(log logr.Logger, r io.Reader) {
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		line := scanner.Text()
		quiet := false
		for _, h := range harmless {
			if strings.Contains(line, h) {
				quiet = true
				break
			}
		}
		if quiet {
			log.V(1).Info(line)
			continue
		}
		log.Info(line)
	}
}
