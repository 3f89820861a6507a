package rest

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/hypernest/hypernest/pkg/metrics"
)

// KubeVirt's connection metrics of virt-api (pkg/monitoring/metrics/virt-api), by
// namespace and VMI name (a VM's port-forward counts under the VM's name, which is its
// VMI's).
var (
	consoleConnections = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kubevirt_console_active_connections",
		Help: "Amount of active Console connections, broken down by namespace and vmi name.",
	}, []string{"namespace", "vmi"})
	vncConnections = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kubevirt_vnc_active_connections",
		Help: "Amount of active VNC connections, broken down by namespace and vmi name.",
	}, []string{"namespace", "vmi"})
	portForwardTunnels = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kubevirt_portforward_active_tunnels",
		Help: "Amount of active portforward tunnels, broken down by namespace and vmi name.",
	}, []string{"namespace", "vmi"})
	lastConnection = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kubevirt_vmi_last_api_connection_timestamp_seconds",
		Help: "Virtual Machine Instance last API connection timestamp. Including VNC, console, portforward, SSH and usbredir connections.",
	}, []string{"namespace", "vmi"})
)

func init() {
	metrics.Registry.MustRegister(consoleConnections, vncConnections, portForwardTunnels, lastConnection)
}

// countConnection counts a stream of kind ("console", "vnc", "portforward/...") to name
// as active until the returned func is called, which also stamps the VMI's last API
// connection (KubeVirt stamps it as a connection ends).
func countConnection(kind string, name types.NamespacedName) (done func()) {
	gauge := consoleConnections
	switch {
	case kind == "vnc":
		gauge = vncConnections
	case strings.HasPrefix(kind, "portforward/"):
		gauge = portForwardTunnels
	}
	active := gauge.WithLabelValues(name.Namespace, name.Name)
	active.Inc()
	return func() {
		active.Dec()
		lastConnection.WithLabelValues(name.Namespace, name.Name).Set(float64(time.Now().Unix()))
	}
}
