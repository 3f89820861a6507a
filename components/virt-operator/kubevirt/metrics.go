package kubevirt

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hypernest/hypernest/pkg/metrics"
)

// emulationEnabled is KubeVirt's kubevirt_configuration_emulation_enabled: set by the
// reconciler, which runs on the leading virt-operator only (KubeVirt registers it once
// its operator leads).
var emulationEnabled = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "kubevirt_configuration_emulation_enabled",
	Help: "Indicates whether the Software Emulation is enabled in the configuration.",
})

func init() {
	metrics.Registry.MustRegister(emulationEnabled)
}
