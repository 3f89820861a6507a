package metrics

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/hypernest/hypernest/pkg/version"
)

// KubeVirt's component status gauges (pkg/monitoring/metrics/<component>), with its
// HELP texts: ready once the component serves (or, for the leader-elected ones, is ready
// to take the lead), leading while it holds the lease.
var readyHelp = map[string]string{
	"virt-api":        "Indication for a virt-api server that is ready to serve requests.",
	"virt-controller": "Indication for a virt-controller that is ready to take the lead.",
	"virt-handler":    "Indication for a virt-handler that is ready to serve requests.",
	"virt-operator":   "Indication for a virt-operator that is ready to take the lead.",
}

var leadingHelp = map[string]string{
	"virt-controller": "Indication for an operating virt-controller.",
	"virt-operator":   "Indication for an operating virt-operator.",
}

func statusName(component, status string) string {
	return "kubevirt_" + strings.ReplaceAll(component, "-", "_") + "_" + status + "_status"
}

// Status is a component's ready (and, for leader-elected components, leading) gauge.
type Status struct {
	ready, leading prometheus.Gauge
	isLeading      atomic.Bool
}

// NewStatus registers component's status gauges (component is one of virt-api,
// virt-controller, virt-handler, virt-operator), both 0 until set.
func NewStatus(component string) *Status {
	s := &Status{ready: prometheus.NewGauge(prometheus.GaugeOpts{Name: statusName(component, "ready"), Help: readyHelp[component]})}
	Registry.MustRegister(s.ready)
	if help, ok := leadingHelp[component]; ok {
		s.leading = prometheus.NewGauge(prometheus.GaugeOpts{Name: statusName(component, "leading"), Help: help})
		Registry.MustRegister(s.leading)
	}
	return s
}

// SetReady sets the ready gauge.
func (s *Status) SetReady(ready bool) { s.ready.Set(BoolValue(ready)) }

// Leading says whether this replica holds the lease: the metrics only the leader
// serves (as in KubeVirt, where the leader alone runs the informers they come from)
// ask it, so that a sum over replicas counts each VMI once.
func (s *Status) Leading() bool { return s.isLeading.Load() }

// AddTo makes mgr set the gauges: ready once its caches have synced and its
// non-elected runnables start, leading from the moment it is elected (a replica that
// loses the lease exits, as controller-runtime's managers do).
func (s *Status) AddTo(mgr manager.Manager) error {
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		s.SetReady(true)
		<-ctx.Done()
		s.SetReady(false)
		return nil
	})); err != nil {
		return err
	}
	if s.leading == nil {
		return nil
	}
	return mgr.Add(OnLeader(func(ctx context.Context) error {
		s.isLeading.Store(true)
		s.leading.Set(1)
		<-ctx.Done()
		s.isLeading.Store(false)
		s.leading.Set(0)
		return nil
	}))
}

// OnLeader is a manager runnable that runs only on the elected replica (what the
// leader alone observes, as KubeVirt's leader alone runs the informers behind it).
type OnLeader func(ctx context.Context) error

func (f OnLeader) Start(ctx context.Context) error { return f(ctx) }
func (OnLeader) NeedLeaderElection() bool          { return true }

// BoolValue is a gauge's value for a condition: 1 or 0.
func BoolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// RegisterInfo registers kubevirt_info (virt-handler serves it in KubeVirt): always 1,
// with the Go version and the Hypernest version under KubeVirt's label names.
func RegisterInfo() {
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kubevirt_info", Help: "Version information."}, []string{"goversion", "kubeversion"})
	info.WithLabelValues(runtime.Version(), version.Get().GitVersion).Set(1)
	Registry.MustRegister(info)
}
