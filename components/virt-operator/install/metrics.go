package install

import (
	"maps"

	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/pkg/metrics"
)

// PrometheusServiceName is KubeVirt's headless Service in front of every component's
// /metrics: a ServiceMonitor or a scrape config that selects it finds Hypernest's
// components as it finds KubeVirt's.
const PrometheusServiceName = "kubevirt-prometheus-metrics"

// The label that puts a pod behind PrometheusServiceName (KubeVirt's). KubeVirt marks
// its pods with this label and no prometheus.io annotations; so does Hypernest.
const (
	prometheusLabelKey   = "prometheus.kubevirt.io"
	prometheusLabelValue = "true"
)

// podLabels are a component's pod template labels: its object labels and the
// Prometheus label (a copy: a selector made from labels must not gain it).
func podLabels(labels map[string]string) map[string]string {
	l := maps.Clone(labels)
	l[prometheusLabelKey] = prometheusLabelValue
	return l
}

// metricsContainerPort names the port /metrics is served on, which the Service targets
// by name (virt-api serves it on its API port, as KubeVirt's does).
func metricsContainerPort() k8sv1.ContainerPort {
	return k8sv1.ContainerPort{Name: metrics.PortName, ContainerPort: metrics.Port, Protocol: k8sv1.ProtocolTCP}
}

// PrometheusService selects every component pod that serves metrics; headless, so a
// scraper reaches each pod, not one of them.
func PrometheusService(cfg Config) *k8sv1.Service {
	return &k8sv1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: PrometheusServiceName, Namespace: cfg.Namespace,
			Labels: map[string]string{v1.AppLabel: "", prometheusLabelKey: prometheusLabelValue, v1.ManagedByLabel: v1.ManagedByLabelOperatorValue},
		},
		Spec: k8sv1.ServiceSpec{
			ClusterIP: k8sv1.ClusterIPNone,
			Selector:  map[string]string{prometheusLabelKey: prometheusLabelValue},
			Ports: []k8sv1.ServicePort{{
				Name: metrics.PortName, Port: 443, Protocol: k8sv1.ProtocolTCP, TargetPort: intstr.FromString(metrics.PortName),
			}},
		},
	}
}
