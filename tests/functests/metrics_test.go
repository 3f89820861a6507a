package functests

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	k8sv1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/validation"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/pkg/version"
)

var _ = Describe("Metrics", Label("metrics"), Ordered, func() {
	var virtctl string

	BeforeAll(func(ctx SpecContext) {
		virtctl = installWithVirtctl(ctx)
	})

	It("serves the components' metrics under KubeVirt's names through kubevirt-prometheus-metrics, with the values of the VMIs it runs", func(ctx SpecContext) {
		By("the headless Service kubevirt-prometheus-metrics selects every component pod on its metrics port")
		svc := &k8sv1.Service{}
		Expect(crClient.Get(ctx, client.ObjectKey{Namespace: installCfg.Namespace, Name: "kubevirt-prometheus-metrics"}, svc)).To(Succeed())
		Expect(svc.Spec.ClusterIP).To(Equal(k8sv1.ClusterIPNone))
		Expect(svc.Spec.Ports).To(HaveLen(1))
		Expect(svc.Spec.Ports[0].Name).To(Equal("metrics"))
		// virt-operator's pod joins them too; operator_test.go, which installs through
		// it, scrapes it (these specs install the components directly).
		components := []string{"virt-api", "virt-controller", "virt-handler"}
		Eventually(func(g Gomega) {
			slices := &discoveryv1.EndpointSliceList{}
			g.Expect(crClient.List(ctx, slices, client.InNamespace(installCfg.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name})).To(Succeed())
			var endpoints []string
			for _, s := range slices.Items {
				g.Expect(s.Ports).To(ContainElement(HaveField("Port", HaveValue(BeEquivalentTo(8443)))))
				for _, e := range s.Endpoints {
					if e.TargetRef != nil && e.Conditions.Ready != nil && *e.Conditions.Ready {
						endpoints = append(endpoints, e.TargetRef.Name)
					}
				}
			}
			for _, c := range components {
				g.Expect(endpoints).To(ContainElement(HavePrefix(c+"-")), "no ready endpoint of "+c)
			}
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(2 * time.Second).Should(Succeed())

		By("a VMI runs")
		ns := newTestNamespace()
		vmi := exampleVMI("vmi-nocloud.yaml")
		vmi.Name = "vmi-metrics"
		pod := startVMI(ctx, ns, vmi)
		vmi = waitForVMIPhase(ctx, ns, vmi.Name, v1.Running)

		Expect(vmi.Status.Machine).NotTo(BeNil())
		By("virt-controller: the VMI's info, phase count, launcher overhead and time from creation to Running")
		compute := pod.Spec.Containers[0]
		Expect(compute.Name).To(Equal(launcherv1.ComputeContainerName))
		overhead := compute.Resources.Requests.Memory().DeepCopy()
		overhead.Sub(*validation.GuestMemory(&vmi.Spec.Domain))
		Eventually(func(g Gomega) {
			families := scrapeComponent(ctx, g, "virt-controller")
			g.Expect(gauge(families, "kubevirt_virt_controller_leading_status", nil)).To(Equal(1.0))
			g.Expect(gauge(families, "kubevirt_virt_controller_ready_status", nil)).To(Equal(1.0))
			g.Expect(gauge(families, "kubevirt_vmi_info", map[string]string{
				"namespace": ns, "name": vmi.Name, "phase": "running", "node": vmi.Status.NodeName, "vmi_pod": pod.Name, "evictable": "true",
				"guest_os_machine": vmi.Status.Machine.Type,
			})).To(Equal(1.0))
			g.Expect(total(families, "kubevirt_vmi_phase_count", map[string]string{"phase": "running", "node": vmi.Status.NodeName})).To(BeNumerically(">=", 1))
			g.Expect(gauge(families, "kubevirt_vmi_launcher_memory_overhead_bytes", map[string]string{"namespace": ns, "name": vmi.Name})).
				To(Equal(float64(overhead.Value())), "the overhead virt-controller added to the launcher pod's memory request")
			running := histogram(families, "kubevirt_vmi_phase_transition_time_from_creation_seconds", map[string]string{"phase": "Running"})
			g.Expect(running).NotTo(BeNil())
			g.Expect(running.GetSampleCount()).To(BeNumerically(">=", 1))
			var bounds []float64
			for _, b := range running.GetBucket() {
				if !math.IsInf(b.GetUpperBound(), 1) {
					bounds = append(bounds, b.GetUpperBound())
				}
			}
			g.Expect(bounds).To(Equal([]float64{0.5, 1, 2, 5, 10, 20, 30, 40, 50, 60, 90, 120, 180, 300, 600, 1200, 1800, 3600}), "KubeVirt's buckets")
			g.Expect(total(families, "kubevirt_workqueue_adds_total", map[string]string{"name": "virt-controller-vmi"})).To(BeNumerically(">", 0))
			g.Expect(total(families, "kubevirt_rest_client_requests_total", map[string]string{"resource": "pods", "verb": "CREATE", "code": "201"})).To(BeNumerically(">", 0))
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(2 * time.Second).Should(Succeed())

		By("virt-handler: the guest's statistics from libvirt, its version, readiness and its work queue")
		guest := validation.GuestMemory(&vmi.Spec.Domain)
		Eventually(func(g Gomega) {
			families := scrapeComponent(ctx, g, "virt-handler")
			ours := map[string]string{"namespace": ns, "name": vmi.Name, "node": vmi.Status.NodeName}
			with := func(extra ...string) map[string]string {
				l := map[string]string{}
				for k, v := range ours {
					l[k] = v
				}
				for i := 0; i+1 < len(extra); i += 2 {
					l[extra[i]] = extra[i+1]
				}
				return l
			}
			g.Expect(gauge(families, "kubevirt_vmi_memory_domain_bytes", ours)).To(Equal(float64(guest.Value())), "the guest's memory")
			g.Expect(gauge(families, "kubevirt_vmi_memory_resident_bytes", ours)).To(BeNumerically(">", 0))
			// The demo guest's balloon driver reports what it sees (every 10 s).
			g.Expect(gauge(families, "kubevirt_vmi_memory_available_bytes", ours)).To(And(BeNumerically(">", 0), BeNumerically("<=", guest.Value())))
			g.Expect(gauge(families, "kubevirt_vmi_memory_usable_bytes", ours)).To(And(BeNumerically(">", 0), BeNumerically("<=", guest.Value())))
			g.Expect(total(families, "kubevirt_vmi_cpu_usage_seconds_total", ours)).To(BeNumerically(">", 0))
			g.Expect(total(families, "kubevirt_vmi_vcpu_seconds_total", with("id", "0"))).To(BeNumerically(">", 0), "vCPU 0's time")
			g.Expect(total(families, "kubevirt_vmi_storage_iops_read_total", with("drive", "containerdisk"))).To(BeNumerically(">", 0), "the guest read its boot disk")
			g.Expect(total(families, "kubevirt_vmi_storage_read_traffic_bytes_total", with("drive", "containerdisk"))).To(BeNumerically(">", 0))
			nic := with("interface", "default")
			g.Expect(total(families, "kubevirt_vmi_network_receive_packets_total", nic)+total(families, "kubevirt_vmi_network_transmit_packets_total", nic)).
				To(BeNumerically(">", 0), "the guest got its address by DHCP")
			g.Expect(gauge(families, "kubevirt_info", map[string]string{"kubeversion": version.Get().GitVersion})).To(Equal(1.0))
			g.Expect(gauge(families, "kubevirt_virt_handler_ready_status", nil)).To(Equal(1.0))
			g.Expect(total(families, "kubevirt_workqueue_adds_total", map[string]string{"name": "virt-handler-vm"})).To(BeNumerically(">", 0))
			g.Expect(total(families, "kubevirt_rest_client_requests_total", map[string]string{"resource": "virtualmachineinstances", "verb": "PATCH"})).To(BeNumerically(">", 0))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(2 * time.Second).Should(Succeed())

		By("virt-api: an open console counts as an active connection, and its end stamps the VMI's last connection")
		before := float64(time.Now().Unix())
		console, err := gexec.Start(exec.Command(virtctl, "-n", ns, "console", vmi.Name), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { console.Kill().Wait(time.Minute) })
		Eventually(console.Err).WithTimeout(time.Minute).Should(gbytes.Say("Successfully connected to " + vmi.Name + " console"))
		labels := map[string]string{"namespace": ns, "vmi": vmi.Name}
		Eventually(func(g Gomega) {
			families := scrapeComponent(ctx, g, "virt-api")
			g.Expect(gauge(families, "kubevirt_virt_api_ready_status", nil)).To(Equal(1.0))
			g.Expect(gauge(families, "kubevirt_console_active_connections", labels)).To(Equal(1.0))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(2 * time.Second).Should(Succeed())
		console.Kill().Wait(time.Minute)
		Eventually(func(g Gomega) {
			families := scrapeComponent(ctx, g, "virt-api")
			g.Expect(gauge(families, "kubevirt_console_active_connections", labels)).To(Equal(0.0))
			g.Expect(gauge(families, "kubevirt_vmi_last_api_connection_timestamp_seconds", labels)).To(BeNumerically(">=", before))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(2 * time.Second).Should(Succeed())
	})
})

// scrapeComponent reads /metrics of the component's pods (one each in the functional
// tests' installation) over HTTPS on the metrics port, through the API server's pod
// proxy, and merges what they serve.
func scrapeComponent(ctx context.Context, g Gomega, component string) map[string]*dto.MetricFamily {
	pods := &k8sv1.PodList{}
	g.Expect(crClient.List(ctx, pods, client.InNamespace(installCfg.Namespace), client.MatchingLabels{v1.AppLabel: component})).To(Succeed())
	merged := map[string]*dto.MetricFamily{}
	scraped := 0
	for _, p := range pods.Items {
		if p.Status.Phase != k8sv1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		body, err := kubeClient.CoreV1().Pods(p.Namespace).ProxyGet("https", p.Name, "8443", "metrics", nil).DoRaw(ctx)
		g.Expect(err).NotTo(HaveOccurred(), "scraping %s", p.Name)
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
		g.Expect(err).NotTo(HaveOccurred(), "parsing the metrics of %s", p.Name)
		for name, f := range families {
			if m, ok := merged[name]; ok {
				m.Metric = append(m.Metric, f.Metric...)
			} else {
				merged[name] = f
			}
		}
		scraped++
	}
	g.Expect(scraped).To(BeNumerically(">", 0), "no running %s pod", component)
	return merged
}

// sample is the one series of name whose labels include want; nil if none.
func sample(families map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f, ok := families[name]
	if !ok {
		return nil
	}
	var found *dto.Metric
	for _, m := range f.Metric {
		if hasLabels(m, want) {
			if found != nil {
				Fail(fmt.Sprintf("more than one series of %s with labels %v", name, want))
			}
			found = m
		}
	}
	return found
}

// gauge is the value of a gauge series, or -1 when there is none (so an expectation
// says which series was missing rather than failing on nil).
func gauge(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	if m := sample(families, name, want); m != nil && m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return -1
}

// total sums the series of a counter or gauge whose labels include want (requests by
// resource and verb come in one series per status code, 200 and 409 alike; VMIs per
// phase and node in one per guest OS), or is -1 when there is none.
func total(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := families[name]
	if !ok {
		return -1
	}
	sum, found := 0.0, false
	for _, m := range f.Metric {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum, found = sum+m.Counter.GetValue(), true
		case m.Gauge != nil:
			sum, found = sum+m.Gauge.GetValue(), true
		}
	}
	if !found {
		return -1
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.Label {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// sampleCount is the number of observations in the histogram series of name whose labels
// include want; 0 when there is no such series yet (nothing observed).
func sampleCount(families map[string]*dto.MetricFamily, name string, want map[string]string) uint64 {
	return histogram(families, name, want).GetSampleCount()
}

func histogram(families map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Histogram {
	if m := sample(families, name, want); m != nil {
		return m.Histogram
	}
	return nil
}
