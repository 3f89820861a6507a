package functests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-operator/install"
	"github.com/hypernest/hypernest/pkg/wiring"
	"github.com/hypernest/hypernest/tests/framework"
)

// faultStreamInterval is how often the stream acts on one VM: with two VMs each is
// started, restarted or stopped every 6 s, well inside a TCG guest's 10-60 s boot, so faults
// land on VMs that are starting, running and stopping.
const faultStreamInterval = 3 * time.Second

// faultSettle is the pause after each fault before the next, so each lands on a
// different moment of the stream.
const faultSettle = 15 * time.Second

// vmStream cycles VMs through start, restart and stop with virtctl until stopped, and
// keeps what was acknowledged: a request whose answer was lost (the API server went away
// mid-call) makes that VM's wanted state unknown until the next acknowledged one.
type vmStream struct {
	mu                            sync.Mutex
	wantRunning                   map[string]bool
	unknown                       map[string]bool
	acknowledged, refused, failed int
}

func (s *vmStream) run(ctx context.Context, virtctl, ns string, names []string) {
	defer GinkgoRecover()
	for i := 0; ctx.Err() == nil; i++ {
		name := names[i%len(names)]
		s.mu.Lock()
		start, unknown := !s.wantRunning[name], s.unknown[name]
		s.mu.Unlock()
		if unknown {
			// The last answer was lost: flip what the VM says it is asked to be.
			vm := &v1.VirtualMachine{}
			if err := crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, vm); err == nil && vm.Spec.RunStrategy != nil {
				start = *vm.Spec.RunStrategy != v1.RunStrategyAlways
			}
		}
		// A running VM is restarted on every other turn, stopped on the others.
		verb := "stop"
		switch {
		case start:
			verb = "start"
		case i/len(names)%2 == 0:
			verb = "restart"
		}
		callCtx, cancel := context.WithTimeout(ctx, time.Minute)
		out, err := exec.CommandContext(callCtx, virtctl, "-n", ns, verb, name).CombinedOutput()
		cancel()
		s.mu.Lock()
		switch {
		case err == nil:
			s.acknowledged++
			s.wantRunning[name], s.unknown[name] = verb != "stop", false
		case ctx.Err() != nil:
		case strings.Contains(string(out), "Operation cannot be fulfilled"):
			// 409 Conflict: refused, so nothing changed (a start while the stopped
			// instance is still going, as KubeVirt refuses it too).
			s.refused++
		default:
			s.failed++
			s.unknown[name] = true
			GinkgoWriter.Printf("fault stream: virtctl %s %s: %v: %s", verb, name, err, out)
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(faultStreamInterval):
		}
	}
}

