// Command vmi benchmarks VMIs on the local cluster's node, with all of Hypernest
// installed (virt-api, virt-controller, virt-handler):
//   - one at a time, N VMIs from KubeVirt's vmi-nocloud.yaml: create to Running (the
//     domain started), Running to the cloud-init marker on the serial console (a TCG
//     boot), and the launcher pod's memory working set against its request;
//   - bursts of VMIs created at once: create to Running, P50 and P95 (from the create
//     call to the watch event showing Running, and from virt-controller's histogram
//     metric), the machine's CPU time per VMI start by process, the API server's writes,
//     virt-controller's memory;
//   - KubeVirt's density test on KWOK's fake nodes (--kwok-binary);
//
// and writes the figures as JSON with stable keys (--json, make bench's $BENCH_OUT) and
// the latency distribution as an SVG beside it. It prints figures; it judges nothing.
// It must run on the node (it reads cgroups, /proc and the console).
//
//	vmi --kubeconfig admin.kubeconfig --conformance ../shared/conformance/kubevirt-examples --count 3 --bursts 10,100 --json _out/bench/latest.json
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	k8sv1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	hnscheme "github.com/hypernest/hypernest/api/scheme"
	"github.com/hypernest/hypernest/components/virt-handler/launcherclient"
	"github.com/hypernest/hypernest/components/virt-operator/install"
	"github.com/hypernest/hypernest/manifests/crds"
)

