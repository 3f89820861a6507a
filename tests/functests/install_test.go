package functests

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hypernest/hypernest/components/virt-operator/install"
	"github.com/hypernest/hypernest/manifests/crds"
)

// componentTimeout: the components start in seconds; a loaded machine may take minutes.
const componentTimeout = 5 * time.Minute

// installHypernest installs the CRDs and every component straight from the install
// package (the objects virt-operator applies; operator_test.go tests the operator
// itself), reusing the PKI of an earlier run, and waits until all are ready.
func installHypernest(ctx context.Context) {
	crdList, err := crds.All()
	Expect(err).NotTo(HaveOccurred())
	Expect(install.Apply(ctx, crClient, installCfg, crdList)).To(Succeed())
	Expect(install.WaitReady(ctx, crClient, installCfg, componentTimeout, func(s string) { By(s) })).To(Succeed())
}
