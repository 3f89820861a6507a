package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// KubeVirt's work queue metrics (pkg/monitoring/metrics/common/workqueue): one label,
// the queue's name, and client-go's meaning for each.
var (
	workqueueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kubevirt_workqueue_depth", Help: "Current depth of workqueue",
	}, []string{"name"})
	workqueueAdds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubevirt_workqueue_adds_total", Help: "Total number of adds handled by workqueue",
	}, []string{"name"})
	workqueueLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kubevirt_workqueue_queue_duration_seconds", Help: "How long an item stays in workqueue before being requested.",
		Buckets: workqueueBuckets,
	}, []string{"name"})
	workqueueWorkDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kubevirt_workqueue_work_duration_seconds", Help: "How long in seconds processing an item from workqueue takes.",
		Buckets: workqueueBuckets,
	}, []string{"name"})
	workqueueUnfinished = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kubevirt_workqueue_unfinished_work_seconds",
		Help: "How many seconds of work have been in progress without being observed by work_duration. Large values indicate stuck threads. " +
			"The number of stuck threads can be deduced by observing the rate at which this value increases.",
	}, []string{"name"})
	workqueueLongestRunning = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kubevirt_workqueue_longest_running_processor_seconds",
		Help: "How many seconds has the longest running processor for workqueue been running.",
	}, []string{"name"})
	workqueueRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubevirt_workqueue_retries_total", Help: "Total number of retries handled by workqueue",
	}, []string{"name"})
)

// workqueueBuckets are KubeVirt's (and client-go's): 10 ns to 10 s, by tens.
var workqueueBuckets = prometheus.ExponentialBuckets(10e-9, 10, 10)

func init() {
	Registry.MustRegister(workqueueDepth, workqueueAdds, workqueueLatency, workqueueWorkDuration,
		workqueueUnfinished, workqueueLongestRunning, workqueueRetries)
}

// workqueueMetrics gives a queue its series by name (client-go's MetricsProvider).
type workqueueMetrics struct{}

func (workqueueMetrics) NewDepthMetric(name string) workqueue.GaugeMetric {
	return workqueueDepth.WithLabelValues(name)
}
func (workqueueMetrics) NewAddsMetric(name string) workqueue.CounterMetric {
	return workqueueAdds.WithLabelValues(name)
}
func (workqueueMetrics) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return workqueueLatency.WithLabelValues(name)
}
func (workqueueMetrics) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return workqueueWorkDuration.WithLabelValues(name)
}
func (workqueueMetrics) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return workqueueUnfinished.WithLabelValues(name)
}
func (workqueueMetrics) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return workqueueLongestRunning.WithLabelValues(name)
}
func (workqueueMetrics) NewRetriesMetric(name string) workqueue.CounterMetric {
	return workqueueRetries.WithLabelValues(name)
}

// Queue is a controller's NewQueue option: controller-runtime's priority queue (its
// default) reporting under KubeVirt's names, as the queue KubeVirt calls name (for
// example "virt-controller-vmi"), so a dashboard's queue filter finds it.
func Queue[T comparable](name string) func(string, workqueue.TypedRateLimiter[T]) workqueue.TypedRateLimitingInterface[T] {
	return func(controllerName string, rateLimiter workqueue.TypedRateLimiter[T]) workqueue.TypedRateLimitingInterface[T] {
		return priorityqueue.New(name, func(o *priorityqueue.Opts[T]) {
			o.RateLimiter = rateLimiter
			o.MetricProvider = workqueueMetrics{}
			o.Log = logf.Log.WithValues("controller", controllerName)
		})
	}
}
