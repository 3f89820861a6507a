package functests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	k8sv1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/tests/framework"
)

// virtctlTimeout bounds one virtctl call; the API answers in well under a second.
const virtctlTimeout = time.Minute

var _ = Describe("VMs from kubectl and virtctl (virt-controller, virt-api)", Ordered, func() {
	var virtctl string

	BeforeAll(func(ctx SpecContext) { virtctl = installWithVirtctl(ctx) })

	// run runs virtctl in namespace ns and returns its session once it exited.
	run := func(ns string, args ...string) *gexec.Session {
		cmd := exec.Command(virtctl, append([]string{"-n", ns}, args...)...)
		session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(virtctlTimeout).Should(gexec.Exit())
		return session
	}
	succeeds := func(ns string, args ...string) string {
		s := run(ns, args...)
		Expect(s.ExitCode()).To(Equal(0), "virtctl %v: %s", args, s.Err.Contents())
		return string(s.Out.Contents())
	}
	fails := func(ns string, args ...string) string {
		s := run(ns, args...)
		Expect(s.ExitCode()).NotTo(Equal(0), "virtctl %v should have failed: %s", args, s.Out.Contents())
		return string(s.Err.Contents())
	}

	It("prints the client's and the server's version, both built from this checkout's commit (virtctl version)", func() {
		head, err := exec.Command("git", "rev-parse", "HEAD").Output()
		Expect(err).NotTo(HaveOccurred())
		commit := strings.TrimSpace(string(head))
		out := succeeds("default", "version")
		// virtctl, built by the test with go build, carries the go command's VCS stamp;
		// virt-api, built by Bazel, the workspace status's.
		Expect(out).To(MatchRegexp(`(?m)^Client Version: version\.Info\{GitVersion:"v0\.1\.0-devel", GitCommit:"%s", GitTreeState:"(clean|dirty)", BuildDate:"[^"]+", GoVersion:"go[^"]+", Compiler:"gc", Platform:"linux/amd64"\}$`, commit))
		Expect(out).To(MatchRegexp(`(?m)^Server Version: version\.Info\{GitVersion:"v0\.1\.0-devel", GitCommit:"%s", GitTreeState:"(clean|dirty)", BuildDate:"[^"]+", GoVersion:"go[^"]+", Compiler:"gc", Platform:"linux/amd64"\}$`, commit))
	})

	It("runs KubeVirt's vm-cirros.yaml: start, console, pause, unpause, restart, stop", func(ctx SpecContext) {
		ns := newTestNamespace()
		vm := exampleVM("vm-cirros.yaml")
		vm.Namespace = ns
		Expect(crClient.Create(ctx, vm)).To(Succeed())
		waitForVMStatus(ctx, ns, vm.Name, v1.VirtualMachineStatusStopped)
		Expect(fails(ns, "stop", vm.Name)).To(ContainSubstring("VM is not running"))
		Expect(fails(ns, "start", "no-such-vm")).To(ContainSubstring(`"no-such-vm" not found`))

		By("virtctl start, with the console opened at once: it waits for the guest and shows its boot")
		Expect(succeeds(ns, "start", vm.Name)).To(Equal("VM vm-cirros was scheduled to start\n"))
		console := exec.Command(virtctl, "-n", ns, "console", vm.Name)
		consoleIn, err := console.StdinPipe()
		Expect(err).NotTo(HaveOccurred())
		session, err := gexec.Start(console, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(session.Kill)
		running := waitForVMStatus(ctx, ns, vm.Name, v1.VirtualMachineStatusRunning)
		Expect(running.Status.Ready).To(BeTrue())
		Expect(fails(ns, "start", vm.Name)).To(ContainSubstring("VM is already running"))
		Eventually(session.Out).WithTimeout(vmiTimeout).Should(gbytes.Say("printed from cloud-init userdata"))
		Eventually(session.Err).Should(gbytes.Say("Successfully connected to vm-cirros console"))

		By("logging in on the console as cirros's documentation says: cirros, password gocubsgo")
		Eventually(session.Out).WithTimeout(vmiTimeout).Should(gbytes.Say(`login as 'cirros' user\. default password: 'gocubsgo'\. use 'sudo' for root\.`))
		Eventually(session.Out).WithTimeout(time.Minute).Should(gbytes.Say(`login: `))
		_, _ = io.WriteString(consoleIn, "cirros\n")
		Eventually(session.Out).WithTimeout(time.Minute).Should(gbytes.Say(`Password: `))
		_, _ = io.WriteString(consoleIn, "gocubsgo\n")

		By("typing into the console: the guest's shell answers")
		Eventually(func() *gbytes.Buffer {
			_, _ = io.WriteString(consoleIn, "echo answer-$((6*7))\n")
			return session.Out
		}).WithTimeout(2 * time.Minute).WithPolling(5 * time.Second).Should(gbytes.Say("answer-42"))
		_, _ = io.WriteString(consoleIn, "echo uid-$(id -u)-then-$(sudo id -u)\n")
		Eventually(session.Out).WithTimeout(time.Minute).Should(gbytes.Say("uid-1000-then-0"), "cirros's user becomes root with sudo, without a password")
		_, err = consoleIn.Write([]byte{0x1d}) // Ctrl+]
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(virtctlTimeout).Should(gexec.Exit(0))

		By("virtctl vnc --proxy-only: a local port that speaks the guest's VNC (RFB)")
		vnc, err := gexec.Start(exec.Command(virtctl, "-n", ns, "vnc", "--proxy-only", vm.Name), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(vnc.Kill)
		Eventually(vnc.Out).WithTimeout(virtctlTimeout).Should(gbytes.Say(`\{"port":\d+\}`))
		var proxy struct{ Port int }
		Expect(json.Unmarshal(bytes.TrimSpace(vnc.Out.Contents()), &proxy)).To(Succeed())
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", proxy.Port), 10*time.Second)
		Expect(err).NotTo(HaveOccurred())
		Expect(conn.SetReadDeadline(time.Now().Add(virtctlTimeout))).To(Succeed())
		banner := make([]byte, 12)
		_, err = io.ReadFull(conn, banner)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(banner)).To(MatchRegexp(`^RFB 003\.\d{3}\n$`), "QEMU's VNC server greets with its protocol version")
		Expect(conn.Close()).To(Succeed())
		vnc.Kill()

		By("RBAC: a user without rights in the namespace may not open the console or pause")
		Expect(fails(ns, "--as=mallory", "console", vm.Name)).To(ContainSubstring("forbidden"))
		Expect(fails(ns, "--as=mallory", "pause", "vm", vm.Name)).To(ContainSubstring("forbidden"))

		By("pause and unpause, by a user the namespace's edit role covers (kubevirt.io:edit aggregates into it)")
		Expect(crClient.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "alice-edit", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "alice"}},
		})).To(Succeed())
		Eventually(func() int {
			return run(ns, "--as=alice", "pause", "vm", vm.Name).ExitCode()
		}).WithTimeout(apiTimeout).Should(Equal(0), "RBAC bindings take a moment to apply")
		paused := waitForVMStatus(ctx, ns, vm.Name, v1.VirtualMachineStatusPaused)
		Expect(paused.Status.Ready).To(BeFalse())
		Expect(condition(getVMI(ctx, ns, vm.Name), v1.VirtualMachineInstancePaused)).To(Equal(k8sv1.ConditionTrue))
		Expect(fails(ns, "--as=alice", "pause", "vmi", vm.Name)).To(ContainSubstring("VMI is already paused"))
		Expect(succeeds(ns, "--as=alice", "unpause", "vm", vm.Name)).To(Equal("VM vm-cirros was scheduled to unpause\n"))
		waitForVMStatus(ctx, ns, vm.Name, v1.VirtualMachineStatusRunning)
		Expect(fails(ns, "unpause", "vmi", vm.Name)).To(ContainSubstring("VMI is not paused"))

		By("virtctl migrate and migrate-cancel, by a user the edit role covers: virt-api creates the migration, the cancel deletes it, and it ends Failed with the VM running where it was")
		node := getVMI(ctx, ns, vm.Name).Status.NodeName
		Expect(fails(ns, "--as=mallory", "migrate", vm.Name)).To(ContainSubstring("forbidden"))
		Expect(succeeds(ns, "--as=alice", "migrate", vm.Name)).To(Equal("VM vm-cirros was scheduled to migrate\n"))
		Expect(succeeds(ns, "--as=alice", "migrate-cancel", vm.Name)).To(Equal("VM vm-cirros was scheduled to migrate-cancel\n"))
		Eventually(func(g Gomega) {
			migrations := &v1.VirtualMachineInstanceMigrationList{}
			g.Expect(crClient.List(ctx, migrations, client.InNamespace(ns))).To(Succeed())
			g.Expect(migrations.Items).To(BeEmpty(), "the cancelled migration is released and gone")
		}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
		Expect(fails(ns, "--as=alice", "migrate-cancel", vm.Name)).To(ContainSubstring("Found no migration to cancel for vm-cirros"))
		Eventually(func(g Gomega) {
			vmi := getVMI(ctx, ns, vm.Name)
			g.Expect(vmi.Status.Phase).To(Equal(v1.Running))
			g.Expect(vmi.Status.NodeName).To(Equal(node), "a migration cancelled before it began leaves the guest where it was")
			g.Expect(targetPodCount(g, ctx, ns, vmi)).To(BeZero(), "the cancelled migration's target pod is removed")
		}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())

		By("virtctl evacuate-cancel: a drain with evictionStrategy External marks the VMI; a user the edit role covers clears the mark")
		ensureKubeVirtObject(ctx) // the spec installs the components without the operator
		setClusterEvictionStrategy(ctx, ptr.To(v1.EvictionStrategyExternal))
		DeferCleanup(func(ctx SpecContext) { setClusterEvictionStrategy(ctx, nil) })
		pod := launcherPod(ctx, getVMI(ctx, ns, vm.Name))
		eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: ns}}
		// Dry runs until virt-api reads External: before, the eviction would go ahead.
		Eventually(func(g Gomega) {
			dryRun := eviction.DeepCopy()
			dryRun.DeleteOptions = &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}
			g.Expect(apierrors.IsTooManyRequests(kubeClient.PolicyV1().Evictions(ns).Evict(ctx, dryRun))).To(BeTrue())
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		Expect(kubeClient.PolicyV1().Evictions(ns).Evict(ctx, eviction)).To(MatchError(ContainSubstring(`Eviction triggered evacuation of VMI "` + ns + `/vm-cirros"`)))
		Expect(getVMI(ctx, ns, vm.Name).Status.EvacuationNodeName).To(Equal(node))
		setClusterEvictionStrategy(ctx, nil)
		Expect(fails(ns, "--as=mallory", "evacuate-cancel", "vm", vm.Name)).To(ContainSubstring("forbidden"))
		Expect(succeeds(ns, "--as=alice", "evacuate-cancel", "vm", vm.Name, "--dry-run")).
			To(Equal("Dry Run execution\nVM " + ns + "/vm-cirros was canceled evacuation\n"))
		Expect(getVMI(ctx, ns, vm.Name).Status.EvacuationNodeName).To(Equal(node), "a dry run clears nothing")
		Expect(succeeds(ns, "--as=alice", "evacuate-cancel", "vm", vm.Name)).To(Equal("VM " + ns + "/vm-cirros was canceled evacuation\n"))
		Expect(getVMI(ctx, ns, vm.Name).Status.EvacuationNodeName).To(BeEmpty())
		Expect(succeeds(ns, "--as=alice", "evacuate-cancel", "vmi", vm.Name)).To(Equal("VMI "+ns+"/vm-cirros was canceled evacuation\n"), "nothing left to cancel")
		Expect(fails(ns, "evacuate-cancel", "pod", vm.Name)).To(ContainSubstring(`unsupported resource type "pod"`))

		By("a second console takes the serial port over from the first, which ends saying so (as in KubeVirt)")
		first := exec.Command(virtctl, "-n", ns, "console", vm.Name)
		firstIn, err := first.StdinPipe() // kept open: a user at the terminal
		Expect(err).NotTo(HaveOccurred())
		firstSession, err := gexec.Start(first, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(firstSession.Kill)
		Eventually(firstSession.Err).WithTimeout(virtctlTimeout).Should(gbytes.Say("Successfully connected to vm-cirros console"))
		follow := exec.Command(virtctl, "-n", ns, "console", vm.Name)
		followIn, err := follow.StdinPipe()
		Expect(err).NotTo(HaveOccurred())
		following, err := gexec.Start(follow, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(following.Kill)
		Eventually(following.Err).WithTimeout(virtctlTimeout).Should(gbytes.Say("Successfully connected to vm-cirros console"))
		Eventually(firstSession).WithTimeout(virtctlTimeout).Should(gexec.Exit(1), "the first console ends, without reconnecting")
		Expect(firstSession.Err).To(gbytes.Say("the console of vm-cirros was taken over by another connection"))
		_ = firstIn.Close()
		// cirros is still logged in on the serial port from the first session above.
		inGuest(followIn, following.Out, "echo taken-over-$((6*7))", "taken-over-42")

		By("restart: a new VMI replaces the old one, and an open console follows the VM to it")
		oldUID := getVMI(ctx, ns, vm.Name).UID
		Expect(succeeds(ns, "restart", vm.Name)).To(Equal("VM vm-cirros was scheduled to restart\n"))
		Eventually(following.Err).WithTimeout(vmiTimeout).Should(gbytes.Say("Reconnected to the console of vm-cirros"))
		Eventually(following.Out).WithTimeout(vmiTimeout).Should(gbytes.Say("printed from cloud-init userdata"), "the new instance's boot")
		Expect(following.ExitCode()).To(Equal(-1), "the console is still open")
		Eventually(func() types.UID {
			vmi := &v1.VirtualMachineInstance{}
			if err := crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: vm.Name}, vmi); err != nil || vmi.Status.Phase != v1.Running {
				return oldUID
			}
			return vmi.UID
		}).WithTimeout(vmiTimeout).ShouldNot(Equal(oldUID))
		waitForVMStatus(ctx, ns, vm.Name, v1.VirtualMachineStatusRunning)

		By("stop: the VMI and its pod go, the VM is Stopped, and the console ends saying so")
		Expect(succeeds(ns, "stop", vm.Name)).To(Equal("VM vm-cirros was scheduled to stop\n"))
		waitForVMStatus(ctx, ns, vm.Name, v1.VirtualMachineStatusStopped)
		Eventually(following).WithTimeout(vmiTimeout).Should(gexec.Exit(0))
		Expect(following.Err).To(gbytes.Say("The console of vm-cirros ended: the VM was stopped"))
		_ = followIn.Close() // already closed by the exited process's Wait
		Eventually(func() bool {
			err := crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: vm.Name}, &v1.VirtualMachineInstance{})
			return apierrors.IsNotFound(err)
		}).WithTimeout(vmiTimeout).Should(BeTrue())
		got := &v1.VirtualMachine{}
		Expect(crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: vm.Name}, got)).To(Succeed())
		Expect(*got.Spec.RunStrategy).To(Equal(v1.RunStrategyHalted))
		Expect(fails(ns, "stop", vm.Name)).To(ContainSubstring("VM is not running"))
	})

	It("boots KubeVirt's alpine demo disk: root logs in on the console without a password, at Alpine's prompt", func(ctx SpecContext) {
		ns := newTestNamespace()
		vmi := &v1.VirtualMachineInstance{
			ObjectMeta: metav1.ObjectMeta{Name: "vmi-alpine", Namespace: ns},
			Spec: v1.VirtualMachineInstanceSpec{
				Domain: v1.DomainSpec{
					Resources: v1.ResourceRequirements{Requests: k8sv1.ResourceList{k8sv1.ResourceMemory: resource.MustParse("128Mi")}},
					Devices:   v1.Devices{Disks: []v1.Disk{{Name: "containerdisk", DiskDevice: v1.DiskDevice{Disk: &v1.DiskTarget{Bus: v1.DiskBusVirtio}}}}},
				},
				TerminationGracePeriodSeconds: ptr.To[int64](0),
				Volumes: []v1.Volume{{Name: "containerdisk", VolumeSource: v1.VolumeSource{
					ContainerDisk: &v1.ContainerDiskSource{Image: alpineDemoDisk},
				}}},
			},
		}
		Expect(crClient.Create(ctx, vmi)).To(Succeed())
		in, out := alpineRootShell(virtctl, ns, vmi.Name)
		inGuest(in, out, "echo alpine-$((6*7))", "alpine-42")
		Expect(crClient.Delete(ctx, vmi)).To(Succeed())
	})

	It("boots KubeVirt's kernel boot example: kernel and initramfs straight from an image, with its command line", func(ctx SpecContext) {
		ns := newTestNamespace()
		// examples/vmi-kernel-boot.yaml of KubeVirt, field for field.
		vmi := &v1.VirtualMachineInstance{
			ObjectMeta: metav1.ObjectMeta{Name: "vmi-kernel-boot", Namespace: ns, Labels: map[string]string{"special": "vmi-kernel-boot"}},
			Spec: v1.VirtualMachineInstanceSpec{
				Domain: v1.DomainSpec{
					Firmware: &v1.Firmware{KernelBoot: &v1.KernelBoot{
						Container: &v1.KernelBootContainer{
							Image:      "registry:5000/kubevirt/alpine-ext-kernel-boot-demo:devel",
							InitrdPath: "/boot/initramfs-virt",
							KernelPath: "/boot/vmlinuz-virt",
						},
						KernelArgs: "console=ttyS0",
					}},
					Memory: &v1.Memory{Guest: ptr.To(resource.MustParse("1Gi"))},
				},
				TerminationGracePeriodSeconds: ptr.To[int64](0),
			},
		}
		Expect(crClient.Create(ctx, vmi)).To(Succeed())
		in, out := alpineRootShell(virtctl, ns, vmi.Name)
		inGuest(in, out, "echo cmdline=$(cat /proc/cmdline)", `cmdline=console=ttyS0\s`)

		By("a kernel path the image does not hold: the start fails (and is retried), naming the field")
		bad := &v1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Name: "vmi-kernel-boot-bad", Namespace: ns}, Spec: *vmi.Spec.DeepCopy()}
		bad.Spec.Domain.Firmware.KernelBoot.Container.KernelPath = "/boot/no-such-kernel"
		Expect(crClient.Create(ctx, bad)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &v1.VirtualMachineInstance{}
			g.Expect(crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: bad.Name}, got)).To(Succeed())
			c := v1.VMICondition(&got.Status, v1.VirtualMachineInstanceSynchronized)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(k8sv1.ConditionFalse))
			g.Expect(c.Message).To(ContainSubstring("spec.domain.firmware.kernelBoot.container.kernelPath: /boot/no-such-kernel is not a file in the image"))
		}).WithTimeout(vmiTimeout).Should(Succeed())
		Expect(crClient.Delete(ctx, bad)).To(Succeed())
		Expect(crClient.Delete(ctx, vmi)).To(Succeed())
	})

	It("restarts a RerunOnFailure VM whose guest was killed", func(ctx SpecContext) {
		ns := newTestNamespace()
		vm := exampleVM("vm-cirros.yaml")
		vm.Name, vm.Namespace = "vm-rerun", ns
		vm.Spec.RunStrategy = ptr.To(v1.RunStrategyRerunOnFailure)
		Expect(crClient.Create(ctx, vm)).To(Succeed())
		waitForVMStatus(ctx, ns, vm.Name, v1.VirtualMachineStatusRunning)
		first := getVMI(ctx, ns, vm.Name)

		Expect(syscall.Kill(qemuPID(first), syscall.SIGKILL)).To(Succeed())
		Eventually(func() types.UID {
			vmi := &v1.VirtualMachineInstance{}
			if err := crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: vm.Name}, vmi); err != nil || vmi.Status.Phase != v1.Running {
				return first.UID
			}
			return vmi.UID
		}).WithTimeout(vmiTimeout).ShouldNot(Equal(first.UID), "the VM did not start a new VMI")
		Eventually(func() *v1.VirtualMachineStartFailure {
			got := &v1.VirtualMachine{}
			Expect(crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: vm.Name}, got)).To(Succeed())
			return got.Status.StartFailure
		}).WithTimeout(apiTimeout).Should(BeNil(), "a running VMI clears the start failures")
	})

	It("refuses bad VM manifests, naming the field", func(ctx SpecContext) {
		ns := newTestNamespace()
		vm := exampleVM("vm-cirros.yaml")
		vm.Namespace = ns
		vm.Spec.Template.Spec.Domain.Devices.Disks[1].Name = "cloudinit"
		err := crClient.Create(ctx, vm)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "a 422 Invalid answer: %v", err)
		Expect(err.Error()).To(ContainSubstring(`spec.template.spec.domain.devices.disks[1].name: Invalid value: "cloudinit": volume "cloudinit" not found`))

		vm = exampleVM("vm-cirros.yaml")
		vm.Namespace = ns
		vm.Spec.Running = ptr.To(true)
		err = crClient.Create(ctx, vm)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "a 422 Invalid answer: %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.running: Invalid value: true: spec.running and spec.runStrategy are mutually exclusive"))
	})
})

