// Command vmi benchmarks VMIs on the local cluster's node: for each of N VMIs built from
// KubeVirt's vmi-nocloud.yaml it measures the time from Scheduled to Running (Sync to a
// started domain), from Running to the cloud-init marker on the serial console (a TCG
// boot), and the launcher pod's memory working set against its request. It prints
// figures; it judges nothing. It must run on the node (it reads cgroups and the console).
//
//	vmi --kubeconfig admin.kubeconfig --conformance ../shared/conformance/kubevirt-examples --count 3
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	hnscheme "github.com/hypernest/hypernest/api/scheme"
	"github.com/hypernest/hypernest/components/virt-controller/services"
	"github.com/hypernest/hypernest/components/virt-handler/launcherclient"
	"github.com/hypernest/hypernest/components/virt-operator/install"
)

type sample struct {
	toRunning, toMarker time.Duration
	workingSet, request int64
	guest               int64
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the local cluster")
	conformance := flag.String("conformance", "", "folder with KubeVirt's example manifests")
	crds := flag.String("crds", "manifests/crds", "folder with the CRDs")
	count := flag.Int("count", 3, "VMIs to run, one after the other")
	flag.Parse()
	if err := run(*kubeconfig, *conformance, *crds, *count); err != nil {
		fmt.Fprintln(os.Stderr, "vmi bench:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, conformance, crdDir string, count int) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = apiextensionsv1.AddToScheme(scheme)
	_ = hnscheme.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	ctx := context.Background()
	icfg := install.Config{Namespace: "kubevirt", ImageRegistry: "localhost/hypernest", ImageTag: "devel", ImagePullPolicy: k8sv1.PullIfNotPresent, UseEmulation: true}
	if err := setup(ctx, c, icfg, crdDir); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(conformance, "vmi-nocloud.yaml"))
	if err != nil {
		return err
	}
	obj, _, err := hnscheme.StrictDecoder().Decode(data, nil, nil)
	if err != nil {
		return err
	}
	template := obj.(*v1.VirtualMachineInstance)

	ns := &k8sv1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-vmi-"}}
	if err := c.Create(ctx, ns); err != nil {
		return err
	}
	defer c.Delete(context.Background(), ns)
	var samples []sample
	for i := 0; i < count; i++ {
		vmi := template.DeepCopy()
		vmi.Name, vmi.Namespace = fmt.Sprintf("bench-%d", i), ns.Name
		s, err := one(ctx, c, icfg, vmi)
		if err != nil {
			return fmt.Errorf("VMI %s: %w", vmi.Name, err)
		}
		samples = append(samples, s)
		_ = c.Delete(ctx, vmi)
	}
	report(samples)
	return nil
}

func setup(ctx context.Context, c client.Client, icfg install.Config, crdDir string) error {
	files, _ := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, crd); err != nil {
			return err
		}
		if err := c.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	if err := c.Create(ctx, &k8sv1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: icfg.Namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	sa, role, binding, ds := install.HandlerObjects(icfg)
	for _, o := range []client.Object{sa, role, binding, ds} {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return wait(5*time.Minute, func() (bool, error) {
		got := ds.DeepCopy()
		if err := c.Get(ctx, client.ObjectKeyFromObject(ds), got); err != nil {
			return false, err
		}
		return got.Status.NumberReady >= 1, nil
	})
}

func one(ctx context.Context, c client.Client, icfg install.Config, vmi *v1.VirtualMachineInstance) (sample, error) {
	var s sample
	if err := c.Create(ctx, vmi); err != nil {
		return s, err
	}
	pod, err := services.RenderLauncherPod(vmi, services.LauncherPodConfig{Image: icfg.Image("virt-launcher"), ImagePullPolicy: icfg.ImagePullPolicy, UseEmulation: true})
	if err != nil {
		return s, err
	}
	if err := c.Create(ctx, pod); err != nil {
		return s, err
	}
	if err := wait(5*time.Minute, func() (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(pod), pod)
		return pod.Status.Phase == k8sv1.PodRunning, err
	}); err != nil {
		return s, fmt.Errorf("the launcher pod did not run: %w", err)
	}
	patch := client.MergeFrom(vmi.DeepCopy())
	vmi.Labels = map[string]string{v1.NodeNameLabel: pod.Spec.NodeName}
	if err := c.Patch(ctx, vmi, patch); err != nil {
		return s, err
	}
	statusPatch := client.MergeFrom(vmi.DeepCopy())
	vmi.Status.Phase, vmi.Status.NodeName = v1.Scheduled, pod.Spec.NodeName
	scheduled := time.Now()
	if err := c.Status().Patch(ctx, vmi, statusPatch); err != nil {
		return s, err
	}
	if err := wait(5*time.Minute, func() (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(vmi), vmi)
		return vmi.Status.Phase == v1.Running, err
	}); err != nil {
		return s, fmt.Errorf("not Running: %w", err)
	}
	s.toRunning = time.Since(scheduled)
	running := time.Now()
	if err := waitForConsole(pod, "printed from cloud-init userdata", 5*time.Minute); err != nil {
		return s, err
	}
	s.toMarker = time.Since(running)
	// Let the guest settle (its boot is done), then read the pod's memory.
	time.Sleep(10 * time.Second)
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
	dirs, _ := filepath.Glob("/sys/fs/cgroup/memory/kubepods*/pod" + podUID)
	more, _ := filepath.Glob("/sys/fs/cgroup/memory/kubepods*/*/pod" + podUID)
	dirs = append(dirs, more...)
	if len(dirs) == 0 {
		return 0, fmt.Errorf("no memory cgroup for pod %s", podUID)
	}
	usage, err := readInt(filepath.Join(dirs[0], "memory.usage_in_bytes"))
	if err != nil {
		return 0, err
	}
	stat, err := os.ReadFile(filepath.Join(dirs[0], "memory.stat"))
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

func report(samples []sample) {
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
	fmt.Printf("vmis=%d (vmi-nocloud.yaml, 128Mi guest, TCG, one at a time)\n", len(samples))
	fmt.Printf("scheduled->running (Sync to started domain): median %.2fs max %.2fs\n", running[len(running)/2], running[len(running)-1])
	fmt.Printf("running->cloud-init marker on the console (TCG boot): median %.1fs max %.1fs\n", marker[len(marker)/2], marker[len(marker)-1])
	fmt.Printf("launcher pod memory request: %.0f MiB = guest %.0f MiB + reserved overhead %.0f MiB\n", mib(s0.request), mib(s0.guest), mib(s0.request-s0.guest))
	fmt.Printf("measured working set: max %.0f MiB; minus guest memory: mean %.0f MiB, max %.0f MiB; pods over their request: %d of %d\n",
		wsMax, overheadSum/float64(len(samples)), overheadMax, exceeded, len(samples))
}
