package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
)

const (
	timeout = 60 * time.Second
	poll    = 250 * time.Millisecond
	ns      = "e2e"
)

// TestCertManager starts etcd and kube-apiserver, installs cert-manager's CRDs and
// manifest.yaml's RBAC, runs run() as manifest.yaml's service account and checks what
// Cluster API's providers rely on: self-signed and CA issuance, and CA injection.
func TestCertManager(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set; point it at etcd and kube-apiserver (hack/kube-binaries.sh --print)")
	}
	g := NewWithT(t)

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(certManagerModuleDir(t), "deploy", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred(), "starting etcd and kube-apiserver")
	t.Cleanup(func() { _ = env.Stop() })
	g.Expect(env.CRDs).To(HaveLen(6), "cert-manager's CRDs installed")

	scheme := runtime.NewScheme()
	utilruntime.Must(kscheme.AddToScheme(scheme))
	utilruntime.Must(cmscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ctx := t.Context()

	applyManifest(t, admin)

	// The service account's user name and groups: RBAC matches ServiceAccount subjects
	// by name, so the controllers get exactly manifest.yaml's permissions.
	sa, err := env.AddUser(envtest.User{
		Name:   "system:serviceaccount:cert-manager:cert-manager",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:cert-manager"},
	}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := sa.KubeConfig()
	g.Expect(err).NotTo(HaveOccurred())
	kubeconfigPath := filepath.Join(t.TempDir(), "kubeconfig")
	g.Expect(os.WriteFile(kubeconfigPath, kubeconfig, 0o600)).To(Succeed())

	healthAddr := freeAddress(t)
	runCtx, stop := context.WithCancel(ctx)
	exited := make(chan struct{})
	var runErr error
	go func() {
		defer close(exited)
		runErr = run(runCtx, options{
			kubeconfig:               kubeconfigPath,
			clusterResourceNamespace: "cert-manager",
			healthProbeAddr:          healthAddr,
			workers:                  2,
		})
	}()
	t.Cleanup(func() {
		stop()
		select {
		case <-exited:
			if runErr != nil {
				t.Errorf("run returned an error on shutdown: %v", runErr)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("run did not return within 30s of its context ending")
		}
	})
	// alive fails a poll for good once run has returned: nothing would change after.
	alive := func(g Gomega) {
		select {
		case <-exited:
			StopTrying(fmt.Sprintf("run returned before its context ended: %v", runErr)).Now()
		default:
		}
	}

	t.Run("readyz", func(t *testing.T) {
		NewWithT(t).Eventually(func(g Gomega) {
			alive(g)
			resp, err := http.Get("http://" + healthAddr + "/readyz")
			g.Expect(err).NotTo(HaveOccurred())
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			g.Expect(resp.StatusCode).To(Equal(http.StatusOK), "readyz: %s", body)
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	})

	g.Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())

	selfSigned := cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}}
	t.Run("self-signed Issuer and ClusterIssuer become Ready", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(admin.Create(ctx, &cmapi.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "selfsigned"}, Spec: selfSigned})).To(Succeed())
		g.Expect(admin.Create(ctx, &cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "selfsigned"}, Spec: selfSigned})).To(Succeed())
		g.Eventually(func(g Gomega) {
			alive(g)
			var iss cmapi.Issuer
			g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "selfsigned"}, &iss)).To(Succeed())
			expectReady(g, iss.Status.Conditions)
			var ciss cmapi.ClusterIssuer
			g.Expect(admin.Get(ctx, client.ObjectKey{Name: "selfsigned"}, &ciss)).To(Succeed())
			expectReady(g, ciss.Status.Conditions)
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	})

	var rootCA *x509.Certificate
	var rootPEM []byte
	t.Run("self-signed CA Certificate is issued", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(admin.Create(ctx, &cmapi.Certificate{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "root-ca"},
			Spec: cmapi.CertificateSpec{
				IsCA:       true,
				CommonName: "hypernest-e2e-root",
				SecretName: "root-ca",
				PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
				IssuerRef:  cmmeta.IssuerReference{Kind: cmapi.IssuerKind, Name: "selfsigned"},
			},
		})).To(Succeed())
		secret := waitForCertificate(t, admin, alive, "root-ca", "root-ca")
		g.Expect(string(secret.Data[corev1.ServiceAccountRootCAKey])).To(Equal(string(secret.Data[corev1.TLSCertKey])), "a self-signed certificate is its own CA")
		rootPEM = secret.Data[corev1.TLSCertKey]
		rootCA = parseCert(g, rootPEM)
		g.Expect(rootCA.IsCA).To(BeTrue())
		g.Expect(rootCA.Subject.CommonName).To(Equal("hypernest-e2e-root"))
		g.Expect(rootCA.CheckSignatureFrom(rootCA)).To(Succeed(), "self-signed")
	})
	if rootCA == nil {
		t.FailNow()
	}

	t.Run("CA Issuer issues a serving Certificate", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(admin.Create(ctx, &cmapi.Issuer{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ca"},
			Spec:       cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: "root-ca"}}},
		})).To(Succeed())
		g.Eventually(func(g Gomega) {
			alive(g)
			var iss cmapi.Issuer
			g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ca"}, &iss)).To(Succeed())
			expectReady(g, iss.Status.Conditions)
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		g.Expect(admin.Create(ctx, &cmapi.Certificate{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "serving"},
			Spec: cmapi.CertificateSpec{
				DNSNames:   []string{"webhook.e2e.svc", "webhook.e2e.svc.cluster.local"},
				SecretName: "serving-tls",
				IssuerRef:  cmmeta.IssuerReference{Kind: cmapi.IssuerKind, Name: "ca"},
			},
		})).To(Succeed())
		secret := waitForCertificate(t, admin, alive, "serving", "serving-tls")
		g.Expect(string(secret.Data[corev1.ServiceAccountRootCAKey])).To(Equal(string(rootPEM)), "ca.crt is the CA Issuer's certificate")
		leaf := parseCert(g, secret.Data[corev1.TLSCertKey])
		g.Expect(leaf.IsCA).To(BeFalse())
		g.Expect(leaf.DNSNames).To(ConsistOf("webhook.e2e.svc", "webhook.e2e.svc.cluster.local"))
		roots := x509.NewCertPool()
		roots.AddCert(rootCA)
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "webhook.e2e.svc"})
		g.Expect(err).NotTo(HaveOccurred(), "the serving certificate chains to the CA")
	})

	inject := map[string]string{"cert-manager.io/inject-ca-from": ns + "/serving"}
	t.Run("cainjector fills webhook configurations and a CRD's conversion webhook", func(t *testing.T) {
		g := NewWithT(t)
		var serving corev1.Secret
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "serving-tls"}, &serving)).To(Succeed())
		want := serving.Data[corev1.ServiceAccountRootCAKey]
		g.Expect(want).NotTo(BeEmpty())

		svc := &admissionregistrationv1.ServiceReference{Namespace: ns, Name: "webhook", Path: ptr.To("/validate")}
		// Matches only objects carrying a label nothing has, and ignores failures: the
		// webhook's service does not exist.
		selector := &metav1.LabelSelector{MatchLabels: map[string]string{"e2e.hypernest.io/never": "true"}}
		rules := []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
		}}
		g.Expect(admin.Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e", Annotations: inject},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name:                    "validate.e2e.hypernest.io",
				ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: svc},
				Rules:                   rules,
				ObjectSelector:          selector,
				FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
				SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
				AdmissionReviewVersions: []string{"v1"},
			}},
		})).To(Succeed())
		g.Expect(admin.Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e", Annotations: inject},
			Webhooks: []admissionregistrationv1.MutatingWebhook{{
				Name:                    "mutate.e2e.hypernest.io",
				ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: svc},
				Rules:                   rules,
				ObjectSelector:          selector,
				FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
				SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
				AdmissionReviewVersions: []string{"v1"},
			}},
		})).To(Succeed())
		g.Expect(admin.Create(ctx, widgetCRD(inject))).To(Succeed())

		g.Eventually(func(g Gomega) {
			alive(g)
			var vwc admissionregistrationv1.ValidatingWebhookConfiguration
			g.Expect(admin.Get(ctx, client.ObjectKey{Name: "e2e"}, &vwc)).To(Succeed())
			g.Expect(string(vwc.Webhooks[0].ClientConfig.CABundle)).To(Equal(string(want)), "ValidatingWebhookConfiguration caBundle")
			var mwc admissionregistrationv1.MutatingWebhookConfiguration
			g.Expect(admin.Get(ctx, client.ObjectKey{Name: "e2e"}, &mwc)).To(Succeed())
			g.Expect(string(mwc.Webhooks[0].ClientConfig.CABundle)).To(Equal(string(want)), "MutatingWebhookConfiguration caBundle")
			var crd apiextensionsv1.CustomResourceDefinition
			g.Expect(admin.Get(ctx, client.ObjectKey{Name: "widgets.e2e.hypernest.io"}, &crd)).To(Succeed())
			g.Expect(string(crd.Spec.Conversion.Webhook.ClientConfig.CABundle)).To(Equal(string(want)), "CRD conversion webhook caBundle")
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	})
}

