// Package launcher is virt-launcher's main loop: it starts the private libvirt daemon,
// serves the command API, and exits once the domain is gone, so the pod completes. The
// exit code tells how the guest ended: 0 for a shutdown, 1 for a crash or failure.
package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-launcher/disks"
	"github.com/hypernest/hypernest/components/virt-launcher/libvirtd"
	"github.com/hypernest/hypernest/components/virt-launcher/manager"
	"github.com/hypernest/hypernest/components/virt-launcher/server"
)

// Config is where the launcher finds and puts things.
type Config struct {
	SocketsDir        string
	PrivateDir        string
	ContainerDisksDir string
	SecretsDir        string
	PVCDisksDir       string
	Libvirtd          string
	QemuImg           string
	// FinalGrace is how long the launcher keeps answering after the domain stopped, so
	// virt-handler reads the final state before the pod completes.
	FinalGrace time.Duration
	// TerminationGrace is how long a SIGTERM (pod deletion) gives the guest to shut down.
	TerminationGrace time.Duration
	Verbose          bool
	Network          server.Network
}

// ExitCode is the process exit code for an outcome.
type ExitCode int

// Run runs the launcher until the domain is gone. It returns the exit code.
func Run(ctx context.Context, log logr.Logger, cfg Config) (ExitCode, error) {
	// Everything the launcher creates is its own; the sockets only virt-handler may use.
	syscall.Umask(0o077)
	for _, dir := range []string{cfg.SocketsDir, cfg.PrivateDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return 1, fmt.Errorf("preparing %s: %w", dir, err)
		}
	}
	// libvirt and QEMU write temporary files; keep them in the pod's private folder.
	tmp := filepath.Join(cfg.PrivateDir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return 1, err
	}
	os.Setenv("TMPDIR", tmp)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	daemon, err := libvirtd.Start(ctx, log, cfg.Libvirtd, cfg.PrivateDir, cfg.Verbose)
	if err != nil {
		return 1, err
	}
	defer daemon.Stop()
	m, err := manager.New(log.WithName("manager"), libvirtd.URI, &disks.Preparer{
		PrivateDir:        cfg.PrivateDir,
		ContainerDisksDir: cfg.ContainerDisksDir,
		SecretsDir:        cfg.SecretsDir,
		PVCDisksDir:       cfg.PVCDisksDir,
		KernelBootDir:     launcherv1.KernelBootDir,
		QemuImg:           cfg.QemuImg,
	}, cfg.SocketsDir)
	if err != nil {
		return 1, err
	}
	defer m.Close()

	srv := server.New(log.WithName("server"), m, cfg.Network)
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- srv.Listen(ctx, filepath.Join(cfg.SocketsDir, launcherv1.CommandSocket))
	}()

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	for {
		select {
		case err := <-serveErr:
			return 1, fmt.Errorf("the command server stopped: %w", err)
		case err := <-daemon.Done():
			return 1, fmt.Errorf("libvirtd exited: %v", err)
		case sig := <-signals:
			log.Info("asked to stop; shutting the guest down", "signal", sig.String(), "gracePeriod", cfg.TerminationGrace)
			if err := m.Shutdown(cfg.TerminationGrace); err != nil {
				if errors.Is(err, manager.ErrNoDomain) {
					return 0, nil
				}
				log.Error(err, "shutting the guest down")
			}
		case <-m.Final():
			status := m.Status()
			log.Info("the domain is gone; exiting once virt-handler has seen it", "state", status.State.String(), "reason", status.Reason, "after", cfg.FinalGrace)
			select {
			case <-time.After(cfg.FinalGrace):
			case <-signals:
			}
			if status.State == launcherv1.DomainState_CRASHED || status.Reason == "Crashed" || status.Reason == "Failed" {
				return 1, nil
			}
			return 0, nil
		}
	}
}
