package migrationproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/hypernest/hypernest/pkg/pki"
	"github.com/hypernest/hypernest/pkg/pki/pkitest"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// nodeCert is a node's virt-handler certificate of ca.
func nodeCert(t *testing.T, ca *pki.CA, cn string) tls.Certificate {
	t.Helper()
	cert, err := pkitest.NodeCertificate(ca, cn)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// longDir is a folder whose sockets' paths exceed the 107 bytes a unix socket path may
// have, as a pod's sockets folder on the node does.
func longDir(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), strings.Repeat("p", 60), strings.Repeat("q", 40))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// echo serves a unix socket at path that answers each line with "echo: " and the line.
func echo(t *testing.T, path string) {
	t.Helper()
	var l net.Listener
	if err := inDir(filepath.Dir(path), func(dir string) error {
		var err error
		l, err = net.Listen("unix", filepath.Join(dir, filepath.Base(path)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewScanner(c)
				for r.Scan() {
					_, _ = c.Write([]byte("echo: " + r.Text() + "\n"))
				}
			}()
		}
	}()
}

func TestSourceToTargetOverMutualTLS(t *testing.T) {
	ca, err := pki.NewCA("test CA", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	server := &tls.Config{Certificates: []tls.Certificate{nodeCert(t, ca, "kubevirt.io:system:node:node02")},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots, MinVersion: tls.VersionTLS13}
	client := &tls.Config{Certificates: []tls.Certificate{nodeCert(t, ca, "kubevirt.io:system:node:node01")},
		RootCAs: roots, ServerName: wiring.HandlerServerName, MinVersion: tls.VersionTLS13}

	targetDir, sourceDir := longDir(t), longDir(t)
	launcherSocket := filepath.Join(targetDir, "mig-memory")
	if len(launcherSocket) <= 107 {
		t.Fatalf("the test needs a path over 107 bytes, not %d", len(launcherSocket))
	}
	echo(t, launcherSocket)

	target := New(testr.New(t))
	defer target.Close()
	port, err := target.ListenTLS("127.0.0.1:0", server, UnixDialer(launcherSocket))
	if err != nil {
		t.Fatal(err)
	}
	source := New(testr.New(t))
	sourceSocket := filepath.Join(sourceDir, "mig-memory")
	if err := source.ListenUnix(sourceSocket, os.Getuid(), TLSDialer("127.0.0.1:"+strconv.Itoa(port), client)); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(sourceSocket)
	if err != nil || info.Mode().Perm() != 0o600 || info.Mode().Type() != os.ModeSocket {
		t.Fatalf("the source socket: %v, %v", info, err)
	}

	conn, err := UnixDialer(sourceSocket)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	for _, line := range []string{"one", "two"} {
		if _, err := conn.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
		got, err := r.ReadString('\n')
		if err != nil || got != "echo: "+line+"\n" {
			t.Fatalf("got %q, %v", got, err)
		}
	}

	// Closing the source proxy ends the connection it carries and stops listening.
	source.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("the connection outlived the proxy")
	}
	if _, err := UnixDialer(sourceSocket)(context.Background()); err == nil {
		t.Fatal("the source socket still accepts connections")
	}
}

func TestTargetRefusesACallerWithoutANodeCertificate(t *testing.T) {
	ca, err := pki.NewCA("test CA", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("another CA", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	server := &tls.Config{Certificates: []tls.Certificate{nodeCert(t, ca, "node02")},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots, MinVersion: tls.VersionTLS13}

	dialled := make(chan struct{}, 1)
	target := New(testr.New(t))
	defer target.Close()
	port, err := target.ListenTLS("127.0.0.1:0", server, func(context.Context) (net.Conn, error) {
		dialled <- struct{}{}
		a, _ := net.Pipe()
		return a, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for name, cfg := range map[string]*tls.Config{
		"no certificate":              {RootCAs: roots, ServerName: wiring.HandlerServerName},
		"a certificate of another CA": {RootCAs: roots, ServerName: wiring.HandlerServerName, Certificates: []tls.Certificate{nodeCert(t, other, "node01")}},
	} {
		conn, err := TLSDialer(addr, cfg)(context.Background())
		if err == nil {
			// TLS 1.3 finishes the client's side first; the refusal arrives on read.
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil {
			t.Errorf("%s: the target accepted the connection", name)
		}
	}
	select {
	case <-dialled:
		t.Fatal("the target opened the launcher's socket for an unauthenticated caller")
	case <-time.After(200 * time.Millisecond):
	}
}
