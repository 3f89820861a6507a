package handlercerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/hypernest/hypernest/pkg/pki"
	"github.com/hypernest/hypernest/pkg/wiring"
)

const handlerUser = "system:serviceaccount:kubevirt:" + wiring.HandlerName

func request(t *testing.T, tmpl *x509.CertificateRequest, key any) []byte {
	t.Helper()
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func handlerCSR(t *testing.T, user, tokenNode string, tmpl *x509.CertificateRequest, usages ...certificatesv1.KeyUsage) *certificatesv1.CertificateSigningRequest {
	if usages == nil {
		usages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
	}
	csr := &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{
		SignerName: wiring.HandlerSignerName, Username: user, Usages: usages, Request: request(t, tmpl, nil),
	}}
	if tokenNode != "" {
		csr.Spec.Extra = map[string]certificatesv1.ExtraValue{NodeNameExtra: {tokenNode}}
	}
	return csr
}

func forNode(node string) *x509.CertificateRequest {
	return &x509.CertificateRequest{Subject: pkix.Name{CommonName: wiring.HandlerCommonName(node)}, DNSNames: []string{wiring.HandlerServerName}}
}

func TestCheckSignsOnlyAHandlersOwnNode(t *testing.T) {
	if _, node, err := Check(handlerCSR(t, handlerUser, "node01", forNode("node01")), "kubevirt"); err != nil || node != "node01" {
		t.Fatalf("virt-handler of node01 asking for node01: node %q, %v", node, err)
	}
	withOrg := forNode("node01")
	withOrg.Subject.Organization = []string{"system:masters"}
	withIP := forNode("node01")
	withIP.IPAddresses = []net.IP{net.ParseIP("10.0.0.1")}
	otherDNS := forNode("node01")
	otherDNS.DNSNames = append(otherDNS.DNSNames, "kubernetes.default.svc")
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakKey := handlerCSR(t, handlerUser, "node01", forNode("node01"))
	weakKey.Spec.Request = request(t, forNode("node01"), weak)
	garbage := handlerCSR(t, handlerUser, "node01", forNode("node01"))
	garbage.Spec.Request = []byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")

	for name, tc := range map[string]struct {
		csr  *certificatesv1.CertificateSigningRequest
		want string
	}{
		"another node's certificate":    {handlerCSR(t, handlerUser, "node01", forNode("node02")), `requester runs on node "node01"`},
		"another service account":       {handlerCSR(t, "system:serviceaccount:default:default", "node01", forNode("node01")), "only virt-handler's service account"},
		"virt-handler of another ns":    {handlerCSR(t, "system:serviceaccount:evil:"+wiring.HandlerName, "node01", forNode("node01")), "only virt-handler's service account"},
		"a token bound to no node":      {handlerCSR(t, handlerUser, "", forNode("node01")), "names no node"},
		"an organization in the name":   {handlerCSR(t, handlerUser, "node01", withOrg), "more than a common name"},
		"an IP address":                 {handlerCSR(t, handlerUser, "node01", withIP), "alternative names"},
		"another DNS name":              {handlerCSR(t, handlerUser, "node01", otherDNS), "alternative names"},
		"code signing":                  {handlerCSR(t, handlerUser, "node01", forNode("node01"), certificatesv1.UsageServerAuth, certificatesv1.UsageCodeSigning), `"code signing" is not allowed`},
		"no server auth":                {handlerCSR(t, handlerUser, "node01", forNode("node01"), certificatesv1.UsageDigitalSignature), "must include"},
		"a weak key":                    {weakKey, "too weak"},
		"a request that does not parse": {garbage, "spec.request"},
	} {
		if _, _, err := Check(tc.csr, "kubevirt"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want a refusal saying %q, got %v", name, tc.want, err)
		}
	}
}

// The signed certificate is a server certificate for exactly what was asked, chained to
// the CA, and never outlives it; it authenticates a client only when asked to (the
// migration connections between handlers).
func TestSignedCertificateIsTheNodesServerCertificate(t *testing.T) {
	now := time.Now()
	ca, err := pki.NewCA("test-ca", now, pki.CAValidity)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, clientAuth := range []bool{false, true} {
		req, _, err := Check(handlerCSR(t, handlerUser, "node01", forNode("node01")), "kubevirt")
		if err != nil {
			t.Fatal(err)
		}
		certPEM, err := pki.SignServingRequest(ca, req, 10*365*24*time.Hour, now, clientAuth)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(certPEM)
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: wiring.HandlerServerName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Fatalf("as a server certificate: %v", err)
		}
		_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if clientAuth && err != nil {
			t.Errorf("asked for client auth, the certificate does not authenticate a client: %v", err)
		}
		if !clientAuth && err == nil {
			t.Error("not asked for client auth, the certificate authenticates a client")
		}
		if cert.Subject.CommonName != wiring.HandlerCommonName("node01") {
			t.Errorf("subject %q", cert.Subject.CommonName)
		}
		if cert.NotAfter.After(now.Add(pki.CertValidity)) {
			t.Errorf("a ten-year request got a certificate until %s", cert.NotAfter)
		}
	}
}