// waitForCertificate waits for the Certificate to be Ready and returns its Secret,
// checked to hold a usable key pair and the CA.
func waitForCertificate(t *testing.T, c client.Client, alive func(Gomega), name, secretName string) *corev1.Secret {
	t.Helper()
	var secret corev1.Secret
	NewWithT(t).Eventually(func(g Gomega) {
		alive(g)
		var crt cmapi.Certificate
		g.Expect(c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &crt)).To(Succeed())
		expectReady(g, crt.Status.Conditions)
		g.Expect(c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: secretName}, &secret)).To(Succeed())
		for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, corev1.ServiceAccountRootCAKey} {
			g.Expect(secret.Data).To(HaveKeyWithValue(k, Not(BeEmpty())), "Secret %s key %s", secretName, k)
		}
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	_, err := tls.X509KeyPair(secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey])
	NewWithT(t).Expect(err).NotTo(HaveOccurred(), "tls.crt and tls.key of %s are one key pair", secretName)
	return &secret
}

func expectReady[C cmapi.CertificateCondition | cmapi.IssuerCondition](g Gomega, conditions []C) {
	for _, c := range conditions {
		var typ, status, reason, message string
		switch c := any(c).(type) {
		case cmapi.CertificateCondition:
			typ, status, reason, message = string(c.Type), string(c.Status), c.Reason, c.Message
		case cmapi.IssuerCondition:
			typ, status, reason, message = string(c.Type), string(c.Status), c.Reason, c.Message
		}
		if typ == "Ready" {
			g.Expect(status).To(Equal("True"), "Ready condition: %s: %s", reason, message)
			return
		}
	}
	g.Expect(conditions).To(ContainElement(HaveField("Type", BeEquivalentTo("Ready"))), "no Ready condition yet")
}

