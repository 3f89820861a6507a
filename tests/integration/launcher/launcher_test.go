// Package launcher_test runs the real virt-launcher binary on this machine, unprivileged,
// against real libvirt and QEMU (TCG), outside any cluster: it boots the demo disk from
// KubeVirt's vmi-nocloud.yaml and drives the guest through the command API.
package launcher_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-launcher/libvirtd"
	"github.com/hypernest/hypernest/tests/framework"
)

func TestLauncher(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "virt-launcher against real libvirt and QEMU")
}

// Boots run under QEMU's TCG on a possibly busy 2-core machine: the demo guest needs
// about 10 s when idle; allow far more.
const bootTimeout = 4 * time.Minute

var (
	launcherBinary string
	demoDisk       string
)

var _ = BeforeSuite(func() {
	Expect(os.Geteuid()).To(BeZero(), "these tests start the launcher as an unprivileged user, which needs root; run them as root (make test-integration)")
	demoDisk = os.Getenv("HYPERNEST_DEMO_DISK")
	Expect(demoDisk).NotTo(BeEmpty(), "HYPERNEST_DEMO_DISK is not set: run make test-integration, which builds the demo disk with Bazel")
	for _, tool := range []string{"/usr/sbin/libvirtd", "/usr/bin/qemu-img", "/usr/bin/qemu-system-x86_64"} {
		_, err := os.Stat(tool)
		Expect(err).NotTo(HaveOccurred(), "%s is missing; run hack/install-deps.sh", tool)
	}
	bin, dir, err := framework.BuildLauncher()
	if dir != "" {
		DeferCleanup(os.RemoveAll, dir)
	}
	Expect(err).NotTo(HaveOccurred())
	launcherBinary = bin
})

var _ = AfterSuite(func() { gexec.CleanupBuildArtifacts() })

// pod is a launcher pod's folders on this machine, owned by the launcher's user.
type pod struct {
	root, sockets, private, containerDisks string
	dirs                                   framework.LauncherDirs
	session                                *gexec.Session
	client                                 launcherv1.LauncherClient
	// console is the serial console's connection serial opened: QEMU serves one client
	// at a time, so lines are typed on it.
	console net.Conn
}

func newPod() *pod {
	root, err := os.MkdirTemp("", "hn-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, root)
	Expect(os.Chmod(root, 0o755)).To(Succeed())
	dirs, err := framework.NewLauncherDirs(filepath.Join(root, "sockets"), filepath.Join(root, "private"), filepath.Join(root, "container-disks"), demoDisk)
	Expect(err).NotTo(HaveOccurred())
	return &pod{root: root, sockets: dirs.Sockets, private: dirs.Private, containerDisks: dirs.ContainerDisks, dirs: dirs}
}

func (p *pod) start() {
	p.startCommand(p.dirs.Command(launcherBinary))
}

// startCommand starts the launcher with cmd, which must use this pod's folders.
func (p *pod) startCommand(cmd *exec.Cmd) {
	var err error
	p.session, err = gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		p.session.Kill()
		framework.KillProcessesOf(p.root)
	})
	socket := filepath.Join(p.sockets, launcherv1.CommandSocket)
	Eventually(func() error { _, err := os.Stat(socket); return err }).WithTimeout(time.Minute).Should(Succeed())
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(conn.Close)
	p.client = launcherv1.NewLauncherClient(conn)
	Eventually(func() (bool, error) {
		r, err := p.client.Ping(context.Background(), &launcherv1.Empty{})
		return r.GetOk(), err
	}).WithTimeout(time.Minute).Should(BeTrue())
}

func (p *pod) state() launcherv1.DomainState {
	s, err := p.client.GetDomain(context.Background(), &launcherv1.Empty{})
	Expect(err).NotTo(HaveOccurred())
	return s.State
}

// serial connects to the guest's serial console and returns everything it prints.
func (p *pod) serial() *gbytes.Buffer {
	conn, err := net.Dial("unix", filepath.Join(p.sockets, launcherv1.SerialSocket))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(conn.Close)
	p.console = conn
	return framework.ConsoleBuffer(conn)
}

