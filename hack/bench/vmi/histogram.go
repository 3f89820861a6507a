package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	hnmetrics "github.com/hypernest/hypernest/pkg/metrics"
)

// buckets is a cumulative histogram: upper bound -> observations at or below it.
type buckets map[float64]float64

// runningHistogram reads virt-controller's create -> Running histogram
// (kubevirt_vmi_phase_transition_time_from_creation_seconds{phase="Running"}) through
// the API server's pod proxy, from the replica that leads.
func runningHistogram(ctx context.Context, cs kubernetes.Interface, namespace string) (buckets, error) {
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "kubevirt.io=virt-controller"})
	if err != nil {
		return nil, err
	}
	for _, p := range pods.Items {
		body, err := cs.CoreV1().Pods(namespace).ProxyGet("https", p.Name, strconv.Itoa(hnmetrics.Port), "metrics", nil).DoRaw(ctx)
		if err != nil {
			continue
		}
		families, err := parseMetrics(body)
		if err != nil {
			return nil, fmt.Errorf("parsing %s's metrics: %w", p.Name, err)
		}
		if lead := families["kubevirt_virt_controller_leading_status"]; lead == nil || len(lead.Metric) == 0 || lead.Metric[0].GetGauge().GetValue() != 1 {
			continue
		}
		out := buckets{}
		if f := families["kubevirt_vmi_phase_transition_time_from_creation_seconds"]; f != nil {
			for _, m := range f.Metric {
				for _, l := range m.Label {
					if l.GetName() == "phase" && l.GetValue() == "Running" {
						for _, b := range m.GetHistogram().GetBucket() {
							out[b.GetUpperBound()] = float64(b.GetCumulativeCount())
						}
						out[math.Inf(1)] = float64(m.GetHistogram().GetSampleCount())
					}
				}
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("no leading virt-controller served its metrics")
}

// parseMetrics reads Prometheus's text format.
func parseMetrics(body []byte) (map[string]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(bytes.NewReader(body))
}

// minus is what was observed between two scrapes of the same histogram.
func (b buckets) minus(before buckets) buckets {
	out := buckets{}
	for le, n := range b {
		out[le] = n - before[le]
	}
	return out
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile does: linear
// within the bucket the rank falls in; the highest finite bound when it falls beyond.
func (b buckets) quantile(q float64) (float64, bool) {
	bounds := make([]float64, 0, len(b))
	for le := range b {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 || b[bounds[len(bounds)-1]] == 0 {
		return 0, false
	}
	total := b[bounds[len(bounds)-1]]
	rank := q * total
	lower, below := 0.0, 0.0
	for _, le := range bounds {
		n := b[le]
		if n >= rank {
			if math.IsInf(le, 1) {
				return lower, true
			}
			if n == below {
				return le, true
			}
			return lower + (le-lower)*(rank-below)/(n-below), true
		}
		lower, below = le, n
	}
	return lower, true
}
