package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"testing"
	"time"
)

func testCA(t *testing.T, now time.Time, validity time.Duration) *CA {
	t.Helper()
	ca, err := NewCA("test-ca", now, validity)
	if err != nil {
		t.Fatal(err)
	}
	// Through PEM and back, as virt-controller reads the mounted Secret.
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseCA(ca.CertPEM(), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return parsed
}

func sign(t *testing.T, ca *CA, lifetime time.Duration, now time.Time) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x", Organization: []string{"dropped"}}, DNSNames: []string{"a.example"}}, key)
	req, _ := x509.ParseCertificateRequest(der)
	out, err := SignServingRequest(ca, req, lifetime, now, false)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(out)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// A signed certificate lives as long as asked, never longer than CertValidity, never
// past its CA, and carries only the request's common name and DNS names.
func TestSignServingRequestBoundsTheLifetime(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	ca := testCA(t, now, CAValidity)
	if c := sign(t, ca, 2*time.Hour, now); !c.NotAfter.Equal(now.Add(2 * time.Hour)) {
		t.Errorf("asked for 2 h, got until %s", c.NotAfter)
	}
	c := sign(t, ca, 10*CAValidity, now)
	if !c.NotAfter.Equal(now.Add(CertValidity)) {
		t.Errorf("asked for ten years, got until %s (want %s)", c.NotAfter, now.Add(CertValidity))
	}
	if len(c.Subject.Organization) != 0 || c.Subject.CommonName != "x" || len(c.DNSNames) != 1 {
		t.Errorf("subject %s, DNS %v: only the common name and DNS names are signed", c.Subject, c.DNSNames)
	}
	shortCA := testCA(t, now, 24*time.Hour)
	if c := sign(t, shortCA, 0, now); !c.NotAfter.Equal(now.Add(24 * time.Hour)) {
		t.Errorf("a CA ending in a day signed a certificate until %s", c.NotAfter)
	}
}
