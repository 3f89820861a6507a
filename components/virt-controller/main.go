// Command virt-controller runs Hypernest's cluster-wide controllers (a Deployment with
// leader election, so one replica acts at a time): VirtualMachines get their
// VirtualMachineInstances, and VirtualMachineInstances their virt-launcher pods.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
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
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	migrationsv1alpha1 "github.com/hypernest/hypernest/api/migrations/v1alpha1"
	poolv1 "github.com/hypernest/hypernest/api/pool/v1beta1"
	"github.com/hypernest/hypernest/components/virt-controller/evacuation"
	"github.com/hypernest/hypernest/components/virt-controller/handlercerts"
	controllermetrics "github.com/hypernest/hypernest/components/virt-controller/metrics"
	"github.com/hypernest/hypernest/components/virt-controller/migration"
	"github.com/hypernest/hypernest/components/virt-controller/node"
	"github.com/hypernest/hypernest/components/virt-controller/pool"
	"github.com/hypernest/hypernest/components/virt-controller/replicaset"
	"github.com/hypernest/hypernest/components/virt-controller/services"
	"github.com/hypernest/hypernest/components/virt-controller/vm"
	"github.com/hypernest/hypernest/components/virt-controller/vmi"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
	"github.com/hypernest/hypernest/pkg/health"
	"github.com/hypernest/hypernest/pkg/metrics"
	"github.com/hypernest/hypernest/pkg/version"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// Leader election timing: client-go's defaults (15 s lease, 10 s renew, 2 s retry), the
// same KubeVirt's virt-controller uses; a new leader takes over within ~15 s.
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