type sample struct {
	toRunning, toMarker time.Duration
	workingSet, request int64
	guest               int64
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the local cluster")
	conformance := flag.String("conformance", "", "folder with KubeVirt's example manifests")
	count := flag.Int("count", 3, "VMIs to run, one after the other")
	bursts := flag.String("bursts", "10,100", "sizes of the bursts of VMIs created at once (comma-separated; empty: none); bursts above 10 run paused guests only")
	jsonOut := flag.String("json", envOr("BENCH_OUT", "_out/bench/latest.json"), "where to write the figures as JSON (an SVG of the latency distribution goes beside it)")
	warmUp := flag.Float64("cluster-up-warm-s", -1, "the warm cluster-up time measured before, to record with the rest (-1: not measured)")
	var kwok kwokOptions
	flag.StringVar(&kwok.binary, "kwok-binary", "", "KWOK's controller binary: run the density benchmark on fake nodes (empty: skip it)")
	flag.IntVar(&kwok.nodes, "kwok-nodes", 100, "fake nodes for the density benchmark (110 pods each)")
	flag.IntVar(&kwok.vmis, "kwok-vmis", 10000, "VMIs for the density benchmark")
	migrationCount := flag.Int("migrations", 0, "only live-migrate one booted guest this many times between two nodes, adding the figures to the JSON the run before wrote (0: the VMI benchmark)")
	flag.Parse()
	// The density run's VMI watch logs through controller-runtime; the benchmark prints
	// its own progress.
	ctrllog.SetLogger(logr.Discard())
	rec := &record{Date: time.Now().UTC().Format(time.RFC3339), Machine: machineName(), Cores: goruntime.NumCPU(), LoadAverage: loadAverage()}
	if *warmUp >= 0 {
		rec.ClusterUpWarmS = ptr.To(*warmUp)
	}
	var err error
	if *migrationCount > 0 {
		if err := readRecord(*jsonOut, rec); err != nil {
			fmt.Fprintln(os.Stderr, "vmi bench: reading", *jsonOut+":", err)
			os.Exit(1)
		}
		if err = runMigrations(*kubeconfig, *conformance, *migrationCount, rec); err == nil {
			printMigrations(rec)
		}
	} else {
		err = run(*kubeconfig, *conformance, *count, *bursts, kwok, rec, svgPath(*jsonOut))
	}
	if werr := rec.write(*jsonOut); werr != nil {
		fmt.Fprintln(os.Stderr, "vmi bench: writing", *jsonOut+":", werr)
	} else {
		fmt.Printf("figures written to %s and %s\n", *jsonOut, svgPath(*jsonOut))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmi bench:", err)
		os.Exit(1)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func svgPath(jsonPath string) string {
	return strings.TrimSuffix(jsonPath, filepath.Ext(jsonPath)) + ".svg"
}

// kwokOptions are the density benchmark's flags.
type kwokOptions struct {
	binary      string
	nodes, vmis int
}

// clients are the benchmark's connections to the cluster.
type clients struct {
	cfg    *rest.Config
	scheme *runtime.Scheme
	c      client.Client
	cs     kubernetes.Interface
}

func connect(kubeconfig string) (*clients, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = apiextensionsv1.AddToScheme(scheme)
	_ = hnscheme.AddToScheme(scheme)
	// Each distinct admission warning once (the paused guests' small memory draws one per
	// VMI from virt-api), not one per request.
	cfg.WarningHandler = rest.NewWarningWriter(os.Stderr, rest.WarningWriterOptions{Deduplicate: true})
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &clients{cfg: cfg, scheme: scheme, c: c, cs: cs}, nil
}

// demoTemplate is KubeVirt's vmi-nocloud.yaml from the conformance folder, with no
// shutdown grace (the benchmark does not measure shutdowns).
func demoTemplate(conformance string) (*v1.VirtualMachineInstance, error) {
	data, err := os.ReadFile(filepath.Join(conformance, "vmi-nocloud.yaml"))
	if err != nil {
		return nil, err
	}
	obj, _, err := hnscheme.StrictDecoder().Decode(data, nil, nil)
	if err != nil {
		return nil, err
	}
	template := obj.(*v1.VirtualMachineInstance)
	template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](0)
	return template, nil
}

// runMigrations is --migrations: Hypernest as the VMI benchmark installed it, on a
// cluster that has had a second node added since.
func runMigrations(kubeconfig, conformance string, n int, rec *record) error {
	k, err := connect(kubeconfig)
	if err != nil {
		return err
	}
	template, err := demoTemplate(conformance)
	if err != nil {
		return err
	}
	return migrations(context.Background(), k.c, k.cs, template, n, rec)
}

func run(kubeconfig, conformance string, count int, bursts string, kwok kwokOptions, rec *record, svgOut string) error {
	k, err := connect(kubeconfig)
	if err != nil {
		return err
	}
	cfg, scheme, c, cs := k.cfg, k.scheme, k.c, k.cs
	ctx := context.Background()
	oomBefore, oomErr := oomKills()
	countOOMKills := func() {
		if after, err := oomKills(); err == nil && oomErr == nil {
			rec.OOMKills = ptr.To(after - oomBefore)
		}
	}
	defer countOOMKills() // also when a step fails
	icfg := install.Config{Namespace: installNamespace, ImageRegistry: "localhost/hypernest", ImageTag: "devel", ImagePullPolicy: k8sv1.PullIfNotPresent, UseEmulation: true, SingleReplica: true}
	if err := setup(ctx, c, icfg); err != nil {
		return err
	}
	rec.Emulated = icfg.UseEmulation
	template, err := demoTemplate(conformance)
	if err != nil {
		return err
	}

	ns := &k8sv1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-vmi-"}}
	if err := c.Create(ctx, ns); err != nil {
		return err
	}
	defer c.Delete(context.Background(), ns)
	var samples []sample
	for i := 0; i < count; i++ {
		vmi := template.DeepCopy()
		vmi.Name, vmi.Namespace = fmt.Sprintf("bench-%d", i), ns.Name
		s, err := one(ctx, c, vmi)
		if err != nil {
			return fmt.Errorf("VMI %s: %w", vmi.Name, err)
		}
		samples = append(samples, s)
		if err := deleteAndWait(ctx, c, vmi); err != nil {
			return err
		}
	}
	report(samples, rec)

	// The cluster's own background CPU use, taken from each burst's CPU time.
	idleRate, err := busyCPURate(10 * time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("idle cluster: %.2f CPU-seconds per second\n", idleRate)
	var plots []series

	var failures []string
	for _, field := range strings.Split(bursts, ",") {
		if field = strings.TrimSpace(field); field == "" {
			continue
		}
		n, err := strconv.Atoi(field)
		if err != nil {
			return fmt.Errorf("--bursts: %q is not a number", field)
		}
		for _, paused := range []bool{false, true} {
			if n > 10 && !paused {
				// More than ten TCG guests booting at once leave the two cores to QEMU;
				// the control plane's latency is measured with paused guests there.
				continue
			}
			var before buckets
			if paused {
				before, _ = runningHistogram(ctx, cs, icfg.Namespace)
			}
			b, err := burst(ctx, c, cs, cfg, scheme, template, ns.Name, n, paused, idleRate)
			if err != nil {
				return fmt.Errorf("burst of %d: %w", n, err)
			}
			failures = append(failures, b.failures...)
			if !paused {
				rec.BootingBurstN = n
				if len(b.seconds) > 0 {
					rec.BootingBurstP50 = ptr.To(percentile(b.seconds, 50))
				}
				plots = append(plots, series{label: fmt.Sprintf("%d VMIs at once, booting guests", n), color: "#d62728", seconds: b.seconds})
				continue
			}
			plots = append(plots, series{label: fmt.Sprintf("%d VMIs at once, paused guests", n), color: burstColor(n), seconds: b.seconds})
			if n < rec.VMICount {
				continue
			}
			// The largest burst of paused guests is the record's: all of its figures
			// together, null where it measured nothing (never a smaller burst's).
			rec.VMICount, rec.VMIsRunning = n, len(b.seconds)
			rec.CreateToRunningP50, rec.CreateToRunningP95, rec.CreateToRunningMax = nil, nil, nil
			if len(b.seconds) > 0 {
				rec.CreateToRunningP50 = ptr.To(percentile(b.seconds, 50))
				rec.CreateToRunningP95 = ptr.To(percentile(b.seconds, 95))
				rec.CreateToRunningMax = ptr.To(b.seconds[len(b.seconds)-1])
			}
			rec.CPUSecondsPerVMIStart = b.cpuPerVMI
			rec.CPUSecondsPerVMIByProcess = b.cpuByProcess
			rec.APIWritesPerVMIStart = nil
			if b.apiWritesByResource != nil {
				rec.APIWritesPerVMIStart = ptr.To(sum(b.apiWritesByResource))
			}
			rec.ControllerRSS = b.controllerRSS
			rec.MillicoresPerRunningVMI, rec.MillicoresPerRunningVMIByProcess = b.steadyMillicoresPerVMI, b.steadyByProcess
			rec.HistogramP50, rec.HistogramP95 = nil, nil
			if after, err := runningHistogram(ctx, cs, icfg.Namespace); err == nil && before != nil {
				d := after.minus(before)
				if q, ok := d.quantile(0.5); ok {
					rec.HistogramP50 = ptr.To(q)
				}
				if q, ok := d.quantile(0.95); ok {
					rec.HistogramP95 = ptr.To(q)
				}
				fmt.Printf("  from virt-controller's histogram: p50 %s p95 %s\n", orDash(rec.HistogramP50), orDash(rec.HistogramP95))
			} else if err != nil {
				fmt.Printf("  virt-controller's histogram: %v\n", err)
			}
		}
	}
	if len(plots) > 0 {
		if err := writeCDF(svgOut, fmt.Sprintf("Hypernest: VMI create -> Running, %s, %s", rec.Machine, emulation(rec.Emulated)), plots); err != nil {
			return err
		}
	}
	if kwok.binary != "" {
		// Thousands of creates: no client-side rate limit (client-go's default of 5 per
		// second would measure the benchmark); the API server's priority and fairness rules.
		fast := rest.CopyConfig(cfg)
		fast.QPS = -1
		fc, err := client.New(fast, client.Options{Scheme: scheme})
		if err != nil {
			return err
		}
		k, err := kwokDensity(ctx, fast, kubeconfig, fc, scheme, kwok.binary, kwok.nodes, kwok.vmis)
		if err != nil {
			failures = append(failures, "KWOK density: "+err.Error())
		}
		if k.scheduledCount > 0 {
			// How many were scheduled, and, when all were, how long it took (null when
			// the limit passed first).
			rec.KWOKVMIs, rec.KWOKNodes = ptr.To(k.scheduledCount), ptr.To(k.nodes)
			if k.scheduledCount == k.vmis {
				rec.KWOKScheduledS = ptr.To(k.scheduled.Seconds())
			}
			rec.KWOKControllerCPUS, rec.KWOKControllerRSS = ptr.To(k.controllerCPU), k.controllerRSS
			if k.runCount == k.vmis {
				rec.KWOKRunningS = ptr.To(k.running.Seconds())
			}
		}
	}
	countOOMKills()
	printRecord(rec)
	if len(failures) > 0 {
		// Every figure is printed; the run still fails, so nobody quotes a burst in which
		// a VMI was lost as if all had run.
		return fmt.Errorf("%d VMIs left the path to Running:\n  %s", len(failures), strings.Join(failures, "\n  "))
	}
	return nil
}

// burstTimeout bounds one burst: 50 paused VMIs take about 80 s on 2 cores; a VMI not
// Running after this is reported lost, not waited for forever.
const burstTimeout = 10 * time.Minute

// burstResult is what one burst measured.
type burstResult struct {
	failures []string
	// seconds from each VMI's create call to the watch event that showed it Running
	// (the VMIs' own transition timestamps have whole seconds only), sorted.
	seconds []float64
	// cpuPerVMI is the machine's busy CPU time from the first create to the last VMI
	// Running, less the idle cluster's, per VMI.
	cpuPerVMI     *float64
	controllerRSS *float64
	// cpuByProcess is the CPU time per VMI by process group (idle use included).
	cpuByProcess map[string]float64
	// apiWritesByResource is the API server's write requests (every client's) per VMI.
	apiWritesByResource map[string]float64
	// steadyMillicoresPerVMI is what each VMI costs the machine once Running (the CPU
	// rate of the whole machine over steadyWindow after the burst, less the idle
	// cluster's, per Running VMI); steadyByProcess the same by process group, the idle
	// cluster's use included.
	steadyMillicoresPerVMI *float64
	steadyByProcess        map[string]float64
}

// steadyWindow is how long a burst's Running VMIs are watched before their deletion, to
// measure what they cost at rest: the launcher, libvirtd and QEMU of a paused guest
// should cost next to nothing, and whatever they do cost is taken from the VMIs still
// starting in a burst (100 of them on two cores). 20 s covers four of the launcher's
// 5 s state reads and one of virt-handler's heartbeats.
const steadyWindow = 20 * time.Second

// pausedGuestMemory sizes the guests of paused bursts: they never run, so their size
// changes nothing measured, and 100 launcher pods reserving 128 MiB guests plus their
// overhead would not fit this 24 GiB node (the scheduler would hold the rest Pending).
var pausedGuestMemory = resource.MustParse("16Mi")

// burst creates n VMIs at once and reports create -> Running (domain started) P50/P95.
// paused guests start with startStrategy Paused: their domains start, their vCPUs do not
// run, so n TCG boots do not compete with the control plane for the CPUs. A VMI that
// leaves the path to Running (ends as Succeeded or Failed, or is not Running in time)
// is given up on and returned as a failure with its name and reason; the figures are
// those of the VMIs that ran.
func burst(ctx context.Context, c client.Client, cs kubernetes.Interface, cfg *rest.Config, scheme *runtime.Scheme, template *v1.VirtualMachineInstance, ns string, n int, paused bool, idleRate float64) (burstResult, error) {
	var result burstResult
	var vmis []*v1.VirtualMachineInstance
	created := map[string]time.Time{}
	for i := 0; i < n; i++ {
		vmi := template.DeepCopy()
		vmi.Name, vmi.Namespace = fmt.Sprintf("burst-%d", i), ns
		// The node has 2 CPUs: KubeVirt's default 100m request would leave most of a large
		// burst unschedulable; 10m measures latency, not CPU quota.
		vmi.Spec.Domain.Resources.Requests = k8sv1.ResourceList{k8sv1.ResourceCPU: resource.MustParse("10m")}
		if paused {
			vmi.Spec.StartStrategy = ptr.To(v1.StartStrategyPaused)
			vmi.Spec.Domain.Memory = &v1.Memory{Guest: &pausedGuestMemory}
		}
		vmis = append(vmis, vmi)
	}
	// What each VMI did, as the watch reported it.
	var mu sync.Mutex
	running := map[string]time.Duration{}
	lost := map[string]string{}
	last := map[string]*v1.VirtualMachineInstance{}
	stopWatch, err := watchVMIs(ctx, cfg, scheme, ns, func(vmi *v1.VirtualMachineInstance) {
		mu.Lock()
		defer mu.Unlock()
		createdAt, ok := created[vmi.Name]
		if !ok {
			return
		}
		last[vmi.Name] = vmi
		_, ran := running[vmi.Name]
		_, gone := lost[vmi.Name]
		switch {
		case ran || gone:
		case vmi.Status.Phase == v1.Running:
			running[vmi.Name] = time.Since(createdAt)
		case vmi.Status.Phase.IsFinal():
			lost[vmi.Name] = fmt.Sprintf("%s ended as %s before it ran (reason %q) after %.0fs",
				vmi.Name, vmi.Status.Phase, vmi.Status.Reason, time.Since(createdAt).Seconds())
		}
	})
	if err != nil {
		return result, err
	}
	defer stopWatch()

	// The readings around the burst: /proc and the API server's metrics first and last,
	// so their own cost stays out of the machine's busy time between them.
	procsBefore := readProcessTimes()
	writesBefore, writesErr := apiWrites(ctx, cs)
	if writesErr != nil {
		fmt.Printf("  %v\n", writesErr)
	}
	busyBefore, err := busyCPUSeconds()
	if err != nil {
		return result, err
	}
	start := time.Now()
	for _, vmi := range vmis {
		mu.Lock()
		created[vmi.Name] = time.Now()
		mu.Unlock()
		if err := c.Create(ctx, vmi); err != nil {
			return result, err
		}
	}
	err = wait(burstTimeout, func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(running)+len(lost) == n, nil
	})
	all := time.Since(start)
	busyAfter, busyErr := busyCPUSeconds()
	procsAfter := readProcessTimes()
	writesAfter, writesAfterErr := apiWrites(ctx, cs)
	// What the Running VMIs cost at rest, measured before the summary takes the lock the
	// watch needs.
	mu.Lock()
	ran := len(running)
	mu.Unlock()
	if ran > 0 {
		result.steadyMillicoresPerVMI, result.steadyByProcess = steadyUse(ran, idleRate)
	}
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		for _, vmi := range vmis {
			_, ran := running[vmi.Name]
			_, gone := lost[vmi.Name]
			if !ran && !gone {
				phase := "no status"
				if l := last[vmi.Name]; l != nil {
					phase = fmt.Sprintf("phase %q, reason %q", l.Status.Phase, l.Status.Reason)
				}
				lost[vmi.Name] = fmt.Sprintf("%s not Running after %s (%s)", vmi.Name, burstTimeout, phase)
			}
		}
	}
	if busyErr == nil && len(running) > 0 {
		result.cpuPerVMI = ptr.To(max(busyAfter-busyBefore-idleRate*all.Seconds(), 0) / float64(len(running)))
		result.cpuByProcess = perVMI(cpuByGroup(procsBefore, procsAfter), len(running))
	}
	if writesErr == nil && writesAfterErr == nil && len(running) > 0 {
		result.apiWritesByResource = perVMI(writesBetween(writesBefore, writesAfter), len(running))
	}
	result.controllerRSS = controllerRSS(ctx, c)
	var d []float64
	for _, v := range running {
		d = append(d, v.Seconds())
	}
	sort.Float64s(d)
	kind := "booting guests"
	if paused {
		kind = "paused guests"
	}
	result.seconds = d
	if len(d) > 0 {
		fmt.Printf("burst of %d VMIs (%s) create->Running: p50 %.1fs p95 %.1fs max %.1fs (%d of %d Running after %.1fs); CPU per VMI start: %s\n",
			n, kind, percentile(d, 50), percentile(d, 95), d[len(d)-1], len(d), n, all.Seconds(), orDash(result.cpuPerVMI))
	}
	if result.cpuByProcess != nil {
		printCPUProfile(result.cpuByProcess, (busyAfter-busyBefore)/float64(len(running)))
	}
	if result.apiWritesByResource != nil {
		printAPIWrites(result.apiWritesByResource)
	}
	if result.steadyMillicoresPerVMI != nil {
		fmt.Printf("  at rest, %d Running VMIs over %s: %.1f millicores per VMI (the machine less the idle cluster), by process (idle use included):\n",
			ran, steadyWindow, *result.steadyMillicoresPerVMI)
		printLargestFirst(result.steadyByProcess, 0.05, "    %-42s %6.2f\n")
	}
	for _, vmi := range vmis {
		if why, ok := lost[vmi.Name]; ok {
			fmt.Printf("  FAILED: %s\n", why)
			result.failures = append(result.failures, why)
		}
	}
	for _, vmi := range vmis {
		if err := c.Delete(ctx, vmi); err != nil && !apierrors.IsNotFound(err) {
			return result, err
		}
	}
	for _, vmi := range vmis {
		if err := deleteAndWait(ctx, c, vmi); err != nil {
			return result, err
		}
	}
	return result, nil
}

