package functests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	k8sv1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-handler/launcherclient"
	"github.com/hypernest/hypernest/components/virt-operator/install"
	"github.com/hypernest/hypernest/pkg/wiring"
	"github.com/hypernest/hypernest/tests/framework"
)

// Guests run under QEMU's TCG here: boots take 10-60 s on an idle 2-core machine.
const vmiTimeout = 5 * time.Minute

var installCfg = install.Config{
	Namespace:       "kubevirt",
	ImageRegistry:   envOr("HYPERNEST_IMAGE_REGISTRY", "localhost/hypernest"),
	ImageTag:        envOr("HYPERNEST_IMAGE_TAG", "devel"),
	ImagePullPolicy: k8sv1.PullIfNotPresent,
	// KVM is not usable on this project's machines; set HYPERNEST_USE_EMULATION=false on KVM nodes.
	UseEmulation: envOr("HYPERNEST_USE_EMULATION", "true") == "true",
	// One node: a second virt-api or virt-controller replica would only cost memory.
	SingleReplica: true,
}

var _ = Describe("VMIs on a node (virt-controller, virt-handler, virt-launcher)", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		installHypernest(ctx)
	})

	It("runs KubeVirt's vmi-nocloud.yaml: Running with the pod's IP, cloud-init output on the console", func(ctx SpecContext) {
		ns := newTestNamespace()
		vmi := exampleVMI("vmi-nocloud.yaml")
		pod := startVMI(ctx, ns, vmi)
		// Connected as soon as QEMU's serial socket exists: output before a client
		// connects is dropped, and a busy node may report Running late.
		console := serialConsole(pod)
		vmi = waitForVMIPhase(ctx, ns, vmi.Name, v1.Running)
		Expect(vmi.Status.NodeName).To(Equal(pod.Spec.NodeName))
		Expect(vmi.Status.Interfaces).To(HaveLen(1))
		Expect(vmi.Status.Interfaces[0].IP).To(Equal(podIP(ctx, pod)), "the VMI reports its pod's IP (masquerade)")
		Expect(condition(vmi, v1.VirtualMachineInstanceReady)).To(Equal(k8sv1.ConditionTrue))
		Expect(condition(vmi, v1.VirtualMachineInstanceIsMigratable)).To(Equal(k8sv1.ConditionTrue), "a containerDisk and masquerade: the guest can move")
		Expect(vmi.Status.LauncherContainerImageVersion).To(Equal(installCfg.Image("virt-launcher")))
		Expect(vmi.Status.Machine).NotTo(BeNil(), "status.machine: the machine type the domain runs with")
		Expect(vmi.Status.Machine.Type).To(HavePrefix("pc-q35-"), "q35, as libvirt expanded it")
		Eventually(console).WithTimeout(vmiTimeout).Should(gbytes.Say("printed from cloud-init userdata"))

		By("a VirtualMachineInstanceMigration of a VMI that does not exist is refused by virt-api, naming the field, and not stored")
		migration := &v1.VirtualMachineInstanceMigration{ObjectMeta: metav1.ObjectMeta{Name: "move", Namespace: ns},
			Spec: v1.VirtualMachineInstanceMigrationSpec{VMIName: "nowhere"}}
		Expect(crClient.Create(ctx, migration)).To(MatchError(ContainSubstring(`spec.vmiName: Invalid value: "nowhere": the VMI "` + ns + `/nowhere" does not exist`)))
		migrations := &v1.VirtualMachineInstanceMigrationList{}
		Expect(crClient.List(ctx, migrations, client.InNamespace(ns))).To(Succeed())
		Expect(migrations.Items).To(BeEmpty())

		By("the KubeVirt object's migrations section: the limits are taken, a setting nothing reads yet is refused naming it")
		ensureKubeVirtObject(ctx)
		Eventually(func(g Gomega) {
			kv := &v1.KubeVirt{}
			g.Expect(crClient.Get(ctx, kubeVirtKey, kv)).To(Succeed())
			kv.Spec.Configuration.MigrationConfiguration = &v1.MigrationConfiguration{ParallelMigrationsPerCluster: ptr.To[uint32](3), AllowPostCopy: ptr.To(true)}
			// Retried only when the object changed under the update (409).
			g.Expect(crClient.Update(ctx, kv)).To(MatchError(ContainSubstring("spec.configuration.migrations.allowPostCopy: Forbidden: not supported by Hypernest yet")))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		updateKubeVirtConfiguration(ctx, func(c *v1.KubeVirtConfiguration) {
			c.MigrationConfiguration = &v1.MigrationConfiguration{ParallelMigrationsPerCluster: ptr.To[uint32](3)}
		})
		DeferCleanup(func(ctx SpecContext) {
			updateKubeVirtConfiguration(ctx, func(c *v1.KubeVirtConfiguration) { c.MigrationConfiguration = nil })
		})

		By("evicting its pod, as kubectl drain does, follows the eviction strategy (dry runs: the pod stays)")
		dryRun := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: ns}, DeleteOptions: &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}}
		Expect(kubeClient.PolicyV1().Evictions(ns).Evict(ctx, dryRun)).To(Succeed(), "no strategy: the eviction goes ahead")
		setClusterEvictionStrategy(ctx, ptr.To(v1.EvictionStrategyLiveMigrate))
		DeferCleanup(func(ctx SpecContext) { setClusterEvictionStrategy(ctx, nil) })
		Eventually(func(g Gomega) {
			err := kubeClient.PolicyV1().Evictions(ns).Evict(ctx, dryRun)
			g.Expect(apierrors.IsTooManyRequests(err)).To(BeTrue(), "want 429 once virt-api reads the KubeVirt object's LiveMigrate, got %v", err)
			g.Expect(err).To(MatchError(ContainSubstring(`Eviction triggered evacuation of VMI "` + ns + "/" + vmi.Name + `"`)))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		Expect(getVMI(ctx, ns, vmi.Name).Status.EvacuationNodeName).To(BeEmpty(), "a dry run marks nothing")
		setClusterEvictionStrategy(ctx, nil)

		By("restarting virt-handler: the guest keeps running and the new handler reports it Running")
		qemu := qemuPID(vmi)
		restartHandler(ctx)
		Consistently(func() v1.VirtualMachineInstancePhase { return getVMI(ctx, ns, vmi.Name).Status.Phase }).
			WithTimeout(15 * time.Second).Should(Equal(v1.Running))
		Expect(qemuPID(vmi)).To(Equal(qemu), "QEMU was restarted")
		after := getVMI(ctx, ns, vmi.Name)
		Expect(after.Status.PhaseTransitionTimestamps).To(HaveLen(len(vmi.Status.PhaseTransitionTimestamps)))
		Expect(condition(after, v1.VirtualMachineInstanceReady)).To(Equal(k8sv1.ConditionTrue))
		Expect(after.Status.Interfaces).To(HaveLen(1), "the new handler still reports the interface")
		Expect(after.Status.Interfaces[0].IP).To(Equal(podIP(ctx, pod)))

		By("killing QEMU: the VMI fails, with the reason")
		Expect(syscall.Kill(qemu, syscall.SIGKILL)).To(Succeed())
		failed := waitForVMIPhase(ctx, ns, vmi.Name, v1.Failed)
		Expect(failed.Status.Reason).To(Or(Equal("GuestCrashed"), Equal("LauncherFailed")))
	})

	It("forwards the declared ports of the pod IP to the guest (masquerade)", func(ctx SpecContext) {
		ns := newTestNamespace()
		vmi := exampleVMI("vmi-nocloud.yaml")
		vmi.Name = "vmi-web"
		vmi.Spec.Domain.Devices.Interfaces = []v1.Interface{{Name: "default", Ports: []v1.Port{{Name: "http", Port: 80}, {Name: "echo", Port: 5353, Protocol: "UDP"}},
			InterfaceBindingMethod: v1.InterfaceBindingMethod{Masquerade: &v1.InterfaceMasquerade{}}}}
		vmi.Spec.Networks = []v1.Network{{Name: "default", NetworkSource: v1.NetworkSource{Pod: &v1.PodNetwork{}}}}
		for i := range vmi.Spec.Volumes {
			if c := vmi.Spec.Volumes[i].CloudInitNoCloud; c != nil {
				c.UserData = "#!/bin/sh\nmkdir -p /www\necho hello from the guest > /www/index.html\nhttpd -p 80 -h /www\nudp-echo 5353 &\necho web server started\n"
			}
		}
		pod := startVMI(ctx, ns, vmi)
		console := serialConsole(pod)
		waitForVMIPhase(ctx, ns, vmi.Name, v1.Running)
		Eventually(console).WithTimeout(vmiTimeout).Should(gbytes.Say("web server started"))

		url := fmt.Sprintf("http://%s:80/", podIP(ctx, pod))
		Eventually(func() string { return httpGetFromPod(ns, url) }).WithTimeout(2 * time.Minute).Should(Equal("Succeeded: 200 hello from the guest\n"))

		By("virtctl expose vmi makes a Service of it: port 8000 reaches the guest's 80")
		virtctl, err := buildVirtctl()
		Expect(err).NotTo(HaveOccurred())
		session, err := gexec.Start(exec.Command(virtctl, "-n", ns, "expose", "vmi", vmi.Name, "--name", "web", "--port", "8000", "--target-port", "80"), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(time.Minute).Should(gexec.Exit(0))
		Expect(string(session.Out.Contents())).To(Equal("Service web successfully created for vmi vmi-web\n"))
		svc := &k8sv1.Service{}
		Expect(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, svc)).To(Succeed())
		Expect(svc.Spec.Selector).To(Equal(map[string]string{v1.VirtualMachineInstanceIDLabel: vmi.Name}))
		Expect(svc.OwnerReferences).To(HaveLen(1))
		Expect(svc.OwnerReferences[0].Kind).To(Equal("VirtualMachineInstance"))
		svcURL := fmt.Sprintf("http://%s:8000/", svc.Spec.ClusterIP)
		Eventually(func() string { return httpGetFromPod(ns, svcURL) }).WithTimeout(2 * time.Minute).Should(Equal("Succeeded: 200 hello from the guest\n"))

		By("virtctl port-forward reaches the guest's port 80 from this machine (API server, virt-api, virt-handler)")
		localPort := startPortForward(virtctl, ns, vmi.Name, "tcp", 80)
		Eventually(func(g Gomega) {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", localPort))
			g.Expect(err).NotTo(HaveOccurred())
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(body)).To(Equal("hello from the guest\n"))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(2 * time.Second).Should(Succeed())

		By("virtctl port-forward udp/ reaches the guest's UDP port 5353: each datagram comes back whole")
		localUDP := startPortForward(virtctl, ns, vmi.Name, "udp", 5353)
		// 1200 bytes: a datagram well above the short ones and below the pod network's MTU,
		// so it crosses every hop as one IP packet and must arrive as one message.
		large := strings.Repeat("0123456789", 120)
		Eventually(func(g Gomega) {
			conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", localUDP))
			g.Expect(err).NotTo(HaveOccurred())
			defer conn.Close()
			reply := make([]byte, 4096)
			for _, datagram := range []string{"ping 1", large, "ping 2"} {
				g.Expect(conn.SetDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
				_, err = conn.Write([]byte(datagram))
				g.Expect(err).NotTo(HaveOccurred())
				n, err := conn.Read(reply)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(string(reply[:n])).To(Equal("echo from the guest: " + datagram))
			}
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(2 * time.Second).Should(Succeed())
	})

	It("gives the guest the pod's IP and MAC with the bridge binding: every port reaches it", func(ctx SpecContext) {
		ns := newTestNamespace()
		vmi := exampleVMI("vmi-nocloud.yaml")
		vmi.Name = "vmi-bridge"
		vmi.Spec.Domain.Devices.Interfaces = []v1.Interface{{Name: "default",
			InterfaceBindingMethod: v1.InterfaceBindingMethod{Bridge: &v1.InterfaceBridge{}}}}
		vmi.Spec.Networks = []v1.Network{{Name: "default", NetworkSource: v1.NetworkSource{Pod: &v1.PodNetwork{}}}}
		for i := range vmi.Spec.Volumes {
			if c := vmi.Spec.Volumes[i].CloudInitNoCloud; c != nil {
				c.UserData = "#!/bin/sh\nmkdir -p /www\necho hello from the bridged guest > /www/index.html\nhttpd -p 8080 -h /www\n" +
					"echo \"guest address: $(ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1) mac: $(cat /sys/class/net/eth0/address)\"\n"
			}
		}
		pod := startVMI(ctx, ns, vmi)
		console := serialConsole(pod)
		vmi = waitForVMIPhase(ctx, ns, vmi.Name, v1.Running)
		ip := podIP(ctx, pod)
		Expect(vmi.Status.Interfaces).To(HaveLen(1))
		Expect(vmi.Status.Interfaces[0].IP).To(Equal(ip))
		By("the guest configured the pod's IP on its NIC, by DHCP from the launcher")
		Eventually(console).WithTimeout(vmiTimeout).Should(gbytes.Say(`guest address: ` + strings.ReplaceAll(ip, ".", `\.`) + ` mac: ` + vmi.Status.Interfaces[0].MAC))

		By("a pod reaches a port the VMI never declared")
		url := fmt.Sprintf("http://%s:8080/", ip)
		Eventually(func() string { return httpGetFromPod(ns, url) }).WithTimeout(2 * time.Minute).Should(Equal("Succeeded: 200 hello from the bridged guest\n"))

		By("a Service in front of it answers pods, every time")
		// The local cluster's CNI bridge runs in hairpin mode and sends the guest's own
		// broadcasts back down the pod's eth0; a launcher bridge that learned from them
		// dropped the Service's traffic to the guest (its pod IP answered once the guest
		// had just sent a frame out).
		svc := &k8sv1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "bridged", Namespace: ns},
			Spec:       k8sv1.ServiceSpec{Selector: map[string]string{"special": "vmi-nocloud"}, Ports: []k8sv1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
		}
		Expect(crClient.Create(ctx, svc)).To(Succeed())
		svcURL := fmt.Sprintf("http://%s/", svc.Spec.ClusterIP)
		Eventually(func() string { return httpGetFromPod(ns, svcURL) }).WithTimeout(2 * time.Minute).Should(Equal("Succeeded: 200 hello from the bridged guest\n"))
		for range 3 {
			Expect(httpGetFromPod(ns, svcURL)).To(Equal("Succeeded: 200 hello from the bridged guest\n"))
		}
	})

	It("refuses a malformed spec at creation, naming the field (virt-api's webhook)", func(ctx SpecContext) {
		ns := newTestNamespace()
		vmi := exampleVMI("vmi-nocloud.yaml")
		vmi.Name = "vmi-bad"
		vmi.Namespace = ns
		vmi.Spec.Domain.Devices.Disks[1].Name = "cloudinit"
		err := crClient.Create(ctx, vmi)
		Expect(err).To(HaveOccurred())
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "a 422 Invalid answer: %v", err)
		Expect(err.Error()).To(ContainSubstring(`spec.domain.devices.disks[1].name: Invalid value: "cloudinit": volume "cloudinit" not found`))
	})
})

// ensureKubeVirtObject makes sure a KubeVirt object holds the cluster's configuration
// for the rest of the spec. These specs install Hypernest without the operator, so the
// object exists only when an earlier spec (the operator's, or make run) left one: where
// it is missing, one is created with the installation's emulation setting (the
// components take it from the object) and removed when the spec ends.
func ensureKubeVirtObject(ctx context.Context) {
	err := crClient.Get(ctx, kubeVirtKey, &v1.KubeVirt{})
	if err == nil {
		return
	}
	Expect(apierrors.IsNotFound(err)).To(BeTrue(), "reading the KubeVirt object: %v", err)
	kv := &v1.KubeVirt{ObjectMeta: metav1.ObjectMeta{Name: kubeVirtKey.Name, Namespace: kubeVirtKey.Namespace},
		Spec: v1.KubeVirtSpec{Configuration: v1.KubeVirtConfiguration{
			DeveloperConfiguration: &v1.DeveloperConfiguration{UseEmulation: installCfg.UseEmulation}}}}
	Expect(crClient.Create(ctx, kv)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(crClient.Delete(ctx, kv))).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(crClient.Get(ctx, kubeVirtKey, &v1.KubeVirt{})) }).
			WithContext(ctx).WithTimeout(time.Minute).Should(BeTrue(), "the KubeVirt object created for the spec is still there")
	})
}

