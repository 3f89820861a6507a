// Package pki holds what Hypernest's certificate issuers share: the lifetimes, serial
// numbers, and signing a checked certificate request. virt-operator issues the CA and
// virt-api's certificate; virt-controller signs each virt-handler's, from its node's
// request (as kube-controller-manager signs kubelets').
package pki

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// Lifetimes: KubeVirt's defaults (a 7-day CA and 24 h certificates, renewed at 80 % of
// their life) would rotate within a long test run; Hypernest keeps the CA a year and
// certificates 30 days. virt-operator renews its certificates when less than a third of
// the life is left; virt-handler's certificate manager at 70-90 % of it.
const (
	CAValidity   = 365 * 24 * time.Hour
	CertValidity = 30 * 24 * time.Hour
)

// Backdate starts a certificate's validity this far before it is signed, to tolerate
// clock skew between nodes.
const Backdate = time.Hour

// Serial is a random 127-bit certificate serial number.
func Serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

// SignServingRequest signs req, already checked by the caller, with the CA (PEM
// certificate and key): a server certificate for exactly the request's common name and
// DNS names, valid for lifetime (at most CertValidity, and never past the CA) from now.
// It returns the certificate as PEM.
func SignServingRequest(caCertPEM, caKeyPEM []byte, req *x509.CertificateRequest, lifetime time.Duration, now time.Time) ([]byte, error) {
	ca, err := tls.X509KeyPair(caCertPEM, caKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("the CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return nil, err
	}
	if lifetime <= 0 || lifetime > CertValidity {
		lifetime = CertValidity
	}
	notAfter := now.Add(lifetime)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: Serial(),
		Subject:      pkix.Name{CommonName: req.Subject.CommonName},
		DNSNames:     req.DNSNames,
		NotBefore:    now.Add(-Backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, req.PublicKey, ca.PrivateKey)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