func main() {
	var (
		launcherImage, pullPolicy, namespace, probeAddr, metricsAddr, caDir                  string
		useEmulation, leaderElect                                                            bool
		vmWorkers, vmiWorkers, replicaSetWorkers, poolWorkers, migrationWorkers, nodeWorkers int
		zapOpts                                                                              zap.Options
	)
	flag.StringVar(&launcherImage, "launcher-image", "", "the virt-launcher image launcher pods run (required)")
	flag.StringVar(&pullPolicy, "image-pull-policy", string(k8sv1.PullIfNotPresent), "pull policy of launcher pods and containerDisks without their own")
	flag.StringVar(&caDir, "ca-dir", wiring.ControllerCADir, "folder with the CA's tls.crt and tls.key, which sign virt-handlers' certificates")
	flag.StringVar(&namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the namespace Hypernest is installed in; holds the leader election lease (default: $POD_NAMESPACE)")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8080", "address of /healthz and /readyz")
	flag.StringVar(&metricsAddr, "metrics-bind-address", fmt.Sprintf(":%d", metrics.Port), "address of /metrics, served over TLS with a self-signed certificate (0 disables it)")
	flag.BoolVar(&useEmulation, "use-emulation", false, "launcher pods do not ask for /dev/kvm when no KubeVirt object says (its developerConfiguration.useEmulation wins)")
	flag.BoolVar(&leaderElect, "leader-elect", true, "only the replica holding the lease acts")
	// KubeVirt's defaults: 3 VM and 10 VMI workers (virt-controller's --vm-threadiness
	// and --vmi-threadiness); a VMI is worked on by one worker at a time either way.
	flag.IntVar(&vmWorkers, "vm-workers", 3, "VMs reconciled in parallel")
	flag.IntVar(&vmiWorkers, "vmi-workers", 10, "VMIs reconciled in parallel")
	// KubeVirt's --rs-threadiness default.
	flag.IntVar(&replicaSetWorkers, "replicaset-workers", 3, "VMI replica sets reconciled in parallel")
	// As many as for replica sets: pools are few and each pass is short.
	flag.IntVar(&poolWorkers, "pool-workers", 3, "VM pools reconciled in parallel")
	// KubeVirt's virt-controller runs its migration controller with 3 threads.
	flag.IntVar(&migrationWorkers, "migration-workers", 3, "migrations reconciled in parallel")
	// KubeVirt's virt-controller runs its node controller with 3 threads.
	flag.IntVar(&nodeWorkers, "node-workers", 3, "nodes whose heartbeat is checked in parallel")
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	log := zap.New(zap.UseFlagOptions(&zapOpts)).WithName("virt-controller")
	ctrl.SetLogger(log)
	log.Info("starting", "version", version.Get().String())
	if launcherImage == "" {
		fail(2, "--launcher-image is required: the image launcher pods run (e.g. localhost/hypernest/virt-launcher:devel)")
	}
	if leaderElect && namespace == "" {
		fail(2, "the namespace is unknown; pass --namespace or set POD_NAMESPACE (from metadata.namespace), or --leader-elect=false")
	}

	scheme := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(scheme))
	must(v1.AddToScheme(scheme))
	must(poolv1.AddToScheme(scheme))
	must(itv1.AddToScheme(scheme))
	must(migrationsv1alpha1.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(metrics.InstrumentRESTConfig(ctrl.GetConfigOrDie()), ctrl.Options{
		Scheme:                  scheme,
		HealthProbeBindAddress:  probeAddr,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr, SecureServing: true},
		LeaderElection:          leaderElect,
		LeaderElectionID:        "virt-controller",
		LeaderElectionNamespace: namespace,
		LeaseDuration:           ptrTo(leaseDuration),
		RenewDeadline:           ptrTo(renewDeadline),
		RetryPeriod:             ptrTo(retryPeriod),
		// Only launcher pods: the cache does not hold every pod of the cluster.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&k8sv1.Pod{}:   {Label: labels.SelectorFromSet(labels.Set{v1.AppLabel: launcherv1.AppLabelValue})},
			&v1.KubeVirt{}: {Namespaces: map[string]cache.Config{namespace: {}}},
			// Only requests for virt-handlers' certificates, the one signer it runs.
			&certificatesv1.CertificateSigningRequest{}: {Field: fields.OneTermEqualSelector("spec.signerName", wiring.HandlerSignerName)},
		}},
	})
	must(err)
	must(mgr.AddHealthzCheck("ping", healthz.Ping))
	must(mgr.AddReadyzCheck("informers", health.CacheSynced(mgr.GetCache())))

	config := &clusterconfig.Source{Reader: mgr.GetClient(), Namespace: namespace, Default: clusterconfig.Config{UseEmulation: useEmulation}}
	status := metrics.NewStatus("virt-controller")
	must(status.AddTo(mgr))
	must(controllermetrics.Setup(mgr, status, func(ctx context.Context) bool { return config.Get(ctx).UseEmulation }))
	// Read at each pod: a changed KubeVirt object applies to the next VMI, no restart.
	launcherPodConfig := func(ctx context.Context) services.LauncherPodConfig {
		return services.LauncherPodConfig{Image: launcherImage, ImagePullPolicy: k8sv1.PullPolicy(pullPolicy), UseEmulation: config.Get(ctx).UseEmulation}
	}
	must((&vmi.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorderFor("virtualmachineinstance-controller"),
		Config:    launcherPodConfig,
	}).SetupWithManager(mgr, vmiWorkers))
	must((&migration.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorderFor("migration-controller"),
		Config:    launcherPodConfig,
		Limits:    func(ctx context.Context) (int, int) { return config.Get(ctx).MigrationLimits() },
		Migrations: func(ctx context.Context) *v1.MigrationConfiguration {
			return config.Get(ctx).MigrationConfiguration()
		},
	}).SetupWithManager(mgr, migrationWorkers))
	must((&evacuation.Reconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorderFor("evacuation-controller"),
		Config:   config.Get,
	}).SetupWithManager(mgr, migrationWorkers))
	must((&node.Reconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorderFor("node-controller"),
	}).SetupWithManager(mgr, nodeWorkers))
	must((&vm.Reconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorderFor("virtualmachine-controller"),
	}).SetupWithManager(mgr, vmWorkers))
	must((&replicaset.Reconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorderFor("virtualmachineinstancereplicaset-controller"),
	}).SetupWithManager(mgr, replicaSetWorkers))
	must((&pool.Reconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorderFor("virtualmachinepool-controller"),
	}).SetupWithManager(mgr, poolWorkers))
	must((&handlercerts.Signer{
		Client:    mgr.GetClient(),
		Recorder:  mgr.GetEventRecorderFor("virt-handler-certificate-signer"),
		Namespace: namespace,
		CADir:     caDir,
	}).SetupWithManager(mgr))

	// As virt-handler's: the flag is the default where no KubeVirt object says.
	log.Info("starting", "launcherImage", launcherImage, "defaultUseEmulation", useEmulation)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "virt-controller stopped")
		os.Exit(1)
	}
}

func ptrTo[T any](v T) *T { return &v }

func fail(code int, msg string) {
	fmt.Fprintln(os.Stderr, "virt-controller: "+msg)
	os.Exit(code)
}

func must(err error) {
	if err != nil {
		fail(1, err.Error())
	}
}
