package install

import (
	"github.com/hypernest/hypernest/pkg/wiring"

	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	k8sv1 "k8s.io/api/core/v1"
)

func byName(secrets []*k8sv1.Secret) map[string]*k8sv1.Secret {
	out := map[string]*k8sv1.Secret{}
	for _, s := range secrets {
		out[s.Name] = s
	}
	return out
}

func TestPKIIssuesVerifiableCertificates(t *testing.T) {
	now := time.Now()
	pki, changed, err := PKI("kubevirt", nil, now)
	if err != nil || !changed || len(pki) != 3 {
		t.Fatalf("PKI from nothing: %d secrets, changed=%v, err=%v", len(pki), changed, err)
	}
	s := byName(pki)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(CABundle(pki)) {
		t.Fatal("no CA bundle")
	}
	for name, dns := range map[string]string{wiring.APICertSecretName: "virt-api.kubevirt.svc"} {
		pair, err := tls.X509KeyPair(s[name].Data[k8sv1.TLSCertKey], s[name].Data[k8sv1.TLSPrivateKeyKey])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		leaf, _ := x509.ParseCertificate(pair.Certificate[0])
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: dns, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("%s for %s (usage %v): %v", name, dns, usage, err)
			}
		}
	}
	if s[wiring.APICertSecretName].Data[wiring.CABundleKey] == nil || string(s[wiring.APICertSecretName].Data[wiring.CABundleKey]) != string(CABundle(pki)) {
		t.Error("each certificate Secret carries the CA that signed it")
	}
	handlerCA := s[wiring.HandlerCASecretName]
	if handlerCA == nil || string(handlerCA.Data[wiring.CABundleKey]) != string(CABundle(pki)) || len(handlerCA.Data) != 1 {
		t.Errorf("virt-handler's Secret holds the CA certificate and nothing else: %v", handlerCA)
	}
}

func TestPKIKeepsGoodSecretsAndRenewsOldOnes(t *testing.T) {
	now := time.Now()
	first, _, err := PKI("kubevirt", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	again, changed, err := PKI("kubevirt", byName(first), now.Add(24*time.Hour))
	if err != nil || changed {
		t.Fatalf("a day later nothing is due: changed=%v err=%v", changed, err)
	}
	if string(byName(again)[wiring.APICertSecretName].Data[k8sv1.TLSCertKey]) != string(byName(first)[wiring.APICertSecretName].Data[k8sv1.TLSCertKey]) {
		t.Fatal("a good certificate was replaced")
	}

	// 25 of 30 days: in the last third of its life, the certificate is renewed, the CA kept.
	later, changed, err := PKI("kubevirt", byName(first), now.Add(25*24*time.Hour))
	if err != nil || !changed {
		t.Fatalf("renewal due: changed=%v err=%v", changed, err)
	}
	if string(CABundle(later)) != string(CABundle(first)) {
		t.Fatal("the CA was replaced although it is good")
	}
	if string(byName(later)[wiring.APICertSecretName].Data[k8sv1.TLSCertKey]) == string(byName(first)[wiring.APICertSecretName].Data[k8sv1.TLSCertKey]) {
		t.Fatal("the old certificate was kept")
	}

	// A new CA (here: the old one lost) re-issues every certificate.
	lost := byName(first)
	delete(lost, CASecretName)
	fresh, _, err := PKI("kubevirt", lost, now)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := CACertificate(byName(fresh)[CASecretName])
	if NeedsRenewal(byName(fresh)[wiring.APICertSecretName], ca, now) {
		t.Errorf("%s is not signed by the new CA", wiring.APICertSecretName)
	}
	if string(byName(fresh)[wiring.HandlerCASecretName].Data[wiring.CABundleKey]) != string(CABundle(fresh)) {
		t.Error("virt-handler's Secret does not carry the new CA")
	}
}
