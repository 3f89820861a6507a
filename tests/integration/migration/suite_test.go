// Package migration_test runs virt-controller's migration, evacuation and node controllers (issue
// 18: VMIs moving between nodes, and nodes going away) against a real kube-apiserver and
// etcd (controller-runtime's envtest) with Hypernest's CRDs. Nothing schedules pods or
// runs guests here: the specs bind pods and write what the kubelet and the virt-handlers
// would report (statuses, heartbeats), and check what the controllers do with it.
// virt-api's webhooks are not served, and the controller must not rely on them (it sets
// the label and the finalizer itself).
package migration_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	migrationsv1alpha1 "github.com/hypernest/hypernest/api/migrations/v1alpha1"
	"github.com/hypernest/hypernest/components/virt-controller/evacuation"
	"github.com/hypernest/hypernest/components/virt-controller/migration"
	"github.com/hypernest/hypernest/components/virt-controller/node"
	"github.com/hypernest/hypernest/components/virt-controller/services"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
	"github.com/hypernest/hypernest/tests/framework"
)

func TestMigrationController(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "virt-controller's migration and node controllers against a real apiserver")
}

var (
	testEnv   *envtest.Environment
	k8sClient client.Client
	stop      context.CancelFunc
	// clusterConfig is what the controller reads the KubeVirt object through, as in
	// virt-controller (the manager's cache); specs wait on it to see their object.
	clusterConfig *clusterconfig.Source
)

// kubevirtNamespace holds the KubeVirt object a spec creates, as in an installation.
const kubevirtNamespace = "kubevirt"

// Timeouts for a loaded 2-core machine: a reconcile takes milliseconds when idle.
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
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join(root, "manifests", "crds")},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(kubevirtv1.AddToScheme(scheme)).To(Succeed())
	Expect(migrationsv1alpha1.AddToScheme(scheme)).To(Succeed())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	Expect(err).NotTo(HaveOccurred())
	clusterConfig = &clusterconfig.Source{Reader: mgr.GetClient(), Namespace: kubevirtNamespace}
	Expect((&migration.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorderFor("migration-controller"),
		Config: func(context.Context) services.LauncherPodConfig {
			return services.LauncherPodConfig{Image: "localhost/hypernest/virt-launcher:test", ImagePullPolicy: corev1.PullNever, UseEmulation: true}
		},
		Limits: func(ctx context.Context) (int, int) { return clusterConfig.Get(ctx).MigrationLimits() },
		Migrations: func(ctx context.Context) *kubevirtv1.MigrationConfiguration {
			return clusterConfig.Get(ctx).MigrationConfiguration()
		},
	}).SetupWithManager(mgr, 2)).To(Succeed())
	Expect((&node.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("node-controller")}).SetupWithManager(mgr, 2)).To(Succeed())
	Expect((&evacuation.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("evacuation-controller"), Config: clusterConfig.Get}).SetupWithManager(mgr, 2)).To(Succeed())
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
	ns := &corev1.Namespace{ObjectMeta: ctrl.ObjectMeta{GenerateName: "mig-"}}
	Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}
