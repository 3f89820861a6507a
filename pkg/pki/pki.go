// Package pki holds what Hypernest's certificate issuers share: the lifetimes, serial
// numbers, making and reading a CA, and signing a checked certificate request.
// virt-operator issues the CA and virt-api's certificate; virt-controller signs each
// virt-handler's, from its node's request (as kube-controller-manager signs kubelets').
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"k8s.io/client-go/util/keyutil"
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

// CA is a certificate authority: its certificate and private key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA makes a CA called commonName with a fresh P-256 key, valid for validity from
// now (backdated by Backdate).
func NewCA(commonName string, now time.Time, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          Serial(),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// ParseCA reads a CA from its PEM certificate and key (a TLS Secret's tls.crt and
// tls.key).
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("the CA's key (%T) cannot sign", pair.PrivateKey)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CertPEM is the CA's certificate as PEM.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// KeyPEM is the CA's private key as PEM.
func (ca *CA) KeyPEM() ([]byte, error) {
	return keyutil.MarshalPrivateKeyToPEM(ca.Key)
}

// Issue signs tmpl for the public key pub and returns the certificate's DER; a template
// without a serial number gets a random one.
func (ca *CA) Issue(tmpl *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = Serial()
	}
	return x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
}

// SignServingRequest signs req, already checked by the caller, with ca: a server
// certificate for exactly the request's common name and DNS names, valid for lifetime
// (at most CertValidity, and never past the CA) from now; with clientAuth it also
// authenticates its holder as a TLS client (virt-handler's migration connections to
// another node's). It returns the certificate as PEM.
func SignServingRequest(ca *CA, req *x509.CertificateRequest, lifetime time.Duration, now time.Time, clientAuth bool) ([]byte, error) {
	if lifetime <= 0 || lifetime > CertValidity {
		lifetime = CertValidity
	}
	notAfter := now.Add(lifetime)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	usages := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if clientAuth {
		usages = append(usages, x509.ExtKeyUsageClientAuth)
	}
	der, err := ca.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: req.Subject.CommonName},
		DNSNames:    req.DNSNames,
		NotBefore:   now.Add(-Backdate),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: usages,
	}, req.PublicKey)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
