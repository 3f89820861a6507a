package servingcert

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hypernest/hypernest/pkg/pki"
	"github.com/hypernest/hypernest/pkg/pki/pkitest"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// handshake runs a TLS handshake between the two configs over a pipe and returns the
// server's and the client's errors.
func handshake(server, client *tls.Config) (error, error) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	_ = a.SetDeadline(time.Now().Add(10 * time.Second))
	_ = b.SetDeadline(time.Now().Add(10 * time.Second))
	serverErr := make(chan error, 1)
	go func() {
		c := tls.Server(a, server)
		err := c.Handshake()
		if err == nil {
			// TLS 1.3: the client's certificate is checked after the client's side ended;
			// a read makes the server report its verdict to the client.
			_, _ = c.Write([]byte("x"))
		}
		serverErr <- err
		c.Close()
	}()
	c := tls.Client(b, client)
	err := c.Handshake()
	if err == nil {
		_, err = c.Read(make([]byte, 1))
	}
	c.Close()
	return <-serverErr, err
}

// Only the migration's two nodes reach each other: the target accepts the source node's
// handler alone, the source talks to the target node's handler alone, both chained to
// the handlers' CA.
func TestMigrationTLSAcceptsOnlyTheMigrationsNodes(t *testing.T) {
	ca, err := pki.NewCA("handlers", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("someone else", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	certOf := func(ca *pki.CA, node string) certificateFunc {
		cert, err := pkitest.NodeCertificate(ca, wiring.HandlerCommonName(node))
		if err != nil {
			t.Fatal(err)
		}
		return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	target := migrationServerConfig(certOf(ca, "node02"), roots, "node01")

	if serverErr, clientErr := handshake(target, migrationClientConfig(certOf(ca, "node01"), roots, "node02")); serverErr != nil || clientErr != nil {
		t.Fatalf("the migration's source and target: server %v, client %v", serverErr, clientErr)
	}
	for name, tc := range map[string]struct {
		server, client *tls.Config
		want           string
	}{
		"a third node's handler dials the target": {target, migrationClientConfig(certOf(ca, "node03"), roots, "node02"), `"kubevirt.io:virt-handler:node03", not "kubevirt.io:virt-handler:node01"`},
		"a certificate of another CA":             {target, migrationClientConfig(certOf(other, "node01"), roots, "node02"), "unknown authority"},
		"the source reaches another node":         {migrationServerConfig(certOf(ca, "node03"), roots, "node01"), migrationClientConfig(certOf(ca, "node01"), roots, "node02"), `"kubevirt.io:virt-handler:node03", not "kubevirt.io:virt-handler:node02"`},
	} {
		serverErr, clientErr := handshake(tc.server, tc.client)
		if serverErr == nil && clientErr == nil {
			t.Errorf("%s: the handshake succeeded", name)
			continue
		}
		if got := errString(serverErr) + " | " + errString(clientErr); !strings.Contains(got, tc.want) {
			t.Errorf("%s: got %s; want an error saying %s", name, got, tc.want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
