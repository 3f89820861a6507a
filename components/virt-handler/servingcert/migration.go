package servingcert

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/hypernest/hypernest/pkg/wiring"
)

// MigrationServerConfig is the TLS the target node's handler listens with for a live
// migration: it presents this node's certificate and accepts only a client presenting
// the certificate of sourceNode's handler, chained to the handlers' CA. Nobody else, not
// even another node's handler, can feed a guest into this node's launcher.
func (s *Source) MigrationServerConfig(sourceNode string) (*tls.Config, error) {
	roots, err := s.roots()
	if err != nil {
		return nil, err
	}
	return migrationServerConfig(s.GetCertificate, roots, sourceNode), nil
}

// MigrationClientConfig is the TLS the source node's handler dials the target's with: it
// presents this node's certificate and accepts only the certificate of targetNode's
// handler.
func (s *Source) MigrationClientConfig(targetNode string) (*tls.Config, error) {
	roots, err := s.roots()
	if err != nil {
		return nil, err
	}
	return migrationClientConfig(s.GetCertificate, roots, targetNode), nil
}

// certificateFunc gives this node's current certificate.
type certificateFunc func(*tls.ClientHelloInfo) (*tls.Certificate, error)

func migrationServerConfig(cert certificateFunc, roots *x509.CertPool, sourceNode string) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		GetCertificate:   cert,
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        roots,
		VerifyConnection: peerIs(wiring.HandlerCommonName(sourceNode)),
	}
}

func migrationClientConfig(cert certificateFunc, roots *x509.CertPool, targetNode string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return cert(nil)
		},
		RootCAs:          roots,
		ServerName:       wiring.HandlerServerName,
		VerifyConnection: peerIs(wiring.HandlerCommonName(targetNode)),
	}
}

// roots is the handlers' CA, read anew each time: virt-operator renews it.
func (s *Source) roots() (*x509.CertPool, error) {
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("reading the handlers' CA for a migration connection (is Secret %s mounted?): %w", wiring.HandlerCASecretName, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s (Secret %s)", s.CAFile, wiring.HandlerCASecretName)
	}
	return pool, nil
}

// peerIs checks, after the chain was verified, that the peer's certificate names the
// expected node's handler.
func peerIs(commonName string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the peer presented no certificate")
		}
		if got := cs.PeerCertificates[0].Subject.CommonName; got != commonName {
			return fmt.Errorf("the peer is %q, not %q: only the migration's other node may connect", got, commonName)
		}
		return nil
	}
}
