// Command capk-manager is Hypernest's Cluster API infrastructure provider, compatible
// with cluster-api-provider-kubevirt (CAPK): KubevirtClusters get a control-plane
// Service and endpoint, KubevirtMachines a VirtualMachine carrying their bootstrap data.
// It runs as a Deployment with leader election, installed by `clusterctl init
// --infrastructure kubevirt`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	infrav1 "github.com/hypernest/hypernest/api/infrastructure/v1alpha1"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
	"github.com/hypernest/hypernest/components/capk-manager/controllers"
	"github.com/hypernest/hypernest/components/capk-manager/infracluster"
	"github.com/hypernest/hypernest/components/capk-manager/webhooks"
	"github.com/hypernest/hypernest/pkg/health"
	"github.com/hypernest/hypernest/pkg/version"
)

// Leader election timing: client-go's defaults (15 s lease, 10 s renew, 2 s retry), as
// Cluster API's own managers use them.
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

func main() {
	var (
		namespace, probeAddr, metricsAddr, certDir string
		leaderElect                                bool
		webhookPort, machineWorkers                int
		zapOpts                                    zap.Options
	)
	flag.StringVar(&namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the provider's namespace, for the leader election lease (default: $POD_NAMESPACE)")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":9440", "address of /healthz and /readyz")
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "address of /metrics, served over TLS (0 disables it)")
	flag.StringVar(&certDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "folder with the webhook server's tls.crt and tls.key (cert-manager writes them)")
	flag.IntVar(&webhookPort, "webhook-port", 9443, "port of the admission webhooks (0 disables them)")
	flag.BoolVar(&leaderElect, "leader-elect", true, "only the replica holding the lease acts")
	// CAPK's default concurrency (--max-concurrent-reconciles 10) would start ten VMs'
	// launchers at once; machines are few per cluster, and reconciles are short.
	flag.IntVar(&machineWorkers, "kubevirtmachine-concurrency", 10, "KubevirtMachines reconciled in parallel")
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	log := zap.New(zap.UseFlagOptions(&zapOpts)).WithName("capk-manager")
	ctrl.SetLogger(log)
	log.Info("starting", "version", version.Get().String())
	if leaderElect && namespace == "" {
		fail(2, "the namespace is unknown; pass --namespace or set POD_NAMESPACE (from metadata.namespace), or --leader-elect=false")
	}

	scheme := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(scheme))
	must(clusterv1.AddToScheme(scheme))
	must(infrav1.AddToScheme(scheme))
	must(kubevirtv1.AddToScheme(scheme))

	// The cache holds only what the provider made or reads: VMs, VMIs, Services and
	// Secrets of Cluster API clusters (labelled cluster.x-k8s.io/cluster-name), not
	// every one of the cluster.
	ofClusters, err := labels.NewRequirement(clusterv1.ClusterNameLabel, selection.Exists, nil)
	must(err)
	clusterOwned := cache.ByObject{Label: labels.NewSelector().Add(*ofClusters)}
	options := ctrl.Options{
		Scheme:                 scheme,
		HealthProbeBindAddress: probeAddr,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr, SecureServing: metricsAddr != "0"},
		LeaderElection:         leaderElect,
		// CAPK's lease name, so a CAPK and a Hypernest provider never act at once.
		LeaderElectionID:        "controller-leader-election-capk",
		LeaderElectionNamespace: namespace,
		LeaseDuration:           ptrTo(leaseDuration),
		RenewDeadline:           ptrTo(renewDeadline),
		RetryPeriod:             ptrTo(retryPeriod),
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&kubevirtv1.VirtualMachine{}:         clusterOwned,
			&kubevirtv1.VirtualMachineInstance{}: clusterOwned,
			&corev1.Service{}:                    clusterOwned,
			&corev1.Secret{}:                     clusterOwned,
		}},
	}
	if webhookPort != 0 {
		options.WebhookServer = webhook.NewServer(webhook.Options{Port: webhookPort, CertDir: certDir})
	}
	restConfig := ctrl.GetConfigOrDie()
	mgr, err := ctrl.NewManager(restConfig, options)
	must(err)
	must(mgr.AddHealthzCheck("ping", healthz.Ping))
	must(mgr.AddReadyzCheck("informers", health.CacheSynced(mgr.GetCache())))
	if webhookPort != 0 {
		// Ready only once the webhook server answers with its certificate.
		must(mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()))
		must(webhooks.Setup(mgr))
	}

	infra := &infracluster.Clients{Local: mgr.GetClient(), LocalConfig: restConfig, SecretReader: mgr.GetAPIReader(), Scheme: scheme}
	ctx := ctrl.LoggerInto(context.Background(), log)
	must((&controllers.ClusterReconciler{
		Client: mgr.GetClient(), Infra: infra, Recorder: mgr.GetEventRecorderFor("kubevirtcluster-controller"),
	}).SetupWithManager(ctx, mgr))
	must((&controllers.MachineReconciler{
		Client: mgr.GetClient(), Infra: infra, Recorder: mgr.GetEventRecorderFor("kubevirtmachine-controller"),
		Subresources: subresourcesClient(infra),
	}).SetupWithManager(ctx, mgr, machineWorkers))
	must((&controllers.MachineTemplateReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr))

	log.Info("starting", "webhookPort", webhookPort)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "capk-manager stopped")
		os.Exit(1)
	}
}

// subresourcesClient makes subresources.kubevirt.io/v1 clients for an infrastructure
// cluster's client (the guest-agent check asks virt-api there).
func subresourcesClient(infra *infracluster.Clients) func(client.Client) (rest.Interface, error) {
	return func(c client.Client) (rest.Interface, error) {
		base := infra.RESTConfig(c)
		if base == nil {
			return nil, fmt.Errorf("no REST config for the infrastructure cluster's client")
		}
		cfg := rest.CopyConfig(base)
		cfg.APIPath = "/apis"
		cfg.GroupVersion = &subresourcesv1.SchemeGroupVersion
		// client-go's codecs know metav1.Status, so virt-api's errors keep their message.
		cfg.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
		return rest.RESTClientFor(cfg)
	}
}

func ptrTo[T any](v T) *T { return &v }

func fail(code int, msg string) {
	fmt.Fprintln(os.Stderr, "capk-manager: "+msg)
	os.Exit(code)
}

func must(err error) {
	if err != nil {
		fail(1, err.Error())
	}
}
