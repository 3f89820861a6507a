// Package deviceplugin offers the node's /dev/kvm, /dev/net/tun and /dev/vhost-net to pods
// as the extended resources devices.kubevirt.io/{kvm,tun,vhost-net}, through the kubelet's
// device plugin API. An unprivileged launcher pod can only open a device node the kubelet
// put into it; requesting the resource is how it asks for exactly that device.
package deviceplugin

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// DefaultCount is how many pods may hold the device at once. The device nodes are shared
// (they are not exclusive hardware), so the count only caps VMIs per node; 1000 is
// KubeVirt's default (virt-handler --max-devices).
const DefaultCount = 1000

// Plugin serves one device as an extended resource.
type Plugin struct {
	pluginapi.UnimplementedDevicePluginServer
	Log logr.Logger
	// Resource is the extended resource name, e.g. devices.kubevirt.io/kvm.
	Resource string
	// Device is the device node's path on the node and in the container.
	Device string
	// Count is the number of allocatable units.
	Count int
	// Dir is the kubelet's device plugin folder (kubelet.sock lives there).
	Dir string

	mu         sync.Mutex
	registered bool
	listed     bool
}

// Ready reports whether the kubelet knows the plugin and has its device list, or the
// node has no such device (then there is nothing to offer). virt-handler is ready only
// when all its plugins are: a launcher pod admitted earlier would fail to get its devices.
func (p *Plugin) Ready() bool {
	if _, err := os.Stat(p.Device); err != nil {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.registered && p.listed
}

func (p *Plugin) setState(registered, listed bool) {
	p.mu.Lock()
	p.registered, p.listed = registered, listed
	p.mu.Unlock()
}

func (p *Plugin) socketName() string {
	return "hypernest-" + strings.ReplaceAll(strings.TrimPrefix(p.Resource, "devices.kubevirt.io/"), "/", "-") + ".sock"
}

// Run serves and registers the plugin until ctx ends, registering again whenever the
// kubelet restarts (it deletes every plugin socket when it does). A device the node does
// not have is looked for again every minute, and reported once.
func (p *Plugin) Run(ctx context.Context) {
	reported := false
	for ctx.Err() == nil {
		wait := 5 * time.Second
		if _, err := os.Stat(p.Device); err != nil {
			if !reported {
				p.Log.Info("the node has no such device; the resource is not offered", "device", p.Device, "resource", p.Resource)
				reported = true
			}
			wait = time.Minute
		} else if err := p.serveOnce(ctx); err != nil {
			p.Log.Error(err, "device plugin", "resource", p.Resource)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

func (p *Plugin) serveOnce(ctx context.Context) error {
	socket := filepath.Join(p.Dir, p.socketName())
	_ = os.Remove(socket)
	lis, err := net.Listen("unix", socket)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(srv, p)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	defer p.setState(false, false)
	if err := p.register(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	p.registered = true
	p.mu.Unlock()
	p.Log.Info("offering device", "resource", p.Resource, "device", p.Device, "count", p.Count)
	// The kubelet removes our socket when it restarts: then register again.
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
			if _, err := os.Stat(socket); err != nil {
				p.Log.Info("the kubelet restarted; registering again", "resource", p.Resource)
				return nil
			}
		}
	}
}

func (p *Plugin) register(ctx context.Context) error {
	conn, err := grpc.NewClient("unix://"+filepath.Join(p.Dir, "kubelet.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version:      pluginapi.Version,
		Endpoint:     p.socketName(),
		ResourceName: p.Resource,
	})
	if err != nil {
		return fmt.Errorf("registering %s with the kubelet: %w", p.Resource, err)
	}
	return nil
}

// GetDevicePluginOptions reports no optional features.
func (p *Plugin) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{}, nil
}

// ListAndWatch reports Count healthy units, again whenever the device appears or vanishes.
func (p *Plugin) ListAndWatch(_ *pluginapi.Empty, stream pluginapi.DevicePlugin_ListAndWatchServer) error {
	last := ""
	for {
		health := pluginapi.Healthy
		if _, err := os.Stat(p.Device); err != nil {
			health = pluginapi.Unhealthy
		}
		if health != last {
			devs := make([]*pluginapi.Device, p.Count)
			for i := range devs {
				devs[i] = &pluginapi.Device{ID: fmt.Sprintf("%s%d", filepath.Base(p.Device), i), Health: health}
			}
			if err := stream.Send(&pluginapi.ListAndWatchResponse{Devices: devs}); err != nil {
				return err
			}
			last = health
			p.mu.Lock()
			p.listed = true
			p.mu.Unlock()
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-time.After(10 * time.Second):
		}
	}
}

// Allocate hands each requesting container the device node, read-write.
func (p *Plugin) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	resp := &pluginapi.AllocateResponse{}
	for range req.ContainerRequests {
		resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerAllocateResponse{
			Devices: []*pluginapi.DeviceSpec{{ContainerPath: p.Device, HostPath: p.Device, Permissions: "rw"}},
		})
	}
	return resp, nil
}

// GetPreferredAllocation has no preference: every unit is the same device.
func (p *Plugin) GetPreferredAllocation(context.Context, *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	return &pluginapi.PreferredAllocationResponse{}, nil
}

// PreStartContainer has nothing to do.
func (p *Plugin) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}
