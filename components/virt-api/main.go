// Command virt-api is Hypernest's API front end (a Deployment behind the virt-api
// Service): it serves the admission webhooks of VMs, VMIs and the KubeVirt object, and
// subresources.kubevirt.io (start, stop, restart, pause, unpause, console, VNC) through the
// Kubernetes API server's aggregation layer.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
	migrationsv1alpha1 "github.com/hypernest/hypernest/api/migrations/v1alpha1"
	poolv1 "github.com/hypernest/hypernest/api/pool/v1beta1"
	"github.com/hypernest/hypernest/components/virt-api/rest"
	"github.com/hypernest/hypernest/components/virt-api/webhooks"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
	"github.com/hypernest/hypernest/pkg/health"
	"github.com/hypernest/hypernest/pkg/metrics"
	"github.com/hypernest/hypernest/pkg/version"
	"github.com/hypernest/hypernest/pkg/wiring"
)

func main() {
	var (
		certDir, namespace, handlerServerName string
		port, handlerPort                     int
		zapOpts                               zap.Options
	)
	flag.StringVar(&certDir, "cert-dir", wiring.APICertDir, "folder with virt-api's tls.crt and tls.key, and the CA's ca.crt")
	flag.IntVar(&port, "port", wiring.APIPort, "HTTPS port of the webhooks and the subresource API")
	flag.IntVar(&handlerPort, "handler-port", wiring.HandlerConsolePort, "port of virt-handler's console server")
	flag.StringVar(&handlerServerName, "handler-server-name", wiring.HandlerServerName, "the name in virt-handler's server certificate")
	flag.StringVar(&namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the namespace Hypernest is installed in (default: $POD_NAMESPACE)")
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	log := zap.New(zap.UseFlagOptions(&zapOpts)).WithName("virt-api")
	ctrl.SetLogger(log)
	if namespace == "" {
		fail("the namespace is unknown; pass --namespace or set POD_NAMESPACE (from metadata.namespace)")
	}

	scheme := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(scheme))
	must(v1.AddToScheme(scheme))
	must(poolv1.AddToScheme(scheme))
	must(itv1.AddToScheme(scheme))
	must(migrationsv1alpha1.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(metrics.InstrumentRESTConfig(ctrl.GetConfigOrDie()), ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		// Pods: only virt-handler's, to find the one on a VMI's node.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&k8sv1.Pod{}: {
				Label:      labels.SelectorFromSet(labels.Set{v1.AppLabel: wiring.HandlerName}),
				Namespaces: map[string]cache.Config{namespace: {}},
			},
			// The KubeVirt object of the installation: its feature gates gate subresources.
			&v1.KubeVirt{}: {Namespaces: map[string]cache.Config{namespace: {}}},
		}},
	})
	must(err)

	certs, err := certwatcher.New(filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key"))
	if err != nil {
		fail(fmt.Sprintf("virt-api's certificate in %s: %v (the %s Secret)", certDir, err, wiring.APICertSecretName))
	}
	must(mgr.Add(certs))
	frontProxy := &rest.FrontProxy{Reader: mgr.GetAPIReader()}

	mux := http.NewServeMux()
	// virt-api's readiness probe: ready once its informers (virt-handler pods, the
	// KubeVirt object the webhooks and subresources read) have synced.
	mux.Handle("GET /healthz", health.Handler(map[string]healthz.Checker{"informers": health.CacheSynced(mgr.GetCache())}))
	// Metrics on the API port, as KubeVirt's virt-api serves them, with no credentials
	// asked (see pkg/metrics).
	mux.Handle("GET /metrics", metrics.Handler())
	status := metrics.NewStatus("virt-api")
	config := (&clusterconfig.Source{Reader: mgr.GetClient(), Namespace: namespace}).Get
	webhooks.Register(mux, scheme, mgr.GetClient(), mgr.GetAPIReader(), namespace, config)
	(&rest.API{
		Log:        log.WithName("subresources"),
		Client:     mgr.GetClient(),
		Reader:     mgr.GetAPIReader(),
		Auth:       frontProxy,
		Authorizer: &rest.Authorizer{Client: mgr.GetClient()},
		Handlers: &rest.HandlerDialer{
			Client: mgr.GetClient(), Namespace: namespace, Selector: map[string]string{v1.AppLabel: wiring.HandlerName},
			Port: handlerPort, ServerName: handlerServerName, CertDir: certDir, Certs: certs,
		},
		Version: version.Get(),
		Config:  config,
	}).Register(mux)

	server := &http.Server{
		Addr:              fmt.Sprintf(":%d", port),
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// Aggregated requests come with the API server's front-proxy certificate;
			// webhook calls and probes come with none. The front-proxy CA is re-read as
			// the API server rotates it.
			GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				return &tls.Config{
					MinVersion:     tls.VersionTLS12,
					GetCertificate: certs.GetCertificate,
					ClientAuth:     tls.VerifyClientCertIfGiven,
					ClientCAs:      frontProxy.ClientCAs(hello.Context()),
				}, nil
			},
		},
	}
	must(mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = server.Shutdown(shutdownCtx)
		}()
		log.Info("serving webhooks and subresources.kubevirt.io", "addr", server.Addr, "version", version.Get().String())
		status.SetReady(true)
		defer status.SetReady(false)
		if err := server.ListenAndServeTLS("", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})))

	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "virt-api stopped")
		os.Exit(1)
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "virt-api: "+msg)
	os.Exit(1)
}

func must(err error) {
	if err != nil {
		fail(err.Error())
	}
}
