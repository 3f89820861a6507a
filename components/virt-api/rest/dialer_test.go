package rest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hypernest/hypernest/pkg/pki"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// handlerServer serves HTTPS with a certificate for commonName from a fresh CA, and
// returns the CA's PEM.
func handlerServer(t *testing.T, commonName string) (*httptest.Server, []byte) {
	t.Helper()
	ca, err := pki.NewCA("test-ca", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := ca.Issue(&x509.Certificate{Subject: pkix.Name{CommonName: commonName},
		DNSNames: []string{wiring.HandlerServerName}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, ca.CertPEM()
}

func get(t *testing.T, d *HandlerDialer, node, url string) error {
	t.Helper()
	cfg, err := d.tlsConfig(node)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err == nil {
		_ = resp.Body.Close()
	}
	return err
}

// virt-api talks to a VMI's virt-handler only when its certificate names the VMI's node:
// another node's handler, with a good certificate of its own, is refused.
func TestDialerAcceptsOnlyTheHandlerOfTheVMIsNode(t *testing.T) {
	srv, caPEM := handlerServer(t, wiring.HandlerCommonName("node01"))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, wiring.CABundleKey), caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	d := &HandlerDialer{ServerName: wiring.HandlerServerName, CertDir: dir}
	if err := get(t, d, "node01", srv.URL); err != nil {
		t.Fatalf("node01's handler for a VMI on node01: %v", err)
	}
	err := get(t, d, "node02", srv.URL)
	if err == nil || !strings.Contains(err.Error(), `for "kubevirt.io:virt-handler:node01", not "kubevirt.io:virt-handler:node02"`) {
		t.Fatalf("node01's handler answering for node02 must be refused naming both, got %v", err)
	}
}
