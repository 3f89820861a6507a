// Package handler_test runs virt-handler's VMI controller against real servers: envtest's
// apiserver, and a real virt-launcher (libvirt, QEMU) per VMI, with virt-controller's
// VMI controller beside it, as on a node. envtest has no scheduler and no kubelet, so the
// suite does their two jobs for launcher pods: it binds each to the node, and starts its
// virt-launcher process on the pod's sockets folder under the kubelet's pod folder, then
// reports the pod Running. Everything Hypernest runs is the real code.
package handler_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/components/virt-controller/services"
	controllervmi "github.com/hypernest/hypernest/components/virt-controller/vmi"
	handlervmi "github.com/hypernest/hypernest/components/virt-handler/vmi"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
	"github.com/hypernest/hypernest/tests/framework"
)

func TestHandler(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "virt-handler and virt-controller against a real apiserver and real launchers")
}

// nodeName is the node the suite's virt-handler serves and its launcher pods are bound to.
const nodeName = "node01"

// startTimeout: a VMI's way to Running is pod creation, the launcher's libvirtd start and
// QEMU's start under TCG: seconds when idle, minutes on a loaded 2-core machine.
const startTimeout = 4 * time.Minute

var (
	k8sClient      client.Client
	kubeClient     kubernetes.Interface
	restConfig     *rest.Config
	launcherBinary string
	demoDisk       string
	// kubeletPods stands for the kubelet's pod folder (/var/lib/kubelet/pods).
	kubeletPods string
)

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctrl.SetLogger(logf.Log)
	Expect(os.Geteuid()).To(BeZero(), "virt-handler reaches launchers' sockets and the suite starts launchers as an unprivileged user: run as root (make test-integration)")
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(), "KUBEBUILDER_ASSETS is not set: run `make test-integration`")
	demoDisk = os.Getenv("HYPERNEST_DEMO_DISK")
	Expect(demoDisk).NotTo(BeEmpty(), "HYPERNEST_DEMO_DISK is not set: run make test-integration, which builds the demo disk with Bazel")

	bin, dir, err := framework.BuildLauncher()
	if dir != "" {
		DeferCleanup(os.RemoveAll, dir)
	}
	Expect(err).NotTo(HaveOccurred())
	launcherBinary = bin
	DeferCleanup(gexec.CleanupBuildArtifacts)
	kubeletPods, err = os.MkdirTemp("", "hn-kubelet-pods-")
	Expect(err).NotTo(HaveOccurred())
	Expect(os.Chmod(kubeletPods, 0o755)).To(Succeed())
	DeferCleanup(func() {
		killAllLaunchers()
		_ = os.RemoveAll(kubeletPods)
	})

	root, err := framework.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	testEnv := &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join(root, "manifests", "crds")},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
	}
	restConfig, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(testEnv.Stop)

	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(v1.AddToScheme(scheme)).To(Succeed())
	k8sClient, err = client.New(restConfig, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	kubeClient, err = kubernetes.NewForConfig(restConfig)
	Expect(err).NotTo(HaveOccurred())

	// Two managers, two clients and caches: two processes on a real cluster.
	ctx, cancel := context.WithCancel(context.Background())
	DeferCleanup(cancel)
	controllerMgr, err := ctrl.NewManager(restConfig, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	Expect(err).NotTo(HaveOccurred())
	Expect((&controllervmi.Reconciler{
		Client:    controllerMgr.GetClient(),
		APIReader: controllerMgr.GetAPIReader(),
		Recorder:  controllerMgr.GetEventRecorderFor("virtualmachineinstance-controller"),
		Config: func(context.Context) services.LauncherPodConfig {
			return services.LauncherPodConfig{Image: "localhost/hypernest/virt-launcher:devel", ImagePullPolicy: k8sv1.PullNever, UseEmulation: true}
		},
	}).SetupWithManager(controllerMgr, 10)).To(Succeed())
	handlerMgr, err := ctrl.NewManager(restConfig, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	Expect(err).NotTo(HaveOccurred())
	Expect((&handlervmi.Reconciler{
		Client:         handlerMgr.GetClient(),
		Log:            logf.Log.WithName("virt-handler"),
		Recorder:       handlerMgr.GetEventRecorderFor("virt-handler"),
		NodeName:       nodeName,
		KubeletPodsDir: kubeletPods,
		Config:         func(context.Context) clusterconfig.Config { return clusterconfig.Config{UseEmulation: true} },
		Workers:        10,
	}).SetupWithManager(handlerMgr)).To(Succeed())
	for _, mgr := range []ctrl.Manager{controllerMgr, handlerMgr} {
		go func() {
			defer GinkgoRecover()
			Expect(mgr.Start(ctx)).To(Succeed())
		}()
	}
	go runLaunchers(ctx)
})
