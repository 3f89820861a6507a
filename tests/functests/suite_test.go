// Package functests holds Hypernest's functional tests: Ginkgo specs that run against a
// real cluster (the one in KUBECONFIG; `make functest` provides the local one).
package functests

import (
	"context"
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	hnscheme "github.com/hypernest/hypernest/api/scheme"
	"github.com/hypernest/hypernest/components/virt-operator/install"
)

func TestFunctional(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Hypernest functional tests")
}

var (
	restConfig *rest.Config
	kubeClient kubernetes.Interface
	// crClient knows Hypernest's types and CRDs besides Kubernetes'.
	crClient client.Client
	// testImage is the functional tests' workload (tests/images/testserver), imported into
	// the local cluster by `make cluster-sync`.
	testImage = envOr("HYPERNEST_TESTSERVER_IMAGE", "localhost/hypernest/testserver:devel")
)

var _ = BeforeSuite(func(ctx SpecContext) {
	// The API server's warnings (admission warnings among them) go to the spec's log.
	ctrllog.SetLogger(GinkgoLogr)
	path := os.Getenv("KUBECONFIG")
	Expect(path).NotTo(BeEmpty(), "KUBECONFIG is not set: run `make functest`, which uses or starts the local cluster")
	var err error
	restConfig, err = clientcmd.BuildConfigFromFlags("", path)
	Expect(err).NotTo(HaveOccurred())
	// The tests create many small objects; the default 5 QPS would make them wait.
	restConfig.QPS, restConfig.Burst = 50, 100
	kubeClient, err = kubernetes.NewForConfig(restConfig)
	Expect(err).NotTo(HaveOccurred())
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
	Expect(hnscheme.AddToScheme(scheme)).To(Succeed())
	crClient, err = client.New(restConfig, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	removeOperator(ctx)
})

// apply creates an object, or updates it to what is given when it exists (the install
// package's own create-or-update).
func apply(ctx context.Context, obj client.Object) {
	Expect(install.CreateOrUpdate(ctx, crClient, obj)).To(Succeed())
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
