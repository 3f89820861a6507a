// Command virt-operator installs, upgrades and removes Hypernest from the KubeVirt
// object in its namespace (a Deployment with leader election).
package main

import (
	"flag"
	"fmt"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	k8sv1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/components/virt-operator/kubevirt"
	"github.com/hypernest/hypernest/pkg/health"
	"github.com/hypernest/hypernest/pkg/metrics"
	"github.com/hypernest/hypernest/pkg/version"
)

func main() {
	var (
		namespace, registry, tag string
		leaderElect              bool
		zapOpts                  zap.Options
	)
	flag.StringVar(&namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the namespace of virt-operator and the KubeVirt object (default: $POD_NAMESPACE)")
	flag.StringVar(&registry, "image-registry", "localhost/hypernest", "registry of the component images when the KubeVirt object names none")
	flag.StringVar(&tag, "image-tag", "devel", "tag of the component images when the KubeVirt object names none (the operator's own version)")
	flag.BoolVar(&leaderElect, "leader-elect", true, "only the replica holding the lease acts")
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	log := zap.New(zap.UseFlagOptions(&zapOpts)).WithName("virt-operator")
	ctrl.SetLogger(log)
	log.Info("starting", "version", version.Get().String())
	if namespace == "" {
		fmt.Fprintln(os.Stderr, "virt-operator: the namespace is unknown; pass --namespace or set POD_NAMESPACE (from metadata.namespace)")
		os.Exit(2)
	}

	scheme := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(scheme))
	must(apiextensionsv1.AddToScheme(scheme))
	must(v1.AddToScheme(scheme))
	// The cache holds only what the operator made (and KubeVirt objects), not every
	// Secret and Deployment of the cluster.
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{v1.ManagedByLabel: v1.ManagedByLabelOperatorValue})}
	byObject := map[client.Object]cache.ByObject{&v1.KubeVirt{}: {Namespaces: map[string]cache.Config{namespace: {}}}}
	for _, obj := range kubevirt.ManagedTypes() {
		byObject[obj] = managed
		if _, secret := obj.(*k8sv1.Secret); secret {
			// Only its namespace's: its RBAC reads no other (install.OperatorObjects).
			byObject[obj] = cache.ByObject{Label: managed.Label, Namespaces: map[string]cache.Config{namespace: {}}}
		}
	}
	mgr, err := ctrl.NewManager(metrics.InstrumentRESTConfig(ctrl.GetConfigOrDie()), ctrl.Options{
		Scheme:                  scheme,
		HealthProbeBindAddress:  ":8080",
		Metrics:                 metricsserver.Options{BindAddress: fmt.Sprintf(":%d", metrics.Port), SecureServing: true},
		LeaderElection:          leaderElect,
		LeaderElectionID:        "virt-operator",
		LeaderElectionNamespace: namespace,
		Cache:                   cache.Options{ByObject: byObject},
		Client: client.Options{Cache: &client.CacheOptions{
			// Read straight from the API server: objects outside the label-filtered cache.
			DisableFor: []client.Object{&apiextensionsv1.CustomResourceDefinition{}, &appsv1.ControllerRevision{}},
		}},
	})
	must(err)
	must(mgr.AddHealthzCheck("ping", healthz.Ping))
	must(mgr.AddReadyzCheck("informers", health.CacheSynced(mgr.GetCache())))
	must(metrics.NewStatus("virt-operator").AddTo(mgr))
	must((&kubevirt.Reconciler{
		Client:          mgr.GetClient(),
		Recorder:        mgr.GetEventRecorderFor("virt-operator"),
		Namespace:       namespace,
		DefaultRegistry: registry,
		DefaultTag:      tag,
	}).SetupWithManager(mgr))

	log.Info("starting", "namespace", namespace, "images", registry+"/*:"+tag)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "virt-operator stopped")
		os.Exit(1)
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "virt-operator: %v\n", err)
		os.Exit(1)
	}
}
