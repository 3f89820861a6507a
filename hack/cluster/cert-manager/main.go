// Command cert-manager runs cert-manager v1.21.2's own controllers on the local cluster:
// the SelfSigned and CA issuers, the Certificate and CertificateRequest control loops,
// the approver and the cainjector, in one process. It exists because cert-manager's
// cmd/* modules are not on the Go module proxy while its root module (all the
// controller code) is; see README.md. Local-cluster tooling only, never part of the
// provider.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"k8s.io/klog/v2"

	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
)

func main() {
	var o options
	fs := flag.NewFlagSet("cert-manager", flag.ExitOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; empty means the in-cluster service account")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "take a Lease before running the controllers (only needed with more than one replica)")
	fs.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the Lease; empty means the pod's own namespace")
	fs.StringVar(&o.clusterResourceNamespace, "cluster-resource-namespace", "cert-manager", "namespace holding the Secrets that ClusterIssuers refer to")
	fs.StringVar(&o.healthProbeAddr, "health-probe-bind-address", ":9403", "address serving /healthz and /readyz (ready once every informer has synced)")
	fs.IntVar(&o.workers, "concurrent-workers", 5, "workers per cert-manager control loop")
	// Only -v of klog's flags: the others (log files, headers) make no sense in a pod.
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	fs.Var(klogFlags.Lookup("v").Value, "v", "log verbosity (cert-manager: 2 info, 4 debug)")
	_ = fs.Parse(os.Args[1:])
	logf.InitLogs()

	// User agents and field managers carry cert-manager's version; its release builds
	// stamp it with -X, here it comes from the module we were built with.
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/cert-manager/cert-manager" {
				util.AppVersion = dep.Version
			}
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := run(ctx, o)
	klog.Flush()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cert-manager: %v\n", err)
		os.Exit(1)
	}
}