// installNamespace is where the benchmark installs Hypernest.
const installNamespace = "kubevirt"

// controllerRSS is the resident memory of virt-controller's pods in MiB, nil if unknown.
func controllerRSS(ctx context.Context, c client.Client) *float64 {
	pods := &k8sv1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(installNamespace), client.MatchingLabels{v1.AppLabel: install.ControllerName}); err != nil {
		return nil
	}
	var rss int64
	for _, p := range pods.Items {
		if b, err := podRSS(string(p.UID)); err == nil {
			rss += b
		}
	}
	if rss == 0 {
		return nil
	}
	return ptr.To(float64(rss) / (1 << 20))
}

// percentile by the nearest-rank method over sorted values.
func percentile(sorted []float64, p int) float64 {
	rank := (p*len(sorted) + 99) / 100
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

func deleteAndWait(ctx context.Context, c client.Client, vmi *v1.VirtualMachineInstance) error {
	if err := c.Delete(ctx, vmi); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return wait(5*time.Minute, func() (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(vmi), &v1.VirtualMachineInstance{})
		return apierrors.IsNotFound(err), nil
	})
}

func setup(ctx context.Context, c client.Client, icfg install.Config) error {
	crdList, err := crds.All()
	if err != nil {
		return err
	}
	if err := install.Apply(ctx, c, icfg, crdList); err != nil {
		return err
	}
	return install.WaitReady(ctx, c, icfg, 5*time.Minute, func(string) {})
}

