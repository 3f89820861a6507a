// Package servingcert keeps virt-handler's own certificate: one per node, naming it
// (wiring.HandlerCommonName), serving virt-api's calls and authenticating the node to
// another node's handler in a live migration, asked for through a CertificateSigningRequest that only
// virt-controller signs, and renewed before it expires by client-go's certificate manager
// (the kubelet's, for its own serving certificate). The key never leaves this process.
package servingcert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/certificate"

	"github.com/hypernest/hypernest/pkg/wiring"
)

// caCheckInterval: how often the mounted CA is compared with the certificate. The
// kubelet refreshes a Secret volume about once a minute, so a CA that virt-operator
// renewed reaches the handler within two.
const caCheckInterval = 30 * time.Second

// Source holds the node's certificate.
type Source struct {
	Log      logr.Logger
	Client   kubernetes.Interface
	NodeName string
	// CAFile is the CA the certificate must chain to (wiring.HandlerCASecretName).
	CAFile string

	mu       sync.Mutex
	manager  certificate.Manager
	lastCA   []byte
	received bool
}

// Start asks for a certificate and keeps one until ctx ends; a new CA (virt-operator
// renews it yearly) makes it ask again at once. A manager.Runnable.
func (s *Source) Start(ctx context.Context) error {
	if err := s.restart(); err != nil {
		return err
	}
	s.Log.Info("asked virt-controller for this node's certificate", "signer", wiring.HandlerSignerName, "subject", wiring.HandlerCommonName(s.NodeName))
	tick := time.NewTicker(caCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.manager.Stop()
			s.mu.Unlock()
			return nil
		case <-tick.C:
			s.checkCA()
		}
	}
}

func (s *Source) restart() error {
	m, err := certificate.NewManager(&certificate.Config{
		ClientsetFn: func(*tls.Certificate) (kubernetes.Interface, error) { return s.Client, nil },
		Template: &x509.CertificateRequest{
			Subject:  pkix.Name{CommonName: wiring.HandlerCommonName(s.NodeName)},
			DNSNames: []string{wiring.HandlerServerName},
		},
		SignerName:       wiring.HandlerSignerName,
		Usages:           []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth, certificatesv1.UsageClientAuth},
		CertificateStore: &memoryStore{},
		Name:             "virt-handler-serving",
	})
	if err != nil {
		return fmt.Errorf("this node's certificate manager: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.manager != nil {
		s.manager.Stop()
	}
	s.manager = m
	m.Start()
	return nil
}

// checkCA asks for a new certificate when the mounted CA no longer signs the current one.
func (s *Source) checkCA() {
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		s.Log.Error(err, "reading the CA: virt-api's calls cannot be checked; is Secret "+wiring.HandlerCASecretName+" there?")
		return
	}
	cert := s.current()
	if cert == nil {
		return
	}
	if !s.received {
		s.received = true
		s.Log.Info("received this node's certificate", "subject", cert.Leaf.Subject.CommonName, "notAfter", cert.Leaf.NotAfter)
	}
	if bytes.Equal(ca, s.lastCA) {
		return
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		s.Log.Info("no certificate in the mounted CA file; keeping the current certificate", "file", s.CAFile)
		return
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		s.lastCA = ca
		return
	}
	s.Log.Info("the CA changed: asking for a certificate from the new one")
	s.lastCA = ca
	if err := s.restart(); err != nil {
		s.Log.Error(err, "asking for a new certificate")
	}
}

func (s *Source) current() *tls.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.manager == nil {
		return nil
	}
	return s.manager.Current()
}

// GetCertificate serves the current certificate (tls.Config.GetCertificate).
func (s *Source) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := s.current(); cert != nil {
		return cert, nil
	}
	return nil, fmt.Errorf("no certificate for node %s yet: virt-controller has not signed its request; see kubectl get csr, and kubectl -n kubevirt logs deploy/virt-controller", s.NodeName)
}

// Ready is a readiness check: the handler cannot serve virt-api before it has a certificate.
func (s *Source) Ready(*http.Request) error {
	_, err := s.GetCertificate(nil)
	return err
}

// memoryStore keeps the certificate and its key in memory only: a restarted handler asks
// anew (Kubernetes removes issued requests after an hour).
type memoryStore struct {
	mu   sync.Mutex
	cert *tls.Certificate
}

func (m *memoryStore) Current() (*tls.Certificate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cert == nil {
		noCert := certificate.NoCertKeyError("no certificate yet")
		return nil, &noCert
	}
	return m.cert, nil
}

func (m *memoryStore) Update(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cert = &cert
	return &cert, nil
}
