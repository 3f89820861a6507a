// Package pkitest issues certificates for tests: what a node's virt-handler presents at
// both ends of a mutual-TLS connection, from a CA of the test's own.
package pkitest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"time"

	"github.com/hypernest/hypernest/pkg/pki"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// NodeCertificate is a certificate of ca for commonName, valid an hour either side of
// now, for server and client authentication, naming virt-handler's DNS name.
func NodeCertificate(ca *pki.CA, commonName string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := ca.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		DNSNames:    []string{wiring.HandlerServerName},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, key.Public())
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
