package install

import (
	"github.com/hypernest/hypernest/pkg/wiring"

	"bytes"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PKI returns the CA and certificate Secrets a Hypernest installation needs: those in
// existing that are still good, and new ones for the rest. A new CA re-issues every
// certificate. changed reports whether any Secret is new.
func PKI(namespace string, existing map[string]*k8sv1.Secret, now time.Time) (secrets []*k8sv1.Secret, changed bool, err error) {
	ca := existing[CASecretName]
	if ca == nil || NeedsRenewal(ca, nil, now) {
		if ca, err = NewCASecret(namespace, now); err != nil {
			return nil, false, err
		}
		changed = true
	}
	parsedCA, err := CACertificate(ca)
	if err != nil {
		return nil, false, err
	}
	issue := func(name, commonName string, dnsNames []string) (*k8sv1.Secret, error) {
		if s := existing[name]; s != nil && !NeedsRenewal(s, parsedCA, now) {
			return s, nil
		}
		changed = true
		return IssueSecret(namespace, name, ca, commonName, dnsNames, now)
	}
	api, err := issue(wiring.APICertSecretName, wiring.APIClientName, append(APIDNSNames(namespace), wiring.APIClientName))
	if err != nil {
		return nil, false, err
	}
	// virt-handlers get their certificates one by one, through the CSR signer
	// (HandlerSigner); they need only the CA.
	handlerCA := HandlerCASecret(namespace, ca)
	if old := existing[wiring.HandlerCASecretName]; old == nil || !bytes.Equal(old.Data[wiring.CABundleKey], handlerCA.Data[wiring.CABundleKey]) {
		changed = true
	}
	return []*k8sv1.Secret{ca, api, handlerCA}, changed, nil
}

// HandlerCASecret is the Secret virt-handler mounts: the CA certificate alone.
func HandlerCASecret(namespace string, ca *k8sv1.Secret) *k8sv1.Secret {
	return &k8sv1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: wiring.HandlerCASecretName, Namespace: namespace, Labels: componentLabels("virt-operator")},
		Type:       k8sv1.SecretTypeOpaque,
		Data:       map[string][]byte{wiring.CABundleKey: ca.Data[k8sv1.TLSCertKey]},
	}
}

// CABundle is the PEM CA certificate webhooks and the APIService trust.
func CABundle(pki []*k8sv1.Secret) []byte {
	for _, s := range pki {
		if s.Name == CASecretName {
			return s.Data[k8sv1.TLSCertKey]
		}
	}
	return nil
}

// Objects are every namespaced and cluster object of an installation but the CRDs and
// the namespace itself, given its PKI.
func Objects(cfg Config, pki []*k8sv1.Secret) []client.Object {
	var objs []client.Object
	for _, s := range pki {
		objs = append(objs, s)
	}
	sa, role, binding, ds := HandlerObjects(cfg)
	configRole, configBinding := configReaderRBAC(cfg, wiring.HandlerName, componentLabels(wiring.HandlerName))
	objs = append(objs, sa, role, binding, configRole, configBinding, ds)
	objs = append(objs, ControllerObjects(cfg)...)
	objs = append(objs, APIObjects(cfg, CABundle(pki))...)
	objs = append(objs, UserRoles()...)
	objs = append(objs, PrometheusService(cfg))
	return objs
}
