package install

import (
	"github.com/hypernest/hypernest/pkg/pki"
	"github.com/hypernest/hypernest/pkg/wiring"

	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/keyutil"
)

// CASecretName holds the CA that signs every Hypernest certificate (tls.crt, tls.key).
const CASecretName = wiring.CASecretName

// NeedsRenewal reports whether a certificate Secret is missing, unreadable, not signed by
// ca, or in the last third of its life.
func NeedsRenewal(secret *k8sv1.Secret, ca *x509.Certificate, now time.Time) bool {
	if secret == nil {
		return true
	}
	cert, err := parseCert(secret.Data[k8sv1.TLSCertKey])
	if err != nil {
		return true
	}
	if ca != nil && cert.CheckSignatureFrom(ca) != nil {
		return true
	}
	life := cert.NotAfter.Sub(cert.NotBefore)
	return now.After(cert.NotAfter.Add(-life / 3))
}

// NewCASecret makes a fresh CA.
func NewCASecret(namespace string, now time.Time) (*k8sv1.Secret, error) {
	ca, err := pki.NewCA("hypernest-ca@"+fmt.Sprint(now.Unix()), now, pki.CAValidity)
	if err != nil {
		return nil, err
	}
	return tlsSecret(namespace, CASecretName, ca.Cert.Raw, ca.Key, ca.Cert.Raw)
}

// IssueSecret signs a certificate with the CA in caSecret: a server certificate for
// dnsNames that also serves as a client certificate named commonName.
func IssueSecret(namespace, name string, caSecret *k8sv1.Secret, commonName string, dnsNames []string, now time.Time) (*k8sv1.Secret, error) {
	ca, err := pki.ParseCA(caSecret.Data[k8sv1.TLSCertKey], caSecret.Data[k8sv1.TLSPrivateKeyKey])
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", CASecretName, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := ca.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		DNSNames:    dnsNames,
		NotBefore:   now.Add(-pki.Backdate),
		NotAfter:    now.Add(pki.CertValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, key.Public())
	if err != nil {
		return nil, err
	}
	return tlsSecret(namespace, name, der, key, ca.Cert.Raw)
}

// CACertificate parses the CA Secret's certificate.
func CACertificate(caSecret *k8sv1.Secret) (*x509.Certificate, error) {
	return parseCert(caSecret.Data[k8sv1.TLSCertKey])
}

// APIDNSNames are the names virt-api's Service answers to.
func APIDNSNames(namespace string) []string {
	return []string{wiring.APIName + "." + namespace + ".svc", wiring.APIName + "." + namespace + ".svc.cluster.local"}
}

func tlsSecret(namespace, name string, der []byte, key crypto.Signer, caDER []byte) (*k8sv1.Secret, error) {
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, err
	}
	return &k8sv1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: componentLabels("virt-operator")},
		Type:       k8sv1.SecretTypeTLS,
		Data: map[string][]byte{
			k8sv1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			k8sv1.TLSPrivateKeyKey: keyPEM,
			wiring.CABundleKey:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		},
	}, nil
}

func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}