// nocloudVMI is KubeVirt's vmi-nocloud.yaml, unchanged but for the pod network: no
// virt-handler wires one here (the cluster tests cover networking).
func nocloudVMI() []byte {
	obj, err := framework.DecodeExample("vmi-nocloud.yaml")
	Expect(err).NotTo(HaveOccurred())
	vmi := obj.(*v1.VirtualMachineInstance)
	vmi.Namespace, vmi.UID = "default", types.UID("00000000-0000-4000-8000-00000000c0de")
	vmi.Spec.Domain.Devices.AutoattachPodInterface = ptr.To(false)
	data, err := json.Marshal(vmi)
	Expect(err).NotTo(HaveOccurred())
	return data
}

func (p *pod) sync(vmi []byte) {
	p.syncWith(vmi, &launcherv1.LaunchOptions{UseEmulation: true})
}

func (p *pod) syncWith(vmi []byte, opts *launcherv1.LaunchOptions) {
	r, err := p.client.Sync(context.Background(), &launcherv1.SyncRequest{Vmi: vmi, Options: opts})
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Message).To(BeEmpty())
	Expect(r.Ok).To(BeTrue())
}

var _ = Describe("virt-launcher", func() {
	It("boots vmi-nocloud.yaml's demo disk, runs its cloud-init user data, pauses, resumes and shuts down", func() {
		p := newPod()
		p.start()
		Expect(p.state()).To(Equal(launcherv1.DomainState_NO_DOMAIN))

		By("syncing the VMI: the domain is defined and started")
		p.sync(nocloudVMI())
		Expect(p.state()).To(Equal(launcherv1.DomainState_RUNNING))
		console := p.serial()
		Eventually(console).WithTimeout(bootTimeout).Should(gbytes.Say("printed from cloud-init userdata"))
		Eventually(console).WithTimeout(bootTimeout).Should(gbytes.Say("demo-guest: ready"))

		status, err := p.client.GetDomain(context.Background(), &launcherv1.Empty{})
		Expect(err).NotTo(HaveOccurred())
		Expect(status.Machine).To(HavePrefix("pc-q35-"), "the machine type as libvirt expanded q35")

		By("the domain's statistics name the VMI's disks and count what the guest did")
		stats, err := p.client.GetStats(context.Background(), &launcherv1.Empty{})
		Expect(err).NotTo(HaveOccurred())
		Expect(stats.CpuTimeNanoseconds).To(BeNumerically(">", 0))
		Expect(stats.MemoryRssKib).To(BeNumerically(">", 0))
		Expect(stats.Memory.GetDomainKib()).To(BeEquivalentTo(128*1024), "the guest's 128Mi, balloon.current")
		Expect(stats.Vcpus).To(HaveLen(1))
		Expect(stats.Vcpus[0].GetTimeNanoseconds()).To(BeNumerically(">", 0))
		Expect(stats.Vcpus[0].State).NotTo(BeNil())
		names := map[string]*launcherv1.BlockStats{}
		for _, b := range stats.Blocks {
			names[b.Name] = b
		}
		Expect(names).To(HaveKey("containerdisk"), "the disk's VMI name (alias ua-containerdisk), not its target device")
		Expect(names).To(HaveKey("cloudinitdisk"))
		Expect(names["containerdisk"].GetReadRequests()).To(BeNumerically(">", 0), "the guest read its boot disk")
		Expect(names["containerdisk"].GetReadBytes()).To(BeNumerically(">", 0))

		By("a second sync of the same VMI changes nothing")
		p.sync(nocloudVMI())
		Expect(p.state()).To(Equal(launcherv1.DomainState_RUNNING))

		By("pausing and unpausing")
		r, err := p.client.Pause(context.Background(), &launcherv1.Empty{})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Ok).To(BeTrue(), r.Message)
		Expect(p.state()).To(Equal(launcherv1.DomainState_PAUSED))
		r, err = p.client.Unpause(context.Background(), &launcherv1.Empty{})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Ok).To(BeTrue(), r.Message)
		Expect(p.state()).To(Equal(launcherv1.DomainState_RUNNING))

		By("shutting down through ACPI: the guest powers off by itself and the launcher exits 0")
		watch, err := p.client.WatchDomain(context.Background(), &launcherv1.Empty{})
		Expect(err).NotTo(HaveOccurred())
		r, err = p.client.Shutdown(context.Background(), &launcherv1.ShutdownRequest{GracePeriodSeconds: 180})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Ok).To(BeTrue(), r.Message)
		Eventually(console).WithTimeout(bootTimeout).Should(gbytes.Say("ACPI power button pressed"))
		// "Shutdown", not "Destroyed": the guest powered off before the grace period ended.
		Eventually(func() string {
			s, err := watch.Recv()
			Expect(err).NotTo(HaveOccurred())
			return s.State.String() + "/" + s.Reason
		}).WithTimeout(bootTimeout).Should(Equal("SHUTOFF/Shutdown"))
		Eventually(p.session).WithTimeout(time.Minute).Should(gexec.Exit(0))
	})

	It("talks to the guest agent: AgentConnected, the guest's OS, and Cluster API's sentinel once the user data wrote it", func() {
		p := newPod()
		p.start()
		vmi := &v1.VirtualMachineInstance{}
		Expect(json.Unmarshal(nocloudVMI(), vmi)).To(Succeed())
		for i := range vmi.Spec.Volumes {
			if c := vmi.Spec.Volumes[i].CloudInitNoCloud; c != nil {
				c.UserData, c.UserDataBase64 = "#!/bin/sh\nsleep 15\nmkdir -p /run/cluster-api\necho success > /run/cluster-api/bootstrap-success.complete\necho sentinel written\n", ""
			}
		}
		data, err := json.Marshal(vmi)
		Expect(err).NotTo(HaveOccurred())
		p.sync(data)
		console := p.serial()
		Eventually(console).WithTimeout(bootTimeout).Should(gbytes.Say("guest agent running"))
		Eventually(func(g Gomega) {
			s, err := p.client.GetDomain(context.Background(), &launcherv1.Empty{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.AgentConnected).To(BeTrue())
			g.Expect(s.GuestOs.GetId()).To(Equal("hypernest-demo"))
		}).WithTimeout(bootTimeout).WithPolling(time.Second).Should(Succeed())

		info, err := p.client.GuestAgentInfo(context.Background(), &launcherv1.Empty{})
		Expect(err).NotTo(HaveOccurred())
		agentInfo := &v1.VirtualMachineInstanceGuestAgentInfo{}
		Expect(json.Unmarshal(info.Info, agentInfo)).To(Succeed())
		Expect(agentInfo.OS.PrettyName).To(ContainSubstring("Hypernest demo guest"), "guest agent info: %s", info.Info)
		Expect(agentInfo.GAVersion).NotTo(BeEmpty())

		By("the sentinel, before and after the user data writes it")
		first, err := p.client.BootstrapSentinel(context.Background(), &launcherv1.Empty{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(console).WithTimeout(bootTimeout).Should(gbytes.Say("sentinel written"))
		Eventually(func(g Gomega) {
			r, err := p.client.BootstrapSentinel(context.Background(), &launcherv1.Empty{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(r.Found).To(BeTrue())
			g.Expect(strings.TrimSpace(r.Content)).To(Equal("success"))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		if first.Found {
			// The script may already have run when the first read came; say so rather than
			// pretend the absent case was seen.
			AddReportEntry("sentinel already present at the first read; the absent case was not observed this run")
		}
	})

	It("probes QEMU's capabilities once for virt-handler, and a launcher seeded with them does not probe again; a stale seed is probed anew", func() {
		By("the probe, as virt-handler's qemu-capabilities init container runs it")
		out := filepath.Join(newPod().root, "qemu-capabilities")
		Expect(os.Mkdir(out, 0o755)).To(Succeed())
		Expect(os.Chown(out, framework.Nobody, framework.Nobody)).To(Succeed())
		probe := exec.Command(launcherBinary, "--probe-qemu-capabilities", out)
		probe.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: framework.Nobody, Gid: framework.Nobody}}
		session, err := gexec.Start(probe, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(2 * time.Minute).Should(gexec.Exit(0))
		Expect(session.Err).To(gbytes.Say("probed QEMU's capabilities"))
		// libvirt names the file by the sha256 of the emulator's path.
		name := fmt.Sprintf("%x.xml", sha256.Sum256([]byte("/usr/bin/qemu-system-x86_64")))
		entries, err := os.ReadDir(out)
		Expect(err).NotTo(HaveOccurred())
		Expect(entries).To(HaveLen(1), "only the cache file stays; the probe's libvirt folder is removed")
		Expect(entries[0].Name()).To(Equal(name))
		probed, err := os.ReadFile(filepath.Join(out, name))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(probed)).To(ContainSubstring("<emulator>/usr/bin/qemu-system-x86_64</emulator>"))
		Expect(string(probed)).To(ContainSubstring("<flag name='cpu-unavailable-features'/>"),
			"QEMU >= 4.1 has it; without it in the probe, the seeded launcher's check below proves nothing")

		// A marker libvirt's parser skips: a file libvirt judged stale is probed anew
		// and rewritten without it.
		const marker = "<!-- seeded by virt-handler -->"
		startSeeded := func(content []byte) string {
			p := newPod()
			p.start()
			p.syncWith(nocloudVMI(), &launcherv1.LaunchOptions{UseEmulation: true, QemuCapabilities: map[string][]byte{name: content}})
			Expect(p.state()).To(Or(Equal(launcherv1.DomainState_RUNNING), Equal(launcherv1.DomainState_PAUSED)))
			cached, err := os.ReadFile(filepath.Join(libvirtd.QEMUCapabilitiesDir(p.private), name))
			Expect(err).NotTo(HaveOccurred())
			return string(cached)
		}
		By("a launcher seeded with the probe's file starts its domain from it: libvirt kept it")
		seeded := startSeeded(append(slices.Clone(probed), marker...))
		Expect(seeded).To(HaveSuffix(marker))
		By("an emulated guest with the maximum CPU has its CPU read through feature-words: the seed lacks the generic read's flag")
		Expect(seeded).NotTo(ContainSubstring("cpu-unavailable-features"))
		Expect(seeded).To(ContainSubstring("<flag name='query-cpu-model-expansion'/>"), "the seed's other flags stay")

		By("a seed from another QEMU build (another ctime) is probed anew: the domain still starts")
		stale := regexp.MustCompile(`<qemuctime>\d+</qemuctime>`).ReplaceAll(probed, []byte("<qemuctime>1</qemuctime>"))
		Expect(stale).NotTo(Equal(probed))
		cached := startSeeded(append(stale, marker...))
		Expect(cached).NotTo(ContainSubstring(marker))
		Expect(cached).NotTo(ContainSubstring("<qemuctime>1</qemuctime>"))
	})

	It("destroys the domain on Kill", func() {
		p := newPod()
		p.start()
		p.sync(nocloudVMI())
		r, err := p.client.Kill(context.Background(), &launcherv1.Empty{})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Ok).To(BeTrue(), r.Message)
		status, err := p.client.GetDomain(context.Background(), &launcherv1.Empty{})
		Expect(err).NotTo(HaveOccurred())
		Expect(status.State).To(Equal(launcherv1.DomainState_SHUTOFF))
		Expect(status.Reason).To(Equal("Destroyed"))
		Eventually(p.session).WithTimeout(time.Minute).Should(gexec.Exit(0))
	})

	It("reports a crash and exits 1 when QEMU is killed", func() {
		p := newPod()
		p.start()
		p.sync(nocloudVMI())
		watch, err := p.client.WatchDomain(context.Background(), &launcherv1.Empty{})
		Expect(err).NotTo(HaveOccurred())
		Expect(exec.Command("pkill", "-KILL", "-f", "qemu-system-x86_64 -name guest=default_vmi-nocloud.*"+p.root).Run()).To(Succeed())
		Eventually(func() string {
			s, err := watch.Recv()
			Expect(err).NotTo(HaveOccurred())
			return s.State.String() + "/" + s.Reason
		}).WithTimeout(time.Minute).Should(Equal("SHUTOFF/Crashed"))
		Eventually(p.session).WithTimeout(time.Minute).Should(gexec.Exit(1))
	})

	// A burst of launchers on a loaded machine once had a launcher take its just-started
	// domain for a finished one (a state read from before the start, published after it),
	// so its pod completed and the VMI ended as Succeeded. Start many at once, paused,
	// with every core busy, a few times over: each guest must be reported PAUSED and
	// nothing else, and every launcher must still run afterwards.
	It("never takes a just-started domain for a finished one, in bursts under CPU pressure", func() {
		const launchers, rounds = 8, 3
		stopBurners := burnCPUs()
		defer stopBurners()
		vmi := &v1.VirtualMachineInstance{}
		Expect(json.Unmarshal(nocloudVMI(), vmi)).To(Succeed())
		vmi.Spec.StartStrategy = ptr.To(v1.StartStrategyPaused)
		paused, err := json.Marshal(vmi)
		Expect(err).NotTo(HaveOccurred())

		for round := 1; round <= rounds; round++ {
			By(fmt.Sprintf("round %d: %d launchers start their domains paused at once", round, launchers))
			pods := make([]*pod, launchers)
			for i := range pods {
				pods[i] = newPod()
				pods[i].start()
			}
			seen := make([]chan string, launchers)
			for i, p := range pods {
				watch, err := p.client.WatchDomain(context.Background(), &launcherv1.Empty{})
				Expect(err).NotTo(HaveOccurred())
				seen[i] = make(chan string, 64)
				go func(ch chan<- string) {
					defer close(ch)
					for {
						st, err := watch.Recv()
						if err != nil {
							return
						}
						ch <- st.State.String() + "/" + st.Reason
					}
				}(seen[i])
			}
			synced := make(chan error, launchers)
			for _, p := range pods {
				go func(p *pod) {
					r, err := p.client.Sync(context.Background(), &launcherv1.SyncRequest{Vmi: paused, Options: &launcherv1.LaunchOptions{UseEmulation: true}})
					if err == nil && !r.Ok {
						err = fmt.Errorf("sync refused: %s", r.Message)
					}
					synced <- err
				}(p)
			}
			for range pods {
				Eventually(synced).WithTimeout(bootTimeout).Should(Receive(BeNil()))
			}
			// Every state each launcher published, until it has been paused for longer
			// than one resync period (the launcher re-reads the state every 5 s).
			for i, p := range pods {
				Eventually(p.state).WithTimeout(bootTimeout).Should(Equal(launcherv1.DomainState_PAUSED), "launcher %d", i)
			}
			time.Sleep(6 * time.Second)
			for i, p := range pods {
				Expect(p.state()).To(Equal(launcherv1.DomainState_PAUSED), "launcher %d", i)
				Expect(p.session.ExitCode()).To(Equal(-1), "launcher %d exited although its guest never stopped", i)
				var states []string
				for drained := false; !drained; {
					select {
					case st := <-seen[i]:
						states = append(states, st)
					default:
						drained = true
					}
				}
				for _, st := range states {
					Expect(st).NotTo(Or(HavePrefix("SHUTOFF"), HavePrefix("CRASHED")),
						"launcher %d published an end of a guest that never stopped; all it published: %v", i, states)
				}
			}
			for _, p := range pods {
				p.session.Kill()
				framework.KillProcessesOf(p.root)
			}
		}
	})

	It("refuses a malformed spec before libvirt sees it, naming the field", func() {
		p := newPod()
		p.start()
		vmi := &v1.VirtualMachineInstance{}
		Expect(json.Unmarshal(nocloudVMI(), vmi)).To(Succeed())
		vmi.Spec.Domain.Devices.Disks[1].Name = "cloudinit"
		data, err := json.Marshal(vmi)
		Expect(err).NotTo(HaveOccurred())
		r, err := p.client.Sync(context.Background(), &launcherv1.SyncRequest{Vmi: data, Options: &launcherv1.LaunchOptions{UseEmulation: true}})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Ok).To(BeFalse())
		Expect(r.Message).To(ContainSubstring(`spec.domain.devices.disks[1].name: Invalid value: "cloudinit": volume "cloudinit" not found`))
		Expect(p.state()).To(Equal(launcherv1.DomainState_NO_DOMAIN))
	})
})

// burnCPUs keeps every core busy until the returned function is called, so that the
// launchers' libvirt calls are slow and their races show.
func burnCPUs() func() {
	stop := make(chan struct{})
	for i := 0; i < runtime.NumCPU(); i++ {
		go func() {
			runtime.LockOSThread()
			for x := 0; ; x++ {
				if x%1_000_000 == 0 {
					select {
					case <-stop:
						return
					default:
					}
				}
			}
		}()
	}
	return func() { close(stop) }
}
