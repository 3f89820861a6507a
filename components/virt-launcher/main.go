// Command virt-launcher runs one VirtualMachineInstance: the main process of its pod,
// driven by virt-handler over the command API on a unix socket.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-launcher/dhcp"
	"github.com/hypernest/hypernest/components/virt-launcher/launcher"
	"github.com/hypernest/hypernest/pkg/version"
)

func main() {
	cfg := launcher.Config{}
	flag.StringVar(&cfg.SocketsDir, "sockets-dir", launcherv1.SocketsDir, "folder for the command, console and VNC sockets (shared with virt-handler)")
	flag.StringVar(&cfg.PrivateDir, "private-dir", launcherv1.PrivateDir, "the launcher's private writable folder")
	flag.StringVar(&cfg.ContainerDisksDir, "container-disks-dir", launcherv1.ContainerDisksDir, "where containerDisk images are mounted, one folder per volume")
	flag.StringVar(&cfg.SecretsDir, "secrets-dir", launcherv1.SecretsDir, "where cloud-init Secrets are mounted, one folder per volume")
	flag.StringVar(&cfg.PVCDisksDir, "pvc-disks-dir", launcherv1.PVCDisksDir, "where filesystem-mode PersistentVolumeClaims are mounted, one folder per volume")
	flag.StringVar(&cfg.Libvirtd, "libvirtd", "/usr/sbin/libvirtd", "the libvirtd binary")
	flag.StringVar(&cfg.QemuImg, "qemu-img", "/usr/bin/qemu-img", "the qemu-img binary")
	flag.DurationVar(&cfg.FinalGrace, "final-grace", 10*time.Second, "how long to keep answering after the domain is gone")
	flag.DurationVar(&cfg.TerminationGrace, "termination-grace", 30*time.Second, "how long SIGTERM gives the guest to shut down (the VMI's terminationGracePeriodSeconds)")
	flag.BoolVar(&cfg.Verbose, "v", false, "verbose logging, including libvirt's")
	probeDir := flag.String("probe-qemu-capabilities", "", "probe QEMU once, leave libvirt's capabilities cache in this folder and exit (virt-handler's qemu-capabilities init container)")
	flag.Parse()

	log := zap.New(zap.UseDevMode(cfg.Verbose)).WithName("virt-launcher")
	log.Info("starting", "version", version.Get().String())
	if *probeDir != "" {
		// A failed probe only costs speed (every launcher probes QEMU itself), so it
		// must not keep virt-handler from starting: report and exit 0.
		if err := launcher.ProbeQEMUCapabilities(context.Background(), log, cfg.Libvirtd, *probeDir); err != nil {
			log.Error(err, "probing QEMU's capabilities failed; launchers on this node will probe QEMU themselves")
		}
		return
	}
	cfg.Network = dhcp.NewServer(log.WithName("dhcp"))
	code, err := launcher.Run(context.Background(), log, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "virt-launcher: %v\n", err)
		os.Exit(1)
	}
	os.Exit(int(code))
}