// setClusterEvictionStrategy sets the KubeVirt object's evictionStrategy (nil: none).
func setClusterEvictionStrategy(ctx context.Context, strategy *v1.EvictionStrategy) {
	updateKubeVirtConfiguration(ctx, func(c *v1.KubeVirtConfiguration) { c.EvictionStrategy = strategy })
}

// updateKubeVirtConfiguration changes the KubeVirt object's spec.configuration, read
// afresh at each try (the operator writes the object too).
func updateKubeVirtConfiguration(ctx context.Context, change func(*v1.KubeVirtConfiguration)) {
	Eventually(func(g Gomega) {
		kv := &v1.KubeVirt{}
		g.Expect(crClient.Get(ctx, kubeVirtKey, kv)).To(Succeed())
		change(&kv.Spec.Configuration)
		g.Expect(crClient.Update(ctx, kv)).To(Succeed())
	}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
}

// exampleVMI decodes one of KubeVirt's example manifests, unchanged.
func exampleVMI(file string) *v1.VirtualMachineInstance {
	obj, err := framework.DecodeExample(file)
	Expect(err).NotTo(HaveOccurred())
	return obj.(*v1.VirtualMachineInstance)
}

// startVMI creates the VMI and waits until virt-controller has its launcher pod running
// on a node; it returns the pod.
func startVMI(ctx context.Context, ns string, vmi *v1.VirtualMachineInstance) *k8sv1.Pod {
	vmi.Namespace = ns
	Expect(crClient.Create(ctx, vmi)).To(Succeed())
	Eventually(func() v1.VirtualMachineInstancePhase {
		return getVMI(ctx, ns, vmi.Name).Status.Phase
	}).WithTimeout(vmiTimeout).WithPolling(500*time.Millisecond).Should(Or(Equal(v1.Scheduled), Equal(v1.Running)), "the VMI was not scheduled")
	return launcherPod(ctx, getVMI(ctx, ns, vmi.Name))
}

// launcherPod is the VMI's running virt-launcher pod.
func launcherPod(ctx context.Context, vmi *v1.VirtualMachineInstance) *k8sv1.Pod {
	pods := &k8sv1.PodList{}
	Expect(crClient.List(ctx, pods, client.InNamespace(vmi.Namespace), client.MatchingLabels{v1.CreatedByLabel: string(vmi.UID)})).To(Succeed())
	for i := range pods.Items {
		if pods.Items[i].Status.Phase == k8sv1.PodRunning {
			return &pods.Items[i]
		}
	}
	Fail(fmt.Sprintf("VMI %s/%s has no running launcher pod", vmi.Namespace, vmi.Name))
	return nil
}

func getVMI(ctx context.Context, ns, name string) *v1.VirtualMachineInstance {
	vmi := &v1.VirtualMachineInstance{}
	Expect(crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, vmi)).To(Succeed())
	return vmi
}

