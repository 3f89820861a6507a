package metrics

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
)

// KubeVirt's REST client metrics (pkg/monitoring/metrics/common/client). KubeVirt
// counts requests in a round tripper and times them through client-go's metrics hooks;
// those hooks can be set once per process and controller-runtime sets them first, so
// here the round tripper does both. The latency is to the response's headers: a watch
// counts its set-up, not its life.
var (
	restRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubevirt_rest_client_requests_total",
		Help: "Number of HTTP requests, partitioned by status code, method, and host.",
	}, []string{"code", "method", "host", "resource", "verb"})
	restLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubevirt_rest_client_request_latency_seconds",
		Help:    "Request latency in seconds. Broken down by verb and URL.",
		Buckets: []float64{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60},
	}, []string{"verb", "url"})
)

func init() {
	Registry.MustRegister(restRequests, restLatency)
}

// InstrumentRESTConfig makes every request of the clients built from cfg count in
// kubevirt_rest_client_requests_total and kubevirt_rest_client_request_latency_seconds.
func InstrumentRESTConfig(cfg *rest.Config) *rest.Config {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return instrumented{next: rt} })
	return cfg
}

type instrumented struct{ next http.RoundTripper }

func (t instrumented) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	r := describeRequest(req.Method, req.URL)
	restLatency.WithLabelValues(r.verb, r.template).Observe(time.Since(start).Seconds())
	code := "<error>"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	host := req.URL.Host
	if host == "" {
		host = "none"
	}
	restRequests.WithLabelValues(code, req.Method, host, r.resource, r.verb).Inc()
	return resp, err
}

// requestLabels are a request's resource and verb (as KubeVirt names them: LIST, WATCH,
// GET, CREATE, UPDATE, PATCH, DELETE; "none" for both off the resource paths) and its
// URL with the namespace, name and query values replaced by placeholders, so that a
// label does not grow a series per object.
type requestLabels struct {
	resource, verb, template string
}

func describeRequest(method string, u *url.URL) requestLabels {
	segments := strings.Split(strings.Trim(u.Path, "/"), "/")
	query := u.Query()
	var prefix int
	switch {
	case len(segments) >= 3 && segments[0] == "api":
		prefix = 2
	case len(segments) >= 4 && segments[0] == "apis":
		prefix = 3
	default:
		return requestLabels{resource: "none", verb: "none", template: templateURL(u, query, segments)}
	}
	rest := segments[prefix:]
	watch := query.Get("watch") == "true" || query.Get("watch") == "1"
	if rest[0] == "watch" {
		watch, rest = true, rest[1:]
	}
	if len(rest) >= 3 && rest[0] == "namespaces" {
		rest[1] = "{namespace}"
		rest = rest[2:]
	}
	if len(rest) == 0 {
		return requestLabels{resource: "none", verb: "none", template: templateURL(u, query, segments)}
	}
	named := len(rest) >= 2
	if named {
		rest[1] = "{name}"
	}
	verb := method
	switch method {
	case http.MethodGet:
		switch {
		case watch:
			verb = "WATCH"
		case named:
			verb = "GET"
		default:
			verb = "LIST"
		}
	case http.MethodPut:
		verb = "UPDATE"
	case http.MethodPatch:
		verb = "PATCH"
	case http.MethodPost:
		verb = "CREATE"
	case http.MethodDelete:
		verb = "DELETE"
	}
	return requestLabels{resource: rest[0], verb: verb, template: templateURL(u, query, segments)}
}

// templateURL is the request's URL with every query value replaced (query is its
// parsed query, which this changes).
func templateURL(u *url.URL, query url.Values, segments []string) string {
	t := url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/" + strings.Join(segments, "/")}
	if len(query) > 0 {
		for k := range query {
			query[k] = []string{"{value}"}
		}
		t.RawQuery = query.Encode()
	}
	return t.String()
}
