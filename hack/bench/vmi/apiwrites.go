package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"
)

// writeVerbs are the API server's request verbs that change stored objects.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true}

// apiWrites reads the API server's apiserver_request_total and sums the writes by
// resource (with its subresource: virtualmachineinstances/status), every client's.
func apiWrites(ctx context.Context, cs kubernetes.Interface) (map[string]float64, error) {
	body, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	return parseAPIWrites(string(body))
}

func parseAPIWrites(text string) (map[string]float64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parsing the API server's metrics: %w", err)
	}
	out := map[string]float64{}
	f := families["apiserver_request_total"]
	if f == nil {
		return out, nil
	}
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if !writeVerbs[labels["verb"]] || labels["resource"] == "" {
			continue
		}
		key := labels["resource"]
		if sub := labels["subresource"]; sub != "" {
			key += "/" + sub
		}
		out[key] += m.GetCounter().GetValue()
	}
	return out, nil
}

// printAPIWrites prints the writes per VMI start between two readings, most first.
func printAPIWrites(before, after map[string]float64, vmis int) (total float64) {
	if vmis == 0 || before == nil || after == nil {
		return 0
	}
	type row struct {
		resource string
		n        float64
	}
	var rows []row
	for res, n := range after {
		if d := n - before[res]; d > 0 {
			rows = append(rows, row{res, d / float64(vmis)})
			total += d / float64(vmis)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].n > rows[j].n })
	fmt.Printf("  API writes per VMI start (every client's; %.1f in all):\n", total)
	for _, r := range rows {
		if r.n >= 0.05 {
			fmt.Printf("    %-42s %6.2f\n", r.resource, r.n)
		}
	}
	return total
}
