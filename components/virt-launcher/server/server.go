// Package server serves the launcher command API (api/launcher/v1) on the pod's unix
// socket: virt-handler's only way to drive the launcher.
package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-launcher/manager"
)

// Network sets up guest networking inside the pod once virt-handler reported what it
// prepared (the launcher's DHCP server). It may be nil.
type Network interface {
	Serve(ifaces []*launcherv1.InterfacePlumbing) error
}

// Server implements launcherv1.LauncherServer.
type Server struct {
	launcherv1.UnimplementedLauncherServer
	log     logr.Logger
	manager *manager.Manager
	network Network
}

// New returns a server driving m.
func New(log logr.Logger, m *manager.Manager, network Network) *Server {
	return &Server{log: log, manager: m, network: network}
}

// Listen serves on a unix socket at path that only the launcher's user (and root, i.e.
// virt-handler) may open. It returns when ctx ends.
func (s *Server) Listen(ctx context.Context, path string) error {
	_ = os.Remove(path)
	// The socket is created with the umask's permissions; 0077 leaves it 0600.
	lis, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		lis.Close()
		return err
	}
	srv := grpc.NewServer()
	launcherv1.RegisterLauncherServer(srv, s)
	go func() {
		<-ctx.Done()
		srv.GracefulStop()
	}()
	s.log.Info("serving the launcher command API", "socket", path)
	return srv.Serve(lis)
}

func result(err error) (*launcherv1.Result, error) {
	if err != nil {
		return &launcherv1.Result{Ok: false, Message: err.Error()}, nil
	}
	return &launcherv1.Result{Ok: true}, nil
}

// Sync defines and starts the domain.
func (s *Server) Sync(ctx context.Context, req *launcherv1.SyncRequest) (*launcherv1.Result, error) {
	vmi, err := s.prepare(req)
	if err != nil {
		return result(err)
	}
	// Preparing disks (overlays, ISOs) and starting QEMU may take a while on a busy node.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return result(s.manager.Sync(ctx, vmi, req.Interfaces, req.Options))
}

// PrepareMigrationTarget readies the launcher for an incoming migration.
func (s *Server) PrepareMigrationTarget(ctx context.Context, req *launcherv1.SyncRequest) (*launcherv1.Result, error) {
	vmi, err := s.prepare(req)
	if err != nil {
		return result(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return result(s.manager.PrepareMigrationTarget(ctx, vmi, req.Interfaces, req.Options))
}

// Migrate starts the domain's live migration.
func (s *Server) Migrate(_ context.Context, req *launcherv1.MigrateRequest) (*launcherv1.Result, error) {
	return result(s.manager.Migrate(req))
}

// CancelMigration aborts the migration in flight.
func (s *Server) CancelMigration(context.Context, *launcherv1.Empty) (*launcherv1.Result, error) {
	return result(s.manager.CancelMigration())
}

// prepare decodes the request's VMI and starts the guest's network service.
func (s *Server) prepare(req *launcherv1.SyncRequest) (*v1.VirtualMachineInstance, error) {
	vmi := &v1.VirtualMachineInstance{}
	if err := json.Unmarshal(req.Vmi, vmi); err != nil {
		return nil, fmt.Errorf("the request's VMI is not valid JSON: %w", err)
	}
	defaults.SetVirtualMachineInstanceSpecDefaults(&vmi.Spec)
	if s.network != nil && len(req.Interfaces) > 0 {
		if err := s.network.Serve(req.Interfaces); err != nil {
			return nil, fmt.Errorf("starting guest networking: %w", err)
		}
	}
	return vmi, nil
}

// Pause suspends the guest.
func (s *Server) Pause(context.Context, *launcherv1.Empty) (*launcherv1.Result, error) {
	return result(s.manager.Pause())
}

// Unpause resumes the guest.
func (s *Server) Unpause(context.Context, *launcherv1.Empty) (*launcherv1.Result, error) {
	return result(s.manager.Unpause())
}

// Shutdown powers the guest off, destroying it after the grace period.
func (s *Server) Shutdown(_ context.Context, req *launcherv1.ShutdownRequest) (*launcherv1.Result, error) {
	return result(s.manager.Shutdown(time.Duration(req.GracePeriodSeconds) * time.Second))
}

// Kill destroys the domain.
func (s *Server) Kill(context.Context, *launcherv1.Empty) (*launcherv1.Result, error) {
	return result(s.manager.Kill())
}

// GetDomain reports the domain's status.
func (s *Server) GetDomain(context.Context, *launcherv1.Empty) (*launcherv1.DomainStatus, error) {
	return s.manager.Status(), nil
}

// GetStats reports the domain's resource usage.
func (s *Server) GetStats(context.Context, *launcherv1.Empty) (*launcherv1.DomainStats, error) {
	stats, err := s.manager.Stats()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return stats, nil
}

// Ping answers.
func (s *Server) Ping(context.Context, *launcherv1.Empty) (*launcherv1.Result, error) {
	return &launcherv1.Result{Ok: true}, nil
}

// WatchDomain streams the domain's status changes.
func (s *Server) WatchDomain(_ *launcherv1.Empty, stream launcherv1.Launcher_WatchDomainServer) error {
	updates, stop := s.manager.Subscribe()
	defer stop()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case st := <-updates:
			if err := stream.Send(st); err != nil {
				return err
			}
		}
	}
}

// GuestAgentInfo reports what the guest agent says about the guest.
func (s *Server) GuestAgentInfo(context.Context, *launcherv1.Empty) (*launcherv1.GuestAgentInfoResponse, error) {
	info, err := s.manager.GuestAgentInfo()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	data, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	return &launcherv1.GuestAgentInfoResponse{Info: data}, nil
}

// BootstrapSentinel reads Cluster API's bootstrap sentinel through the guest agent.
func (s *Server) BootstrapSentinel(context.Context, *launcherv1.Empty) (*launcherv1.BootstrapSentinelResponse, error) {
	r, err := s.manager.BootstrapSentinel()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return r, nil
}