func parseCert(g Gomega, data []byte) *x509.Certificate {
	block, _ := pem.Decode(data)
	g.Expect(block).NotTo(BeNil(), "PEM certificate")
	cert, err := x509.ParseCertificate(block.Bytes)
	g.Expect(err).NotTo(HaveOccurred())
	return cert
}

// widgetCRD is a CRD whose conversion webhook asks for the serving certificate's CA.
func widgetCRD(annotations map[string]string) *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.e2e.hypernest.io", Annotations: annotations},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "e2e.hypernest.io",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type:       "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": {Type: "object", XPreserveUnknownFields: ptr.To(true)}},
				}},
			}},
			Conversion: &apiextensionsv1.CustomResourceConversion{
				Strategy: apiextensionsv1.WebhookConverter,
				Webhook: &apiextensionsv1.WebhookConversion{
					ConversionReviewVersions: []string{"v1"},
					ClientConfig: &apiextensionsv1.WebhookClientConfig{Service: &apiextensionsv1.ServiceReference{
						Namespace: ns, Name: "webhook", Path: ptr.To("/convert"),
					}},
				},
			},
		},
	}
}

// applyManifest creates every object of manifest.yaml, so the API server validates
// the Deployment too and the RBAC under test is the shipped one.
func applyManifest(t *testing.T, c client.Client) {
	t.Helper()
	data, err := os.ReadFile("manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte("__CERT_MANAGER_IMAGE__"), []byte("localhost/hypernest/cert-manager:test"))
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var kinds []string
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("manifest.yaml: %v", err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if err := c.Create(t.Context(), &obj); err != nil {
			t.Fatalf("creating %s %s from manifest.yaml: %v", obj.GetKind(), obj.GetName(), err)
		}
		kinds = append(kinds, obj.GetKind())
	}
	if want := "Namespace ServiceAccount ClusterRole ClusterRoleBinding Deployment"; strings.Join(kinds, " ") != want {
		t.Fatalf("manifest.yaml holds %v, want %s", kinds, want)
	}
}

// certManagerModuleDir is where the go command keeps the cert-manager module we build
// against: its deploy/crds are the CRDs the controllers were written for.
func certManagerModuleDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager").Output()
	if err != nil {
		t.Fatalf("locating the cert-manager module: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("the cert-manager module is not downloaded; run go mod download")
	}
	return dir
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprintf("127.0.0.1:%d", l.Addr().(*net.TCPAddr).Port)
}
