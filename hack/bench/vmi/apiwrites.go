package main

import (
	"context"
	"fmt"

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
	return parseAPIWrites(body)
}

func parseAPIWrites(body []byte) (map[string]float64, error) {
	families, err := parseMetrics(body)
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

// writesBetween is the writes by resource between two readings.
func writesBetween(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for res, n := range after {
		if d := n - before[res]; d > 0 {
			out[res] = d
		}
	}
	return out
}

// printAPIWrites prints the writes per VMI start, most first.
func printAPIWrites(perVMI map[string]float64) {
	fmt.Printf("  API writes per VMI start (every client's; %.1f in all):\n", sum(perVMI))
	printLargestFirst(perVMI, 0.05, "    %-42s %6.2f\n")
}
