// Package api_test checks the kubevirt.io API against a real kube-apiserver and etcd
// (controller-runtime's envtest, with the binaries hack/kube-binaries.sh builds):
// the generated CRDs install, KubeVirt's own manifests are accepted unchanged, and bad
// input is refused with the offending field named.
package api_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	hnscheme "github.com/hypernest/hypernest/api/scheme"
	"github.com/hypernest/hypernest/tests/framework"
)

func TestAPI(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "kubevirt.io API against a real apiserver")
}

var (
	testEnv    *envtest.Environment
	restConfig *rest.Config
	k8sClient  client.Client
	repoRoot   string
	kubeconfig string // admin kubeconfig for the envtest apiserver, for kubectl
	kubectl    string
)

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	Expect(assets).NotTo(BeEmpty(), "KUBEBUILDER_ASSETS is not set: run `make test-integration`, which builds the Kubernetes binaries and points it at them")

	var err error
	repoRoot, err = framework.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	kubectl = filepath.Join(assets, "kubectl")

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "manifests", "crds")},
		ErrorIfCRDPathMissing: true,
		// A loaded 2-core machine can take a while to bring up etcd + apiserver.
		ControlPlaneStartTimeout: 2 * time.Minute,
	}
	By("starting etcd and kube-apiserver from " + assets)
	restConfig, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
	Expect(hnscheme.AddToScheme(scheme)).To(Succeed())
	k8sClient, err = client.New(restConfig, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	user, err := testEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	data, err := user.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	kubeconfig = filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(kubeconfig, data, 0o600)).To(Succeed())
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// ctxWithTimeout bounds a single API interaction; generous for a loaded machine.
func ctxWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}
