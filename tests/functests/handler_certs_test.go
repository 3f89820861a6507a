package functests

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// nodeNameExtra: the user information a pod-bound service account token carries.
const nodeNameExtra = "authentication.kubernetes.io/node-name"

var _ = Describe("virt-handler certificates: one per node, signed only for that node", func() {
	var handlerUser string
	BeforeEach(func(ctx SpecContext) {
		installHypernest(ctx)
		handlerUser = "system:serviceaccount:" + installCfg.Namespace + ":" + wiring.HandlerName
	})

	It("gives a new virt-handler pod a certificate naming its node, asked for with its own pod's token; no key is shared", func(ctx SpecContext) {
		By("deleting the virt-handler pod: its replacement asks for a certificate of its own")
		pods := &k8sv1.PodList{}
		Expect(crClient.List(ctx, pods, client.InNamespace(installCfg.Namespace), client.MatchingLabels{v1.AppLabel: wiring.HandlerName})).To(Succeed())
		Expect(pods.Items).NotTo(BeEmpty())
		old := pods.Items[0]
		node := old.Spec.NodeName
		deleted := time.Now().Add(-time.Second).Truncate(time.Second)
		Expect(crClient.Delete(ctx, &old)).To(Succeed())
		// Ready only with a certificate (its readiness check says so).
		Eventually(func(g Gomega) {
			g.Expect(crClient.List(ctx, pods, client.InNamespace(installCfg.Namespace), client.MatchingLabels{v1.AppLabel: wiring.HandlerName})).To(Succeed())
			g.Expect(pods.Items).To(ContainElement(And(
				HaveField("Spec.NodeName", node),
				Not(HaveField("UID", old.UID)),
				HaveField("Status.Conditions", ContainElement(And(HaveField("Type", k8sv1.PodReady), HaveField("Status", k8sv1.ConditionTrue))))),
			), "no new Ready virt-handler pod on %s", node)
		}).WithContext(ctx).WithTimeout(componentTimeout).WithPolling(time.Second).Should(Succeed())

		By("the request: from virt-handler's service account, bound to node " + node + ", approved and signed")
		var issued *certificatesv1.CertificateSigningRequest
		Eventually(func(g Gomega) {
			csrs, err := kubeClient.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{FieldSelector: "spec.signerName=" + wiring.HandlerSignerName})
			g.Expect(err).NotTo(HaveOccurred())
			issued = nil
			for i, c := range csrs.Items {
				if c.Spec.Username == handlerUser && c.CreationTimestamp.Time.After(deleted) && len(c.Spec.Extra[nodeNameExtra]) == 1 && c.Spec.Extra[nodeNameExtra][0] == node && len(c.Status.Certificate) > 0 {
					issued = &csrs.Items[i]
				}
			}
			g.Expect(issued).NotTo(BeNil(), "no issued request of virt-handler on %s since its pod was deleted: %s", node, toJSON(csrs.Items))
		}).WithContext(ctx).WithTimeout(apiTimeout).WithPolling(time.Second).Should(Succeed())
		Expect(issued.Status.Conditions).To(ContainElement(And(
			HaveField("Type", certificatesv1.CertificateApproved), HaveField("Reason", "VirtHandlerOfItsNode"))))

		block, _ := pem.Decode(issued.Status.Certificate)
		Expect(block).NotTo(BeNil())
		cert, err := x509.ParseCertificate(block.Bytes)
		Expect(err).NotTo(HaveOccurred())
		Expect(cert.Subject.CommonName).To(Equal(wiring.HandlerCommonName(node)))
		ca := &k8sv1.Secret{}
		Expect(crClient.Get(ctx, client.ObjectKey{Namespace: installCfg.Namespace, Name: wiring.CASecretName}, ca)).To(Succeed())
		roots := x509.NewCertPool()
		Expect(roots.AppendCertsFromPEM(ca.Data[k8sv1.TLSCertKey])).To(BeTrue())
		_, err = cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: wiring.HandlerServerName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		Expect(err).NotTo(HaveOccurred(), "the certificate does not chain to Hypernest's CA")

		By("virt-handler's Secret holds the CA certificate and no key; the shared certificate of old is gone")
		handlerCA := &k8sv1.Secret{}
		Expect(crClient.Get(ctx, client.ObjectKey{Namespace: installCfg.Namespace, Name: wiring.HandlerCASecretName}, handlerCA)).To(Succeed())
		Expect(handlerCA.Data).To(HaveLen(1))
		Expect(handlerCA.Data).To(HaveKey(wiring.CABundleKey))
		err = crClient.Get(ctx, client.ObjectKey{Namespace: installCfg.Namespace, Name: wiring.ObsoleteHandlerCertSecretName}, &k8sv1.Secret{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the shared virt-handler certificate Secret is still there: %v", err)
	})

	It("refuses a certificate for another node, and to anyone but virt-handler", func(ctx SpecContext) {
		nodes := &k8sv1.NodeList{}
		Expect(crClient.List(ctx, nodes)).To(Succeed())
		node := nodes.Items[0].Name

		// The API server fills a request's username and extra from its requester; an
		// administrator may act as another, which is how these stand in for a handler.
		asHandlerOf := func(tokenNode string) kubernetes.Interface {
			cfg := rest.CopyConfig(restConfig)
			cfg.Impersonate = rest.ImpersonationConfig{
				UserName: handlerUser,
				Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + installCfg.Namespace, "system:authenticated"},
				Extra:    map[string][]string{nodeNameExtra: {tokenNode}},
			}
			c, err := kubernetes.NewForConfig(cfg)
			Expect(err).NotTo(HaveOccurred())
			return c
		}
		for _, tc := range []struct {
			what, forNode string
			as            kubernetes.Interface
			approved      bool
			reason        string
		}{
			{"virt-handler of " + node + " asking for its own node (the control)", node, asHandlerOf(node), true, "VirtHandlerOfItsNode"},
			{"virt-handler of " + node + " asking for node not-" + node, "not-" + node, asHandlerOf(node), false, "NotVirtHandlerOfThatNode"},
			{"the administrator asking for " + node, node, kubeClient, false, "NotVirtHandlerOfThatNode"},
		} {
			By(tc.what)
			name := requestHandlerCertificate(ctx, tc.as, tc.forNode)
			Eventually(func(g Gomega) {
				csr, err := kubeClient.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(csr.Status.Conditions).To(ContainElement(HaveField("Reason", tc.reason)), "%s", toJSON(csr.Status))
				if tc.approved {
					g.Expect(csr.Status.Certificate).NotTo(BeEmpty())
				} else {
					g.Expect(csr.Status.Certificate).To(BeEmpty())
					g.Expect(csr.Status.Conditions).To(ContainElement(HaveField("Type", certificatesv1.CertificateDenied)))
					GinkgoWriter.Printf("denied: %s\n", csr.Status.Conditions[0].Message)
				}
			}).WithContext(ctx).WithTimeout(apiTimeout).WithPolling(time.Second).Should(Succeed())
		}
	})
})

// requestHandlerCertificate asks, as c's user, for the virt-handler certificate of node,
// and returns the request's name; the request is deleted after the spec.
func requestHandlerCertificate(ctx context.Context, c kubernetes.Interface, node string) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: wiring.HandlerCommonName(node)}, DNSNames: []string{wiring.HandlerServerName},
	}, key)
	Expect(err).NotTo(HaveOccurred())
	csr, err := c.CertificatesV1().CertificateSigningRequests().Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "functest-handler-"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			SignerName: wiring.HandlerSignerName,
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth},
		},
	}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(kubeClient.CertificatesV1().CertificateSigningRequests().Delete(ctx, csr.Name, metav1.DeleteOptions{}))).To(Succeed())
	})
	return csr.Name
}
