// Command virt-handler is Hypernest's node agent (a privileged DaemonSet): it runs the
// VMIs scheduled to its node through their launchers, offers /dev/kvm, /dev/net/tun and
// /dev/vhost-net to launcher pods as device-plugin resources, and heartbeats the node.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-handler/consoleserver"
	"github.com/hypernest/hypernest/components/virt-handler/deviceplugin"
	"github.com/hypernest/hypernest/components/virt-handler/domainstats"
	"github.com/hypernest/hypernest/components/virt-handler/heartbeat"
	"github.com/hypernest/hypernest/components/virt-handler/qemucaps"
	"github.com/hypernest/hypernest/components/virt-handler/servingcert"
	"github.com/hypernest/hypernest/components/virt-handler/vmi"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
	"github.com/hypernest/hypernest/pkg/health"
	"github.com/hypernest/hypernest/pkg/metrics"
	"github.com/hypernest/hypernest/pkg/version"
	"github.com/hypernest/hypernest/pkg/wiring"
)

func main() {
	var (
		nodeName, kubeletPods, pluginDir, probeAddr, metricsAddr, caDir, namespace string
		capabilitiesDir, launcherImage, podIP                                      string
		consolePort, workers                                                       int
		useEmulation                                                               bool
		zapOpts                                                                    zap.Options
	)
	flag.StringVar(&nodeName, "node-name", os.Getenv("NODE_NAME"), "the node this handler runs on (default: $NODE_NAME)")
	flag.StringVar(&kubeletPods, "kubelet-pods-dir", launcherv1.KubeletPodsDir, "the kubelet's pod folder as mounted into this container")
	flag.StringVar(&pluginDir, "device-plugins-dir", "/var/lib/kubelet/device-plugins", "the kubelet's device plugin folder")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8080", "address of /healthz and /readyz")
	flag.StringVar(&metricsAddr, "metrics-bind-address", fmt.Sprintf(":%d", metrics.Port), "address of /metrics, served over TLS with a self-signed certificate (0 disables it)")
	flag.BoolVar(&useEmulation, "use-emulation", false, "run guests under QEMU's TCG instead of KVM when no KubeVirt object says (its developerConfiguration.useEmulation wins)")
	flag.StringVar(&podIP, "pod-ip", os.Getenv("POD_IP"), "this pod's IP, where the handler of a migration's target node listens for the source's (default: $POD_IP)")
	flag.StringVar(&namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the namespace Hypernest is installed in, where the KubeVirt object is (default: $POD_NAMESPACE)")
	flag.StringVar(&caDir, "ca-dir", wiring.HandlerCADir, "folder with the CA certificate (ca.crt) virt-api's calls and this node's certificate chain to")
	flag.IntVar(&consolePort, "console-server-port", wiring.HandlerConsolePort, "port of the HTTPS server virt-api calls for pause, console and VNC")
	flag.StringVar(&capabilitiesDir, "qemu-capabilities-dir", wiring.QEMUCapabilitiesDir, "folder where the qemu-capabilities init container left libvirt's QEMU capabilities cache")
	flag.StringVar(&launcherImage, "launcher-image", "", "the launcher image the qemu-capabilities init container probed; launchers of another image get no cache")
	// KubeVirt's virt-handler runs its VMI controller with 10 workers (vmController.Run(10, …)).
	flag.IntVar(&workers, "workers", 10, "VMIs reconciled in parallel; a VMI is worked on by one worker at a time")
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	log := zap.New(zap.UseFlagOptions(&zapOpts)).WithName("virt-handler")
	ctrl.SetLogger(log)
	log.Info("starting", "version", version.Get().String())
	if nodeName == "" {
		fmt.Fprintln(os.Stderr, "virt-handler: the node name is unknown; pass --node-name or set NODE_NAME (from spec.nodeName)")
		os.Exit(2)
	}

	scheme := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(scheme))
	must(v1.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(metrics.InstrumentRESTConfig(ctrl.GetConfigOrDie()), ctrl.Options{
		Scheme:                 scheme,
		HealthProbeBindAddress: probeAddr,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr, SecureServing: true},
		// Only this node's VMIs and pods: a handler's cache stays small on a big cluster.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&v1.VirtualMachineInstance{}: {Label: labels.SelectorFromSet(labels.Set{v1.NodeNameLabel: nodeName})},
			&k8sv1.Pod{}:                 {Field: fields.OneTermEqualSelector("spec.nodeName", nodeName)},
			&v1.KubeVirt{}:               {Namespaces: map[string]cache.Config{namespace: {}}},
		}},
	})
	must(err)
	// VMIs migrating to this node carry its name in another label: a cache of their own.
	migrationTargets, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: scheme, Mapper: mgr.GetRESTMapper(),
		ByObject: map[client.Object]cache.ByObject{
			&v1.VirtualMachineInstance{}: {Label: labels.SelectorFromSet(labels.Set{v1.MigrationTargetNodeNameLabel: nodeName})},
		},
	})
	must(err)
	must(mgr.Add(migrationTargets))
	var plugins []*deviceplugin.Plugin
	for resource, device := range map[string]string{
		launcherv1.KVMResource:      "/dev/kvm",
		launcherv1.TunResource:      "/dev/net/tun",
		launcherv1.VhostNetResource: "/dev/vhost-net",
	} {
		plugins = append(plugins, &deviceplugin.Plugin{Log: log.WithName("device-plugin"), Resource: resource, Device: device, Count: deviceplugin.DefaultCount, Dir: pluginDir})
	}
	must(mgr.AddHealthzCheck("ping", healthz.Ping))
	must(mgr.AddReadyzCheck("informers", health.CacheSynced(mgr.GetCache())))
	must(metrics.NewStatus("virt-handler").AddTo(mgr))
	metrics.RegisterInfo()
	must(mgr.AddReadyzCheck("device-plugins", func(_ *http.Request) error {
		for _, p := range plugins {
			if !p.Ready() {
				return fmt.Errorf("the kubelet does not know %s yet", p.Resource)
			}
		}
		return nil
	}))

	capabilities, err := qemucaps.Load(capabilitiesDir, launcherImage)
	if err != nil {
		// Launchers probe QEMU themselves: slower starts, nothing lost.
		log.Error(err, "reading the QEMU capabilities probe's output; launchers will probe QEMU themselves")
	}
	log.Info("QEMU capabilities cache for launchers", "image", launcherImage, "files", len(capabilities.Files))

	clientset, err := kubernetes.NewForConfig(mgr.GetConfig())
	must(err)
	caFile := filepath.Join(caDir, wiring.CABundleKey)
	certs := &servingcert.Source{Log: log.WithName("certificate"), Client: clientset, NodeName: nodeName, CAFile: caFile}
	if podIP == "" {
		log.Info("no pod IP (--pod-ip, $POD_IP): VMIs cannot migrate to this node")
	}
	vmis := &vmi.Reconciler{
		Client:           mgr.GetClient(),
		Log:              log.WithName("vmi"),
		Recorder:         mgr.GetEventRecorderFor("virt-handler"),
		NodeName:         nodeName,
		KubeletPodsDir:   kubeletPods,
		Config:           (&clusterconfig.Source{Reader: mgr.GetClient(), Namespace: namespace, Default: clusterconfig.Config{UseEmulation: useEmulation}}).Get,
		QEMUCapabilities: capabilities,
		Workers:          workers,
		NodeAddress:      podIP,
		MigrationTLS:     certs,
		MigrationTargets: migrationTargets,
	}
	must(vmis.SetupWithManager(mgr))
	metrics.Registry.MustRegister(&domainstats.Collector{Node: nodeName, Reader: mgr.GetClient(), Targets: vmis.StatsTargets}, domainstats.MigrationDowntime)
	must(mgr.Add(certs))
	must(mgr.AddReadyzCheck("certificate", certs.Ready))
	must(mgr.Add(&consoleserver.Server{
		Log:            log.WithName("console-server"),
		Lookup:         vmis.Lookup,
		GetCertificate: certs.GetCertificate,
		CAFile:         caFile,
		Addr:           fmt.Sprintf(":%d", consolePort),
	}))

	ctx := ctrl.SetupSignalHandler()
	for _, p := range plugins {
		go p.Run(ctx)
	}
	go heartbeat.Run(ctx, log.WithName("heartbeat"), mgr.GetClient(), nodeName)

	// The flag is only the default for a cluster without a KubeVirt object; each launch
	// reads the object's developerConfiguration.useEmulation.
	log.Info("starting", "node", nodeName, "defaultUseEmulation", useEmulation)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "virt-handler stopped")
		os.Exit(1)
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "virt-handler: %v\n", err)
		os.Exit(1)
	}
}
