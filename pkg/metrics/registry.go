package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Port is where every component serves /metrics over HTTPS, KubeVirt's 8443; the
// container port carries the name PortName.
const (
	Port     = 8443
	PortName = "metrics"
)

// Registry is controller-runtime's registry: its metrics server serves it (with Go's
// runtime and process collectors), so the components' own metrics join it.
var Registry = ctrlmetrics.Registry

// Handler serves Registry, for servers that are not a controller-runtime metrics server.
func Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(Registry, promhttp.HandlerFor(Registry, promhttp.HandlerOpts{}))
}
