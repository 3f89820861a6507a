// Package functests holds Hypernest's functional tests: Ginkgo specs that run against a
// real cluster (the one in KUBECONFIG; `make functest` provides the local one).
package functests

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func TestFunctional(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Hypernest functional tests")
}

var (
	restConfig *rest.Config
	kubeClient kubernetes.Interface
	// testImage is the functional tests' workload (tests/images/testserver), imported into
	// the local cluster by `make cluster-sync`.
	testImage = envOr("HYPERNEST_TESTSERVER_IMAGE", "localhost/hypernest/testserver:devel")
)

var _ = BeforeSuite(func() {
	path := os.Getenv("KUBECONFIG")
	Expect(path).NotTo(BeEmpty(), "KUBECONFIG is not set: run `make functest`, which uses or starts the local cluster")
	var err error
	restConfig, err = clientcmd.BuildConfigFromFlags("", path)
	Expect(err).NotTo(HaveOccurred())
	// The tests create many small objects; the default 5 QPS would make them wait.
	restConfig.QPS, restConfig.Burst = 50, 100
	kubeClient, err = kubernetes.NewForConfig(restConfig)
	Expect(err).NotTo(HaveOccurred())
})

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
