package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	crapprover "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"

	// The issuer implementations register themselves with pkg/issuer's factory, which
	// the issuers and clusterissuers loops consult; ACME, Vault and Venafi stay out.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

type options struct {
	kubeconfig               string
	leaderElect              bool
	leaderElectionNamespace  string
	clusterResourceNamespace string
	healthProbeAddr          string
	workers                  int
}

// controllerNames are the loops of cert-manager's controller registry
// (controller.Known()) that run: what Cluster API's providers use (self-signed and CA
// Issuers/ClusterIssuers, Certificates, CertificateRequests and their approval). The
// registry may hold more (ACME, shims) through transitive imports; they stay off.
var controllerNames = []string{
	issuers.ControllerName,
	clusterissuers.ControllerName,
	trigger.ControllerName,
	keymanager.ControllerName,
	requestmanager.ControllerName,
	issuing.ControllerName,
	readiness.ControllerName,
	revisionmanager.ControllerName,
	crapprover.ControllerName,
	crselfsigned.CRControllerName,
	crca.CRControllerName,
}

// run wires cert-manager's controller registry and its cainjector into one
// controller-runtime manager, so that both share one leader election and one health
// endpoint. It returns when ctx ends or something fails.
func run(ctx context.Context, o options) error {
	ctrl.SetLogger(logf.Log)
	ctx = logf.NewContext(ctx, logf.Log)

	// The same defaults as cert-manager's controller flags (cmd/controller), except
	// that a ClusterIssuer's Secrets live in our namespace instead of kube-system.
	factory, err := controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig:         o.kubeconfig,
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace:        o.clusterResourceNamespace,
			ClusterIssuerAmbientCredentials: true,
		},
		CertificateOptions: controller.CertificateOptions{
			CopiedAnnotationPrefixes:                 []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
	})
	if err != nil {
		return fmt.Errorf("building cert-manager's controller context: %w", err)
	}
	// Constructing a loop registers its informers with the shared factories, so every
	// loop is built before the factories start (in controllers.Start).
	loops := map[string]controller.Interface{}
	known := controller.Known()
	for _, name := range controllerNames {
		construct, ok := known[name]
		if !ok {
			return fmt.Errorf("cert-manager's controller registry has no %q; its package is not imported", name)
		}
		loop, err := construct(factory)
		if err != nil {
			return fmt.Errorf("constructing cert-manager controller %s: %w", name, err)
		}
		loops[name] = loop
	}
	base, err := factory.Build()
	if err != nil {
		return fmt.Errorf("building cert-manager's base controller context: %w", err)
	}

	restConfig, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("loading the API server configuration: %w", err)
	}
	restConfig = util.RestConfigWithUserAgent(restConfig, "cainjector")
	restConfig.QPS, restConfig.Burst = 20, 50

	scheme := runtime.NewScheme()
	utilruntime.Must(kscheme.AddToScheme(scheme))
	utilruntime.Must(cmscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	utilruntime.Must(apiregistrationv1.AddToScheme(scheme))

	// The manager's cache options are those of cert-manager's cainjector: nothing is
	// read lazily, and Secrets are read straight from the API server so that their
	// data never sits in the cache (the injectors watch only their metadata).
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cache.Options{ReaderFailOnMissingInformer: true},
		Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        o.healthProbeAddr,
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              "cert-manager-controller",
		LeaderElectionNamespace:       o.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating the controller manager: %w", err)
	}

	if err := cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   true,
			cainjector.ValidatingWebhookConfigurationName: true,
			cainjector.APIServiceName:                     true,
			cainjector.CustomResourceDefinitionName:       true,
		},
	}); err != nil {
		return fmt.Errorf("setting up cert-manager's cainjector: %w", err)
	}

	c := &controllers{base: base, loops: loops, workers: o.workers, cache: mgr.GetCache()}
	if err := mgr.Add(c); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("informers-synced", func(*http.Request) error {
		if !c.synced.Load() {
			return errors.New("informer caches have not synced yet")
		}
		return nil
	}); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// controllers runs cert-manager's registry loops under the manager (and so under its
// leader election), the way cert-manager's controller binary runs them under its own.
type controllers struct {
	base    *controller.Context
	loops   map[string]controller.Interface
	workers int
	cache   cache.Cache
	synced  atomic.Bool
}

func (c *controllers) NeedLeaderElection() bool { return true }

func (c *controllers) Start(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for name, loop := range c.loops {
		g.Go(func() error {
			if err := loop.Run(c.workers, ctx); err != nil {
				return fmt.Errorf("cert-manager controller %s: %w", name, err)
			}
			return nil
		})
	}
	c.base.SharedInformerFactory.Start(ctx.Done())
	c.base.KubeSharedInformerFactory.Start(ctx.Done())
	g.Go(func() error { return c.waitForSync(ctx) })
	return g.Wait()
}

// injectorInformers are the cache's informers behind the cainjector's reconcilers:
// the four injectable kinds, Certificates, and Secrets as metadata.
var injectorInformers = []client.Object{
	&admissionregistrationv1.MutatingWebhookConfiguration{},
	&admissionregistrationv1.ValidatingWebhookConfiguration{},
	&apiregistrationv1.APIService{},
	&apiextensionsv1.CustomResourceDefinition{},
	&cmapi.Certificate{},
	&metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}},
}

// waitForSync marks the process ready once every informer the loops and injectors
// read from holds the cluster's state: before that, nothing would get issued or
// injected, so /readyz (and the Deployment's availability) would be a lie.
func (c *controllers) waitForSync(ctx context.Context) error {
	var unsynced []string
	for t, ok := range c.base.SharedInformerFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			unsynced = append(unsynced, t.String())
		}
	}
	for t, ok := range c.base.KubeSharedInformerFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			unsynced = append(unsynced, t)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if len(unsynced) > 0 {
		sort.Strings(unsynced)
		return fmt.Errorf("informers did not sync: %v", unsynced)
	}
	for _, obj := range injectorInformers {
		// On a started cache GetInformer blocks until the informer has synced.
		if _, err := c.cache.GetInformer(ctx, obj); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("waiting for the %T informer: %w", obj, err)
		}
	}
	c.synced.Store(true)
	logf.Log.Info("all informers synced; issuing certificates and injecting CA bundles")
	return nil
}
