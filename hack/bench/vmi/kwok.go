package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// kwokStages is KWOK's configuration: its default node and pod stages (which it adds
// itself when the configuration has none for them) and two for VMIs, as KubeVirt's
// density test has (tests/performance/manifests/kwok/stage): a VMI virt-controller
// scheduled onto a fake node is set Running (no virt-handler runs there), and a deleted
// one is let go.
//
//go:embed kwok-stages.yaml
var kwokStages []byte

// kwokTimeout bounds the density run after the last create: KubeVirt's allows 15 min
// for 8,000 VMIs. kwokRunningGrace is what KWOK's stage gets after that to set the
// last of them Running (it patched about 30 VMIs a second here).
const (
	kwokTimeout      = 15 * time.Minute
	kwokRunningGrace = 5 * time.Minute
)

// kwokResult is what the density run measured.
type kwokResult struct {
	vmis, nodes              int
	scheduled, running       time.Duration // first create -> last VMI Scheduled / Running
	created                  time.Duration // first create -> last create returned
	controllerCPU            float64       // virt-controller's CPU-seconds over the run
	controllerRSS            *float64
	scheduledCount, runCount int
}

// kwokDensity creates fake nodes managed by KWOK and vmis VMIs on them, as KubeVirt's
// density test does, and measures how long virt-controller takes to schedule them all
// (launcher pod created, bound by the scheduler, marked running by KWOK, VMI Scheduled)
// and until KWOK's stage has set them Running, with virt-controller's CPU time and memory.
func kwokDensity(ctx context.Context, cfg *rest.Config, kubeconfig string, c client.Client, scheme *runtime.Scheme, kwokBinary string, nodes, vmis int) (kwokResult, error) {
	res := kwokResult{vmis: vmis, nodes: nodes}
	dir, err := os.MkdirTemp("", "hypernest-kwok-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	config := filepath.Join(dir, "kwok.yaml")
	if err := os.WriteFile(config, kwokStages, 0o600); err != nil {
		return res, err
	}
	logFile, err := os.Create(filepath.Join(os.TempDir(), "hypernest-kwok.log"))
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	kwok := exec.CommandContext(ctx, kwokBinary, "--kubeconfig", kubeconfig, "--config", config,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		// Room for every fake pod's IP (KWOK's default /24 holds 254).
		"--cidr=10.250.0.1/16")
	kwok.Stdout, kwok.Stderr = logFile, logFile
	if err := kwok.Start(); err != nil {
		return res, fmt.Errorf("starting kwok: %w", err)
	}
	defer func() { _ = kwok.Process.Kill(); _ = kwok.Wait() }()
	fmt.Printf("kwok: %d fake nodes, %d VMIs (kwok's log: %s)\n", nodes, vmis, logFile.Name())

	for i := 0; i < nodes; i++ {
		if err := c.Create(ctx, fakeNode(fmt.Sprintf("kwok-node-%d", i))); err != nil && !apierrors.IsAlreadyExists(err) {
			return res, fmt.Errorf("creating fake node %d: %w", i, err)
		}
	}
	defer deleteFakeNodes(c)
	if err := wait(2*time.Minute, func() (bool, error) {
		list := &k8sv1.NodeList{}
		if err := c.List(ctx, list, client.MatchingLabels{"type": "kwok"}); err != nil {
			return false, err
		}
		ready := 0
		for _, n := range list.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == k8sv1.NodeReady && cond.Status == k8sv1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == nodes, nil
	}); err != nil {
		return res, fmt.Errorf("the fake nodes did not become Ready (is kwok running? see its log): %w", err)
	}

	ns := &k8sv1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-kwok-"}}
	if err := c.Create(ctx, ns); err != nil {
		return res, err
	}
	defer func() {
		// Deleted VMIs are let go by kwok's stage; the namespace goes with them.
		_ = c.DeleteAllOf(context.Background(), &v1.VirtualMachineInstance{}, client.InNamespace(ns.Name))
		_ = c.Delete(context.Background(), ns)
		_ = wait(5*time.Minute, func() (bool, error) {
			err := c.Get(context.Background(), client.ObjectKeyFromObject(ns), &k8sv1.Namespace{})
			return apierrors.IsNotFound(err), nil
		})
	}()

	var mu sync.Mutex
	scheduled, running := map[string]bool{}, map[string]bool{}
	var lastScheduled, lastRunning time.Time
	stopWatch, err := watchVMIs(ctx, cfg, scheme, ns.Name, func(vmi *v1.VirtualMachineInstance) {
		mu.Lock()
		defer mu.Unlock()
		if (vmi.Status.Phase == v1.Scheduled || vmi.Status.Phase == v1.Running) && !scheduled[vmi.Name] {
			scheduled[vmi.Name], lastScheduled = true, time.Now()
		}
		if vmi.Status.Phase == v1.Running && !running[vmi.Name] {
			running[vmi.Name], lastRunning = true, time.Now()
		}
	})
	if err != nil {
		return res, err
	}
	defer stopWatch()

	procsBefore := readProcessTimes()
	start := time.Now()
	// 16 clients creating at once: the API server, virt-api's webhooks and
	// virt-controller are measured, not one client's round trips.
	var next atomic.Int64
	var createErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= vmis || createErr.Load() != nil {
					return
				}
				if err := c.Create(ctx, fakeVMI(ns.Name, fmt.Sprintf("kwok-%d", i))); err != nil {
					createErr.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	res.created = time.Since(start)
	if err, _ := createErr.Load().(error); err != nil {
		return res, fmt.Errorf("creating VMIs: %w", err)
	}
	fmt.Printf("kwok: %d VMIs created in %.1fs\n", vmis, res.created.Seconds())
	progress := time.Now()
	counts := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		s, r := len(scheduled), len(running)
		if time.Since(progress) > 30*time.Second {
			fmt.Printf("kwok: after %.0fs: %d Scheduled, %d Running of %d\n", time.Since(start).Seconds(), s, r, vmis)
			progress = time.Now()
		}
		return s, r
	}
	// Scheduling is virt-controller's work, measured and required within the limit;
	// Running is KWOK's stage catching up (what KubeVirt's test waits for), reported
	// when it gets there within a few more minutes.
	err = wait(kwokTimeout, func() (bool, error) { s, _ := counts(); return s == vmis, nil })
	res.controllerCPU = cpuByGroup(procsBefore, readProcessTimes())["virt-controller"]
	if err == nil {
		_ = wait(kwokRunningGrace, func() (bool, error) { _, r := counts(); return r == vmis, nil })
	}
	mu.Lock()
	res.scheduledCount, res.runCount = len(scheduled), len(running)
	res.scheduled, res.running = lastScheduled.Sub(start), lastRunning.Sub(start)
	mu.Unlock()
	res.controllerRSS = controllerRSS(ctx, c)
	if err != nil {
		return res, fmt.Errorf("%d of %d VMIs Scheduled within %s of the last create; virt-controller used %.0f CPU-s",
			res.scheduledCount, vmis, kwokTimeout, res.controllerCPU)
	}
	fmt.Printf("kwok: %d VMIs on %d fake nodes: all Scheduled after %.1fs, all Running after %.1fs; virt-controller %.0f CPU-s, RSS %s\n",
		vmis, nodes, res.scheduled.Seconds(), res.running.Seconds(), res.controllerCPU, orDash(res.controllerRSS))
	return res, nil
}

// fakeNode is a node KWOK plays, as KubeVirt's density test makes them: schedulable for
// VMIs, tainted so nothing else lands there, with room for 110 pods.
func fakeNode(name string) *k8sv1.Node {
	capacity := k8sv1.ResourceList{
		k8sv1.ResourceCPU:              resource.MustParse("32"),
		k8sv1.ResourceMemory:           resource.MustParse("256Gi"),
		k8sv1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		k8sv1.ResourcePods:             resource.MustParse("110"),
		launcherv1.KVMResource:         resource.MustParse("1k"),
		launcherv1.TunResource:         resource.MustParse("1k"),
		launcherv1.VhostNetResource:    resource.MustParse("1k"),
	}
	return &k8sv1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      map[string]string{"type": "kwok", v1.NodeSchedulable: "true", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		},
		Spec: k8sv1.NodeSpec{Taints: []k8sv1.Taint{
			{Key: "kwok.x-k8s.io/node", Value: "fake", Effect: k8sv1.TaintEffectNoSchedule},
			{Key: "kwok.x-k8s.io/node", Value: "fake", Effect: k8sv1.TaintEffectNoExecute},
		}},
		Status: k8sv1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}

// fakeVMI is KubeVirt's density test VMI: a small guest pinned to the fake nodes.
func fakeVMI(namespace, name string) *v1.VirtualMachineInstance {
	memory := resource.MustParse("90Mi")
	return &v1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: v1.VirtualMachineInstanceSpec{
			NodeSelector: map[string]string{"type": "kwok"},
			Tolerations: []k8sv1.Toleration{
				{Key: "kwok.x-k8s.io/node", Operator: k8sv1.TolerationOpExists, Effect: k8sv1.TaintEffectNoSchedule},
				{Key: "kwok.x-k8s.io/node", Operator: k8sv1.TolerationOpExists, Effect: k8sv1.TaintEffectNoExecute},
			},
			Domain: v1.DomainSpec{
				Resources: v1.ResourceRequirements{
					Requests: k8sv1.ResourceList{k8sv1.ResourceMemory: memory, k8sv1.ResourceCPU: resource.MustParse("100m")},
				},
				Devices: v1.Devices{Disks: []v1.Disk{{Name: "containerdisk", DiskDevice: v1.DiskDevice{Disk: &v1.DiskTarget{Bus: v1.DiskBusVirtio}}}}},
			},
			Volumes:                       []v1.Volume{{Name: "containerdisk", VolumeSource: v1.VolumeSource{ContainerDisk: &v1.ContainerDiskSource{Image: "registry:5000/kubevirt/cirros-container-disk-demo:devel"}}}},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
		},
	}
}

func deleteFakeNodes(c client.Client) {
	_ = c.DeleteAllOf(context.Background(), &k8sv1.Node{}, client.MatchingLabels{"type": "kwok"})
}