func one(ctx context.Context, c client.Client, vmi *v1.VirtualMachineInstance) (sample, error) {
	var s sample
	created := time.Now()
	if err := c.Create(ctx, vmi); err != nil {
		return s, err
	}
	if err := wait(5*time.Minute, func() (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(vmi), vmi)
		return vmi.Status.Phase == v1.Running, err
	}); err != nil {
		return s, fmt.Errorf("not Running: %w", err)
	}
	s.toRunning = time.Since(created)
	pods := &k8sv1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(vmi.Namespace), client.MatchingLabels{v1.CreatedByLabel: string(vmi.UID)}); err != nil || len(pods.Items) == 0 {
		return s, fmt.Errorf("no launcher pod: %v", err)
	}
	pod := &pods.Items[0]
	running := time.Now()
	if err := waitForConsole(pod, "printed from cloud-init userdata", 5*time.Minute); err != nil {
		return s, err
	}
	s.toMarker = time.Since(running)
	// Let the guest settle (its boot is done), then read the pod's memory.
	time.Sleep(10 * time.Second)
	var err error
	s.workingSet, err = podWorkingSet(string(pod.UID))
	if err != nil {
		return s, err
	}
	req := pod.Spec.Containers[0].Resources.Requests[k8sv1.ResourceMemory]
	s.request = req.Value()
	s.guest = vmi.Spec.Domain.Memory.Guest.Value()
	return s, nil
}