// alpineRootShell opens the serial console of the Alpine demo guest name with virtctl
// and logs in as root (no password), as Alpine's console does; it returns the console's
// input and output.
func alpineRootShell(virtctl, ns, name string) (io.Writer, *gbytes.Buffer) {
	in, session := alpineConsole(virtctl, ns, name)
	return in, session.Out
}

// alpineConsole is alpineRootShell's console session, for a spec that must close it (a
// second console would take the guest's serial port over from it). It presses Enter
// until the login prompt shows, so it logs in whether the guest is still booting or its
// boot banner went by before the console opened.
func alpineConsole(virtctl, ns, name string) (io.Writer, *gexec.Session) {
	// Without cloud-init data the guest keeps Alpine's host name, as KubeVirt's tests expect.
	in, session := consoleShowing(virtctl, ns, name, `localhost login: `)
	_, _ = io.WriteString(in, "root\n")
	Eventually(session.Out).WithTimeout(time.Minute).Should(gbytes.Say(`localhost:~# `))
	return in, session
}

// inGuest types a command on a guest's console until its output (which the typed line
// does not contain) shows: the console may drop what is typed while the guest is busy.
func inGuest(in io.Writer, out *gbytes.Buffer, command, expect string) {
	Eventually(func() *gbytes.Buffer {
		_, _ = io.WriteString(in, command+"\n")
		return out
	}).WithTimeout(2 * time.Minute).WithPolling(5 * time.Second).Should(gbytes.Say(expect))
}

// exampleVM decodes one of KubeVirt's example manifests, unchanged.
func exampleVM(file string) *v1.VirtualMachine {
	obj, err := framework.DecodeExample(file)
	Expect(err).NotTo(HaveOccurred())
	return obj.(*v1.VirtualMachine)
}

func waitForVMStatus(ctx context.Context, ns, name string, want v1.VirtualMachinePrintableStatus) *v1.VirtualMachine {
	vm := &v1.VirtualMachine{}
	Eventually(func() v1.VirtualMachinePrintableStatus {
		Expect(crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, vm)).To(Succeed())
		return vm.Status.PrintableStatus
	}).WithTimeout(vmiTimeout).WithPolling(500*time.Millisecond).Should(Equal(want), func() string {
		return "VM status: " + toJSON(vm.Status)
	})
	return vm
}