var _ = Describe("Faults under a stream of VM starts, restarts and stops", Ordered, Label("fault"), func() {
	var virtctl string

	BeforeAll(func(ctx SpecContext) { virtctl = installWithVirtctl(ctx) })

	It("loses nothing: every VM ends as last asked, with one launcher pod and one QEMU per VMI and a steady guest never restarted, across restarts of etcd, kube-apiserver, virt-controller, virt-api, virt-handler and kills of a launcher and a QEMU", func(ctx SpecContext) {
		ns := newTestNamespace()
		names := []string{"vm-fault-a", "vm-fault-b"}
		for _, name := range names {
			vm := exampleVM("vm-cirros.yaml")
			vm.Name, vm.Namespace = name, ns
			vm.Spec.RunStrategy = ptr.To(v1.RunStrategyHalted)
			vm.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](0)
			Expect(crClient.Create(ctx, vm)).To(Succeed())
		}
		By("a steady VM, left alone by the stream and the kills: no fault may restart its guest")
		steady := exampleVM("vm-cirros.yaml")
		steady.Name, steady.Namespace = "vm-fault-steady", ns
		steady.Spec.RunStrategy = ptr.To(v1.RunStrategyAlways)
		Expect(crClient.Create(ctx, steady)).To(Succeed())
		waitForVMStatus(ctx, ns, steady.Name, v1.VirtualMachineStatusRunning)
		steadyVMI := getVMI(ctx, ns, steady.Name)
		steadyQEMU := qemuPID(steadyVMI)

		stream := &vmStream{wantRunning: map[string]bool{}, unknown: map[string]bool{}}
		streamCtx, stopStream := context.WithCancel(ctx)
		streamDone := make(chan struct{})
		go func() {
			defer close(streamDone)
			stream.run(streamCtx, virtctl, ns, names)
		}()
		DeferCleanup(func() { stopStream(); <-streamDone })

		type fault struct {
			name   string
			inject func() error
		}
		faults := []fault{
			{"virt-controller's pod deleted", func() error { _, err := deleteComponentPods(ctx, install.ControllerName); return err }},
			{"a virt-launcher killed", func() error { return killInGuestPod(ctx, ns, steady.Name, true) }},
			{"virt-api's pod deleted", func() error { _, err := deleteComponentPods(ctx, wiring.APIName); return err }},
			{"a QEMU killed", func() error { return killInGuestPod(ctx, ns, steady.Name, false) }},
			{"virt-handler's pod deleted", func() error { _, err := deleteComponentPods(ctx, wiring.HandlerName); return err }},
		}
		if os.Getenv("HYPERNEST_LOCAL_CLUSTER") == "1" {
			faults = append(faults,
				fault{"kube-apiserver restarted", func() error { return restartDaemon("kube-apiserver") }},
				fault{"etcd restarted", func() error { return restartDaemon("etcd") }},
			)
		} else {
			GinkgoWriter.Println("not the local cluster (HYPERNEST_LOCAL_CLUSTER unset): etcd and kube-apiserver are not restarted")
		}
		injected := 0
		for _, f := range faults {
			time.Sleep(faultSettle)
			By("fault: " + f.name)
			// A fault that finds nothing to hit (no guest running at that moment) waits for one.
			Eventually(f.inject).WithContext(ctx).WithTimeout(vmiTimeout).WithPolling(5 * time.Second).Should(Succeed())
			injected++
		}
		time.Sleep(faultSettle)
		stopStream()
		<-streamDone

		By("every VM ends as last asked: Running and Ready, or Stopped without a VMI")
		stream.mu.Lock()
		wantRunning, unknown := stream.wantRunning, stream.unknown
		acknowledged, refused, failed := stream.acknowledged, stream.refused, stream.failed
		stream.mu.Unlock()
		lost := 0
		for _, name := range names {
			vm := &v1.VirtualMachine{}
			Expect(crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, vm)).To(Succeed())
			running := vm.Spec.RunStrategy != nil && *vm.Spec.RunStrategy == v1.RunStrategyAlways
			if !unknown[name] && running != wantRunning[name] {
				lost++
				GinkgoWriter.Printf("fault stream: %s was last asked to run=%t, its runStrategy is %v\n", name, wantRunning[name], *vm.Spec.RunStrategy)
			}
			want := v1.VirtualMachineStatusStopped
			if running {
				want = v1.VirtualMachineStatusRunning
			}
			Eventually(func(g Gomega) {
				got := &v1.VirtualMachine{}
				g.Expect(crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, got)).To(Succeed())
				g.Expect(got.Status.PrintableStatus).To(Equal(want))
				vmi := &v1.VirtualMachineInstance{}
				err := crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, vmi)
				if running {
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(vmi.Status.Phase).To(Equal(v1.Running))
					g.Expect(got.Status.Ready).To(BeTrue())
				} else {
					g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a stopped VM has no VMI")
				}
			}).WithContext(ctx).WithTimeout(2*vmiTimeout).Should(Succeed(), "%s did not end %s", name, want)
		}
		Expect(lost).To(BeZero(), "a start or stop virtctl acknowledged was lost")

		By("nothing orphaned or doubled: one launcher pod per VMI and none without, one QEMU per VMI")
		Eventually(func(g Gomega) {
			vmis := &v1.VirtualMachineInstanceList{}
			g.Expect(crClient.List(ctx, vmis, client.InNamespace(ns))).To(Succeed())
			live := map[string]bool{}
			for _, vmi := range vmis.Items {
				live[string(vmi.UID)] = true
			}
			pods := &k8sv1.PodList{}
			g.Expect(crClient.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{v1.AppLabel: launcherv1.AppLabelValue})).To(Succeed())
			podsOf := map[string]int{}
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && p.Status.Phase != k8sv1.PodSucceeded && p.Status.Phase != k8sv1.PodFailed {
					g.Expect(live).To(HaveKey(p.Labels[v1.CreatedByLabel]), "launcher pod %s runs for no VMI", p.Name)
					podsOf[p.Labels[v1.CreatedByLabel]]++
				}
			}
			for uid := range live {
				g.Expect(podsOf[uid]).To(Equal(1), "VMI %s has one launcher pod, not none or two", uid)
			}
			out, _ := exec.Command("pgrep", "-f", "qemu-system-x86_64 -name guest="+ns+"_").Output()
			g.Expect(strings.Fields(string(out))).To(HaveLen(len(vmis.Items)), "one QEMU per VMI of the namespace")
		}).WithContext(ctx).WithTimeout(vmiTimeout).Should(Succeed())
		By("the steady VM's guest was never restarted: the same VMI, the same QEMU process")
		got := getVMI(ctx, ns, steady.Name)
		Expect(got.UID).To(Equal(steadyVMI.UID), "the steady VM got a new VMI")
		Expect(got.Status.Phase).To(Equal(v1.Running))
		Expect(qemuPID(got)).To(Equal(steadyQEMU), "the steady VM's QEMU was restarted")

		summary := fmt.Sprintf("%d faults injected; start/restart/stop requests: %d acknowledged, %d refused (409, the VM between states), %d failed during faults; %d lost; the steady guest not restarted", injected, acknowledged, refused, failed, lost)
		fmt.Fprintln(GinkgoWriter, "fault stream: "+summary)
		AddReportEntry("fault stream", summary)
	})
})