func waitForConsole(pod *k8sv1.Pod, marker string, timeout time.Duration) error {
	socket := filepath.Join(launcherv1.SocketsDirOnNode(launcherv1.KubeletPodsDir, string(pod.UID)), launcherv1.SerialSocket)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var conn interface {
		Read([]byte) (int, error)
		Close() error
		SetDeadline(time.Time) error
	}
	for {
		c, err := launcherclient.DialUnix(ctx, socket)
		if err == nil {
			conn = c
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no serial console at %s: %w", socket, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	scanner := bufio.NewScanner(conn)
	for scanner.Scan() {
		if strings.Contains(scanner.Text(), marker) {
			return nil
		}
	}
	return fmt.Errorf("the console never showed %q", marker)
}

// podWorkingSet is what the kubelet calls the pod's working set: memory usage minus
// inactive file pages, from the pod's memory cgroup (v1 on this host).
func podWorkingSet(podUID string) (int64, error) {
	dir, err := podMemoryCgroup(podUID)
	if err != nil {
		return 0, err
	}
	usage, err := readInt(filepath.Join(dir, "memory.usage_in_bytes"))
	if err != nil {
		return 0, err
	}
	stat, err := os.ReadFile(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(stat), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "total_inactive_file" {
			inactive, _ := strconv.ParseInt(f[1], 10, 64)
			return usage - inactive, nil
		}
	}
	return usage, nil
}

func readInt(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}

func wait(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			return fmt.Errorf("timed out after %s", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func report(samples []sample, rec *record) {
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	var running, marker []float64
	var overheadSum, overheadMax, wsMax float64
	exceeded := 0
	for _, s := range samples {
		running = append(running, s.toRunning.Seconds())
		marker = append(marker, s.toMarker.Seconds())
		overhead := mib(s.workingSet - s.guest)
		overheadSum += overhead
		overheadMax = max(overheadMax, overhead)
		wsMax = max(wsMax, mib(s.workingSet))
		if s.workingSet > s.request {
			exceeded++
		}
	}
	sort.Float64s(running)
	sort.Float64s(marker)
	s0 := samples[0]
	rec.SingleCreateToRunning = ptr.To(running[len(running)/2])
	rec.OverheadMiBMean = ptr.To(overheadSum / float64(len(samples)))
	rec.OverheadMiBMax = ptr.To(overheadMax)
	rec.ReservedOverheadMiB = ptr.To(mib(s0.request - s0.guest))
	fmt.Printf("vmis=%d (vmi-nocloud.yaml, 128Mi guest, TCG, one at a time)\n", len(samples))
	fmt.Printf("create->Running (domain started): median %.2fs max %.2fs\n", running[len(running)/2], running[len(running)-1])
	fmt.Printf("running->cloud-init marker on the console (TCG boot): median %.1fs max %.1fs\n", marker[len(marker)/2], marker[len(marker)-1])
	fmt.Printf("launcher pod memory request: %.0f MiB = guest %.0f MiB + reserved overhead %.0f MiB\n", mib(s0.request), mib(s0.guest), mib(s0.request-s0.guest))
	fmt.Printf("measured working set: max %.0f MiB; minus guest memory: mean %.0f MiB, max %.0f MiB; pods over their request: %d of %d\n",
		wsMax, overheadSum/float64(len(samples)), overheadMax, exceeded, len(samples))
}

func burstColor(n int) string {
	if n >= 100 {
		return "#1f77b4"
	}
	return "#2ca02c"
}

func emulation(emulated bool) string {
	if emulated {
		return "QEMU TCG (no KVM)"
	}
	return "KVM"
}

func orDash(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1fs", *v)
}

// printRecord prints the record beside KubeVirt's published figures
// (../shared/anchors/ANCHORS.md) and the goals.
func printRecord(r *record) {
	f := func(v *float64, unit string) string {
		if v == nil {
			return "not measured"
		}
		return fmt.Sprintf("%.2f %s", *v, unit)
	}
	fmt.Printf("\n%-52s %-22s %s\n", "figure ("+emulation(r.Emulated)+", "+r.Machine+")", "Hypernest", "KubeVirt (KVM, larger machines) / goal")
	row := func(name, ours, theirs string) { fmt.Printf("%-52s %-22s %s\n", name, ours, theirs) }
	row("one VMI create -> Running", f(r.SingleCreateToRunning, "s"), "- / goal <= 1 s")
	row(fmt.Sprintf("%d VMIs at once, create -> Running P50", r.VMICount), f(r.CreateToRunningP50, "s"), fmt.Sprintf("%.0f s (100 VMIs) / goal <= 10 s", kubeVirtP50))
	row(fmt.Sprintf("%d VMIs at once, create -> Running P95", r.VMICount), f(r.CreateToRunningP95, "s"), fmt.Sprintf("%.0f s (100 VMIs) / goal <= 20 s", kubeVirtP95))
	row("  the same from the histogram metric, P50 / P95", orDash(r.HistogramP50)+" / "+orDash(r.HistogramP95), "")
	row("CPU-seconds per VMI start (whole machine)", f(r.CPUSecondsPerVMIStart, "s"), "- / goal <= 0.5 s")
	row("CPU per Running VMI at rest (paused guests)", f(r.MillicoresPerRunningVMI, "millicores"), "")
	row("launcher overhead, measured, mean / max", f(r.OverheadMiBMean, "MiB")+" / "+f(r.OverheadMiBMax, "MiB"), "")
	row("launcher overhead, reserved", f(r.ReservedOverheadMiB, "MiB"), "240 MiB + 8 MiB per vCPU / goal <= 130 MiB (TCG)")
	oom := "not measured"
	if r.OOMKills != nil {
		oom = fmt.Sprint(*r.OOMKills)
	}
	row("OOM kills during the run", oom, "- / goal 0")
	row("virt-controller RSS after the burst", f(r.ControllerRSS, "MiB"), "")
	kwok := "not measured"
	switch {
	case r.KWOKVMIs != nil && r.KWOKScheduledS != nil:
		kwok = fmt.Sprintf("%d in %.0f s", *r.KWOKVMIs, *r.KWOKScheduledS)
	case r.KWOKVMIs != nil:
		kwok = fmt.Sprintf("%d, then the time limit", *r.KWOKVMIs)
	}
	row("KWOK: VMIs scheduled on fake nodes", kwok, "8,000 in <= 15 min / goal 10,000 in <= 5 min")
	if r.KWOKRunningS != nil {
		row("  all of them Running (KWOK's stage, as KubeVirt's test)", f(r.KWOKRunningS, "s"), "")
	}
	if r.KWOKControllerCPUS != nil {
		row("  virt-controller CPU time / RSS after", f(r.KWOKControllerCPUS, "s")+" / "+f(r.KWOKControllerRSS, "MiB"), "")
	}
}

// printMigrations prints the live migration figures (--migrations).
func printMigrations(r *record) {
	if r.Migrations == nil {
		return
	}
	f := func(v *float64, unit string) string {
		if v == nil {
			return "not measured"
		}
		return fmt.Sprintf("%.2f %s", *v, unit)
	}
	fmt.Printf("\nlive migration of a booted 128 MiB guest between two nodes of this machine (%d), create -> Succeeded P50 / max: %s / %s\n",
		*r.Migrations, f(r.MigrationP50, "s"), f(r.MigrationMax, "s"))
	fmt.Printf("  the guest paused at the switch-over, P50 / max: %s / %s\n", f(r.MigrationDowntimeP50, "ms"), f(r.MigrationDowntimeMax, "ms"))
}
