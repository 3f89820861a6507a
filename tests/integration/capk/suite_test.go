// Package capk_test runs the Cluster API provider's reconcilers and webhooks against a
// real kube-apiserver and etcd (controller-runtime's envtest) with Cluster API's own
// CRDs, Hypernest's kubevirt.io CRDs and the provider's. Nothing runs VMs here:
// where virt-controller and virt-handler would report a VMI's state, the tests write it
// (the functional tests on the local cluster run the real thing).
package capk_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	infrav1 "github.com/hypernest/hypernest/api/infrastructure/v1alpha1"
	"github.com/hypernest/hypernest/components/capk-manager/controllers"
	"github.com/hypernest/hypernest/components/capk-manager/infracluster"
	"github.com/hypernest/hypernest/components/capk-manager/webhooks"
	"github.com/hypernest/hypernest/tests/framework"
)

func TestProvider(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Cluster API provider against a real apiserver")
}

var (
	testEnv   *envtest.Environment
	k8sClient client.Client
	// restConfig reaches the test apiserver, which also stands in for the nested clusters.
	restConfig *rest.Config
	// guestAgent answers virt-api's bootstrapstatus subresource for the guest-agent check.
	guestAgent = &fakeVirtAPI{}
	// sshGuest is an SSH server standing in for a guest's sshd, on 127.0.0.1.
	sshGuest *sshServer
	stop     context.CancelFunc
)

// Timeouts for a loaded 2-core machine: a reconcile takes milliseconds when idle.
const (
	timeout  = time.Minute
	interval = 100 * time.Millisecond
)

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctrl.SetLogger(logf.Log)
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	Expect(assets).NotTo(BeEmpty(), "KUBEBUILDER_ASSETS is not set: run `make test-integration`, which builds the Kubernetes binaries and points it at them")
	root, err := framework.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/cluster-api").Output()
	Expect(err).NotTo(HaveOccurred(), "finding Cluster API's module (its CRDs): go list -m sigs.k8s.io/cluster-api")
	capiCRDs := filepath.Join(strings.TrimSpace(string(out)), "core", "config", "crd", "bases")

	sideEffects := admissionregistrationv1.SideEffectClassNone
	fail := admissionregistrationv1.Fail
	var hooks []*admissionregistrationv1.ValidatingWebhookConfiguration
	for _, resource := range []string{"kubevirtmachines", "kubevirtmachinetemplates", "kubevirtclusters"} {
		kind := map[string]string{"kubevirtmachines": "kubevirtmachine", "kubevirtmachinetemplates": "kubevirtmachinetemplate", "kubevirtclusters": "kubevirtcluster"}[resource]
		path := "/validate-infrastructure-cluster-x-k8s-io-v1alpha1-" + kind
		hooks = append(hooks, &admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: ctrl.ObjectMeta{Name: "validate-" + kind},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name:                    "validation." + kind + ".infrastructure.cluster.x-k8s.io",
				ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Name: "capk-webhook-service", Namespace: "capk-system", Path: &path}},
				Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{"CREATE", "UPDATE"}, Rule: admissionregistrationv1.Rule{APIGroups: []string{infrav1.GroupName}, APIVersions: []string{"v1alpha1"}, Resources: []string{resource}}}},
				SideEffects:             &sideEffects,
				FailurePolicy:           &fail,
				AdmissionReviewVersions: []string{"v1"},
			}},
		})
	}
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join(root, "manifests", "crds"), filepath.Join(root, "manifests", "capi", "crds"), capiCRDs},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		WebhookInstallOptions:    envtest.WebhookInstallOptions{ValidatingWebhooks: hooks},
	}
	By("starting etcd and kube-apiserver from " + assets)
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	restConfig = cfg

	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(clusterv1.AddToScheme(scheme)).To(Succeed())
	Expect(infrav1.AddToScheme(scheme)).To(Succeed())
	Expect(kubevirtv1.AddToScheme(scheme)).To(Succeed())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	sshGuest = startSSHServer()
	DeferCleanup(sshGuest.Close)

	wh := testEnv.WebhookInstallOptions
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: webhook.NewServer(webhook.Options{Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir,
			TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 }}}),
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(webhooks.Setup(mgr)).To(Succeed())
	infra := &infracluster.Clients{Local: mgr.GetClient(), LocalConfig: cfg, SecretReader: mgr.GetAPIReader(), Scheme: scheme}
	ctx, cancel := context.WithCancel(context.Background())
	stop = cancel
	Expect((&controllers.ClusterReconciler{Client: mgr.GetClient(), Infra: infra, Recorder: mgr.GetEventRecorderFor("kubevirtcluster-controller")}).SetupWithManager(ctx, mgr)).To(Succeed())
	Expect((&controllers.MachineReconciler{
		Client: mgr.GetClient(), Infra: infra, Recorder: mgr.GetEventRecorderFor("kubevirtmachine-controller"),
		Subresources: func(client.Client) (rest.Interface, error) { return guestAgent.client() },
		SSHPort:      sshGuest.Port(),
	}).SetupWithManager(ctx, mgr, 4)).To(Succeed())
	Expect((&controllers.MachineTemplateReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	// The webhooks answer once the manager serves them.
	Eventually(func() error {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp",
			net.JoinHostPort(wh.LocalServingHost, fmt.Sprint(wh.LocalServingPort)), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a liveness probe of the local test server
		if err != nil {
			return err
		}
		return conn.Close()
	}).WithTimeout(timeout).Should(Succeed())
})

var _ = AfterSuite(func() {
	if stop != nil {
		stop()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// newNamespace makes a namespace for one spec.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: ctrl.ObjectMeta{GenerateName: "capk-"}}
	Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}