// deleteComponentPods deletes the pods of a Hypernest component (its Deployment or
// DaemonSet makes new ones) and returns the UIDs of those it deleted.
func deleteComponentPods(ctx context.Context, component string) ([]types.UID, error) {
	pods := &k8sv1.PodList{}
	if err := crClient.List(ctx, pods, client.InNamespace(installCfg.Namespace), client.MatchingLabels{v1.AppLabel: component}); err != nil {
		return nil, err
	}
	if len(pods.Items) == 0 {
		return nil, fmt.Errorf("no %s pod", component)
	}
	var deleted []types.UID
	for i := range pods.Items {
		if err := crClient.Delete(ctx, &pods.Items[i], client.GracePeriodSeconds(1)); client.IgnoreNotFound(err) != nil {
			return deleted, err
		}
		deleted = append(deleted, pods.Items[i].UID)
	}
	return deleted, nil
}

// killInGuestPod SIGKILLs the virt-launcher (launcher true) or the QEMU of a running VMI
// of the namespace other than spare's, found by its launcher pod's cgroup.
func killInGuestPod(ctx context.Context, ns, spare string, launcher bool) error {
	vmis := &v1.VirtualMachineInstanceList{}
	if err := crClient.List(ctx, vmis, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, vmi := range vmis.Items {
		if vmi.Name == spare || vmi.Status.Phase != v1.Running || vmi.DeletionTimestamp != nil {
			continue
		}
		pods := &k8sv1.PodList{}
		if err := crClient.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{v1.CreatedByLabel: string(vmi.UID)}); err != nil {
			return err
		}
		command := "qemu-system-x86"
		if launcher {
			command = "virt-launcher"
		}
		for _, pod := range pods.Items {
			pid, err := processInPod(pod.UID, command)
			if err != nil {
				continue
			}
			GinkgoWriter.Printf("fault stream: killing %s (pid %d) of %s\n", command, pid, vmi.Name)
			return syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return fmt.Errorf("no running guest in %s to kill", ns)
}

// processInPod finds the process called command (its comm, at most 15 bytes) whose
// cgroup is the pod's.
func processInPod(pod types.UID, command string) (int, error) {
	comms, err := filepath.Glob("/proc/[0-9]*/comm")
	if err != nil {
		return 0, err
	}
	for _, comm := range comms {
		name, err := os.ReadFile(comm)
		if err != nil || strings.TrimSpace(string(name)) != command {
			continue
		}
		dir := filepath.Dir(comm)
		cgroup, err := os.ReadFile(filepath.Join(dir, "cgroup"))
		if err != nil {
			continue
		}
		// cgroupfs names the pod's cgroup pod<uid>; the systemd driver with _ for -.
		uid := string(pod)
		if strings.Contains(string(cgroup), "pod"+uid) || strings.Contains(string(cgroup), "pod"+strings.ReplaceAll(uid, "-", "_")) {
			return strconv.Atoi(filepath.Base(dir))
		}
	}
	return 0, fmt.Errorf("no %s process in pod %s", command, pod)
}

// restartDaemon restarts one daemon of the local cluster (hack/cluster/restart-daemon.sh).
func restartDaemon(name string) error {
	root, err := framework.RepoRoot()
	if err != nil {
		return err
	}
	out, err := exec.Command(filepath.Join(root, "hack/cluster/restart-daemon.sh"), name).CombinedOutput()
	GinkgoWriter.Printf("%s", out)
	if err != nil {
		return fmt.Errorf("restarting %s: %w: %s", name, err, out)
	}
	return nil
}
