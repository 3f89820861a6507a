// Package launcherclient connects virt-handler to the launchers on its node, through the
// command socket in each launcher pod's sockets volume (found in the kubelet's pod folder).
package launcherclient

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// Client is a connection to one launcher.
type Client struct {
	launcherv1.LauncherClient
	conn *grpc.ClientConn
	mu   sync.Mutex
	pid  int
}

// Dial connects to the launcher serving on socket. The connection is lazy; PID becomes
// known after the first call.
func Dial(socket string) (*Client, error) {
	c := &Client{}
	conn, err := grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			conn, err := DialUnix(ctx, socket)
			if err != nil {
				return nil, err
			}
			c.recordPeer(conn)
			return conn, nil
		}))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", socket, err)
	}
	c.conn = conn
	c.LauncherClient = launcherv1.NewLauncherClient(conn)
	return c, nil
}

// DialUnix connects to a unix socket whatever the length of its path. Sockets in the
// kubelet's pod folders (/var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~empty-dir/...)
// exceed the 107 bytes a socket address holds, so the socket is reached through its
// folder's file descriptor: /proc/self/fd/<fd>/<name> is always short.
func DialUnix(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	if len(path) < 100 {
		return d.DialContext(ctx, "unix", path)
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer dir.Close() // the connection does not need the folder once it is made
	return d.DialContext(ctx, "unix", fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path)))
}

// recordPeer keeps the launcher's process ID from the socket's peer credentials, which
// the kernel reports in virt-handler's (the node's) PID namespace: the launcher's network
// namespace is /proc/<pid>/ns/net.
func (c *Client) recordPeer(conn net.Conn) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			c.mu.Lock()
			c.pid = int(cred.Pid)
			c.mu.Unlock()
		}
	})
}

// PID returns the launcher's process ID, connecting first if needed.
func (c *Client) PID(ctx context.Context) (int, error) {
	c.mu.Lock()
	pid := c.pid
	c.mu.Unlock()
	if pid != 0 {
		return pid, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx, &launcherv1.Empty{}); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pid == 0 {
		return 0, fmt.Errorf("the launcher's socket reported no peer process")
	}
	return c.pid, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