func waitForVMIPhase(ctx context.Context, ns, name string, phase v1.VirtualMachineInstancePhase) *v1.VirtualMachineInstance {
	var vmi *v1.VirtualMachineInstance
	Eventually(func() v1.VirtualMachineInstancePhase {
		vmi = getVMI(ctx, ns, name)
		return vmi.Status.Phase
	}).WithTimeout(vmiTimeout).WithPolling(time.Second).Should(Equal(phase), func() string {
		data, _ := json.MarshalIndent(vmi.Status, "", "  ")
		return "VMI status: " + string(data)
	})
	return vmi
}

func condition(vmi *v1.VirtualMachineInstance, t v1.VirtualMachineInstanceConditionType) k8sv1.ConditionStatus {
	for _, c := range vmi.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func podIP(ctx context.Context, pod *k8sv1.Pod) string {
	p := &k8sv1.Pod{}
	Expect(crClient.Get(ctx, client.ObjectKeyFromObject(pod), p)).To(Succeed())
	return p.Status.PodIP
}

// serialConsole reads the guest's serial console through the launcher pod's sockets
// volume on the node (virtctl console, through virt-api, is the next issue's). It needs
// the test to run on the node, as it does on the local cluster.
func serialConsole(pod *k8sv1.Pod) *gbytes.Buffer {
	return serialConsoleWithInput(pod).out
}

// consoleSession is a guest's serial console: what it prints, and its keyboard.
type consoleSession struct {
	in  io.Writer
	out *gbytes.Buffer
}

// serialConsoleWithInput connects to the guest's serial console through the launcher
// pod's sockets on the node (the tests run on the node, as on the local cluster).
func serialConsoleWithInput(pod *k8sv1.Pod) consoleSession {
	socket := filepath.Join(launcherv1.SocketsDirOnNode(launcherv1.KubeletPodsDir, string(pod.UID)), launcherv1.SerialSocket)
	var conn net.Conn
	Eventually(func() error {
		var err error
		conn, err = launcherclient.DialUnix(context.Background(), socket)
		return err
	}).WithTimeout(vmiTimeout).Should(Succeed(), "the serial console socket %s (the tests read it on the node)", socket)
	DeferCleanup(conn.Close)
	return consoleSession{in: conn, out: framework.ConsoleBuffer(conn)}
}

// qemuPID finds the QEMU process running the VMI on this node.
func qemuPID(vmi *v1.VirtualMachineInstance) int {
	out, err := exec.Command("pgrep", "-f", "qemu-system-x86_64 -name guest="+vmi.Namespace+"_"+vmi.Name+",").Output()
	Expect(err).NotTo(HaveOccurred(), "no QEMU process for %s/%s on this node", vmi.Namespace, vmi.Name)
	pid, err := strconv.Atoi(strings.Fields(string(out))[0])
	Expect(err).NotTo(HaveOccurred())
	return pid
}

// startPortForward runs virtctl port-forward from a free local port to the VMI's remote
// port over protocol ("tcp", written as users do without a prefix, or "udp"), waits
// until virtctl says it forwards, and returns the local port.
func startPortForward(virtctl, ns, vmi, protocol string, remote int) int {
	var local int
	spec, udp := "", ""
	if protocol == "udp" {
		free, err := net.ListenPacket("udp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		local = free.LocalAddr().(*net.UDPAddr).Port
		Expect(free.Close()).To(Succeed())
		spec, udp = fmt.Sprintf("udp/%d:%d", local, remote), " (udp)"
	} else {
		free, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		local = free.Addr().(*net.TCPAddr).Port
		Expect(free.Close()).To(Succeed())
		spec = fmt.Sprintf("%d:%d", local, remote)
	}
	forward, err := gexec.Start(exec.Command(virtctl, "-n", ns, "port-forward", "vmi/"+vmi, spec), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { forward.Kill().Wait(time.Minute) })
	Eventually(forward.Out).WithTimeout(time.Minute).Should(gbytes.Say(regexp.QuoteMeta(fmt.Sprintf("Forwarding from 127.0.0.1:%d%s -> %d", local, udp, remote))))
	return local
}

// restartHandler deletes the virt-handler pods and waits for their replacements.
func restartHandler(ctx context.Context) {
	old, err := deleteComponentPods(ctx, wiring.HandlerName)
	Expect(err).NotTo(HaveOccurred())
	Eventually(func() bool {
		fresh := &k8sv1.PodList{}
		Expect(crClient.List(ctx, fresh, client.InNamespace(installCfg.Namespace), client.MatchingLabels{v1.AppLabel: wiring.HandlerName})).To(Succeed())
		for _, p := range fresh.Items {
			if slices.Contains(old, p.UID) || p.DeletionTimestamp != nil {
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == k8sv1.PodReady && c.Status == k8sv1.ConditionTrue {
					return true
				}
			}
		}
		return false
	}).WithTimeout(3 * time.Minute).Should(BeTrue())
}
