// Command deploy installs Hypernest's CRDs and components on a cluster straight from the
// install package, and waits until they are ready: `make cluster-deploy` runs it on the
// local cluster. It skips virt-operator (which applies the same objects from the
// KubeVirt object), for quick development loops.
//
//	deploy --kubeconfig admin.kubeconfig [--image-tag devel] [--use-emulation]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hnscheme "github.com/hypernest/hypernest/api/scheme"
	"github.com/hypernest/hypernest/components/virt-operator/install"
	"github.com/hypernest/hypernest/manifests/crds"
)

func main() {
	cfg := install.Config{ImagePullPolicy: k8sv1.PullIfNotPresent}
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	flag.StringVar(&cfg.Namespace, "namespace", "kubevirt", "namespace to install into")
	flag.StringVar(&cfg.ImageRegistry, "image-registry", "localhost/hypernest", "registry and path of the component images")
	flag.StringVar(&cfg.ImageTag, "image-tag", "devel", "tag of the component images")
	flag.BoolVar(&cfg.UseEmulation, "use-emulation", false, "run guests under TCG (no /dev/kvm needed)")
	flag.BoolVar(&cfg.SingleReplica, "single-replica", true, "one virt-api and one virt-controller (a single-node cluster)")
	flag.Parse()
	start := time.Now()
	progress := func(msg string) { fmt.Printf("[%4.0fs] %s\n", time.Since(start).Seconds(), msg) }
	if err := run(*kubeconfig, cfg, progress); err != nil {
		fmt.Fprintln(os.Stderr, "deploy:", err)
		os.Exit(1)
	}
	progress("Hypernest is ready")
}

func run(kubeconfig string, cfg install.Config, progress func(string)) error {
	restConfig, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %q: %w", kubeconfig, err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, hnscheme.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	c, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	ctx := context.Background()
	progress(fmt.Sprintf("installing Hypernest (images %s/*:%s, useEmulation=%t) into namespace %s", cfg.ImageRegistry, cfg.ImageTag, cfg.UseEmulation, cfg.Namespace))
	crdList, err := crds.All()
	if err != nil {
		return err
	}
	if err := install.Apply(ctx, c, cfg, crdList); err != nil {
		return err
	}
	return install.WaitReady(ctx, c, cfg, 5*time.Minute, progress)
}
