// Package migrationproxy joins the two launcher pods of a live migration across nodes.
// Each stream of a migration (libvirt's connection, QEMU's memory stream, the disks'
// copy) is a unix socket in the pods' sockets folder (launcherv1.MigrationSockets). On
// the source node virt-handler listens on those sockets and sends each connection over
// mutual TLS to the target node's virt-handler, which passes it on to the socket the
// target launcher's libvirt or QEMU listens on. Neither launcher has a network route to
// the other, nor a key: only the handlers, which hold the node certificates, talk across.
package migrationproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// dialTimeout bounds each connection's set-up across nodes or to a launcher's socket: a
// peer that does not answer within it is gone, and libvirt reports the failed migration.
const dialTimeout = 10 * time.Second

// Dialer opens the connection a proxied one is passed on to.
type Dialer func(ctx context.Context) (net.Conn, error)

// Proxy is a set of listeners whose connections are passed on; Close stops them all and
// ends the connections they carry.
type Proxy struct {
	log       logr.Logger
	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// New returns an empty proxy.
func New(log logr.Logger) *Proxy {
	return &Proxy{log: log, conns: map[net.Conn]struct{}{}}
}

// ListenTLS listens on addr (host:port; port 0 picks a free one) for TLS connections,
// each passed on to what dial opens. It returns the port.
func (p *Proxy) ListenTLS(addr string, config *tls.Config, dial Dialer) (int, error) {
	l, err := tls.Listen("tcp", addr, config)
	if err != nil {
		return 0, fmt.Errorf("listening on %s: %w", addr, err)
	}
	if err := p.serve(l, dial); err != nil {
		return 0, err
	}
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ListenUnix listens on a unix socket at path, which the user uid may open (the
// launcher's user: its libvirt and QEMU connect there), passing each connection on to
// what dial opens. A socket left at path by an earlier migration is replaced.
func (p *Proxy) ListenUnix(path string, uid int, dial Dialer) error {
	var l net.Listener
	err := inDir(filepath.Dir(path), func(dir string) error {
		short := filepath.Join(dir, filepath.Base(path))
		if err := os.Remove(short); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		var err error
		if l, err = net.Listen("unix", short); err != nil {
			return err
		}
		// Owned by the launcher's user, mode 0600: nobody else in the pod or on the node
		// may feed the migration.
		if err := os.Chown(short, uid, uid); err != nil {
			l.Close()
			return err
		}
		return os.Chmod(short, 0o600)
	})
	if err != nil {
		return fmt.Errorf("listening on %s: %w", path, err)
	}
	// The listener's own name is the short path, gone once inDir returned: it must not
	// unlink anything when closed.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	return p.serve(l, dial)
}

// UnixDialer connects to the unix socket at path.
func UnixDialer(path string) Dialer {
	return func(ctx context.Context) (net.Conn, error) {
		var conn net.Conn
		err := inDir(filepath.Dir(path), func(dir string) error {
			var err error
			d := net.Dialer{Timeout: dialTimeout}
			conn, err = d.DialContext(ctx, "unix", filepath.Join(dir, filepath.Base(path)))
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", path, err)
		}
		return conn, nil
	}
}

// TLSDialer connects to addr over TLS with config.
func TLSDialer(addr string, config *tls.Config) Dialer {
	return func(ctx context.Context) (net.Conn, error) {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: dialTimeout}, Config: config}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("connecting to the target node's virt-handler at %s: %w", addr, err)
		}
		return conn, nil
	}
}

func (p *Proxy) serve(l net.Listener, dial Dialer) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.Close()
		return errors.New("the migration proxy is closed")
	}
	p.listeners = append(p.listeners, l)
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return // closed
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.pass(conn, dial, l.Addr().String())
			}()
		}
	}()
	return nil
}

// pass copies between conn and a new connection from dial until either side ends.
func (p *Proxy) pass(conn net.Conn, dial Dialer, via string) {
	if !p.track(conn) {
		conn.Close()
		return
	}
	defer p.untrack(conn)
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	if tlsConn, ok := conn.(*tls.Conn); ok {
		// Authenticate the caller before anything is opened on its behalf.
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			p.log.Info("refused a migration connection", "listener", via, "from", conn.RemoteAddr().String(), "error", err.Error())
			return
		}
	}
	peer, err := dial(ctx)
	if err != nil {
		p.log.Error(err, "passing a migration connection on", "listener", via)
		return
	}
	if !p.track(peer) {
		peer.Close()
		return
	}
	defer p.untrack(peer)
	done := make(chan struct{}, 2)
	copyHalf := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Pass the end on (EOF), so the other direction can still drain.
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			dst.Close()
		}
		done <- struct{}{}
	}
	go copyHalf(peer, conn)
	go copyHalf(conn, peer)
	<-done
	<-done
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Close stops listening and ends every connection in flight.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for _, l := range p.listeners {
		l.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// inDir runs fn with a short name for dir: /proc/self/fd/<n> of an open handle on it.
// A unix socket's path has at most 107 bytes, and a pod's sockets folder on the node
// (/var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~empty-dir/sockets) takes 99.
func inDir(dir string, fn func(dir string) error) error {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dir, err)
	}
	defer unix.Close(fd)
	return fn("/proc/self/fd/" + strconv.Itoa(fd))
}
