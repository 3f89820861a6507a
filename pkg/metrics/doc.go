// Package metrics is what Hypernest's components share to serve Prometheus metrics under
// KubeVirt's names, labels and HELP texts (KubeVirt's pkg/monitoring/metrics), so that
// dashboards, alerts and recording rules written for KubeVirt work unchanged.
//
// Everything registers in controller-runtime's registry (Registry), which the managers'
// metrics servers serve; virt-api serves it on its own HTTPS server. Like KubeVirt's,
// /metrics is served over TLS on port 8443 (the container port named "metrics") and asks
// for no credentials: it carries names and counts, never the contents of a guest.
package metrics
