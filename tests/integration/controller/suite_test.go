// Package controller_test runs virt-controller's reconcilers against a real
// kube-apiserver and etcd (controller-runtime's envtest) with Hypernest's CRDs. Nothing
// runs guests here: where virt-handler would report a VMI's state, the tests write it
// (the functional tests on the local cluster run the real thing).
package controller_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
	migrationsv1alpha1 "github.com/hypernest/hypernest/api/migrations/v1alpha1"
	poolv1 "github.com/hypernest/hypernest/api/pool/v1beta1"
	"github.com/hypernest/hypernest/components/virt-api/webhooks"
	"github.com/hypernest/hypernest/components/virt-controller/pool"
	"github.com/hypernest/hypernest/components/virt-controller/replicaset"
	"github.com/hypernest/hypernest/components/virt-operator/install"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
	"github.com/hypernest/hypernest/tests/framework"
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "virt-controller against a real apiserver")
}

var (
	testEnv   *envtest.Environment
	k8sClient client.Client
	stop      context.CancelFunc
)

// Timeouts for a loaded 2-core machine: a reconcile takes milliseconds when idle.
// hypernestNamespace is where Hypernest would be installed (its KubeVirt object).
const hypernestNamespace = "kubevirt"

const (
	timeout  = time.Minute
	interval = 100 * time.Millisecond
)

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctrl.SetLogger(logf.Log)
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(), "KUBEBUILDER_ASSETS is not set: run `make test-integration`, which builds the Kubernetes binaries and points it at them")
	root, err := framework.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	// virt-api's webhooks, as installed: envtest points them at this process, which
	// serves virt-api's own handlers, so every object the specs and the controllers
	// write is defaulted and validated as on a cluster.
	var mutating []*admissionregistrationv1.MutatingWebhookConfiguration
	var validating []*admissionregistrationv1.ValidatingWebhookConfiguration
	for _, obj := range install.APIObjects(install.Config{Namespace: hypernestNamespace}, nil) {
		switch o := obj.(type) {
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			mutating = append(mutating, o)
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			validating = append(validating, o)
		}
	}
	Expect(mutating).NotTo(BeEmpty())
	Expect(validating).NotTo(BeEmpty())
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join(root, "manifests", "crds")},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		WebhookInstallOptions:    envtest.WebhookInstallOptions{MutatingWebhooks: mutating, ValidatingWebhooks: validating},
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(kubevirtv1.AddToScheme(scheme)).To(Succeed())
	Expect(poolv1.AddToScheme(scheme)).To(Succeed())
	Expect(itv1.AddToScheme(scheme)).To(Succeed())
	Expect(migrationsv1alpha1.AddToScheme(scheme)).To(Succeed())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	wh := testEnv.WebhookInstallOptions
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: webhook.NewServer(webhook.Options{Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir}),
	})
	Expect(err).NotTo(HaveOccurred())
	mux := http.NewServeMux()
	config := &clusterconfig.Source{Reader: mgr.GetClient(), Namespace: hypernestNamespace}
	webhooks.Register(mux, scheme, mgr.GetClient(), mgr.GetAPIReader(), hypernestNamespace, config.Get)
	mgr.GetWebhookServer().Register("/", mux)
	Expect((&replicaset.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("virtualmachineinstancereplicaset-controller")}).SetupWithManager(mgr, 2)).To(Succeed())
	Expect((&pool.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("virtualmachinepool-controller")}).SetupWithManager(mgr, 2)).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	stop = cancel
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
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
	ns := &corev1.Namespace{ObjectMeta: ctrl.ObjectMeta{GenerateName: "ctrl-"}}
	Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}
