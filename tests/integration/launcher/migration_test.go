package launcher_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-handler/migrationproxy"
	"github.com/hypernest/hypernest/pkg/pki"
	"github.com/hypernest/hypernest/pkg/pki/pkitest"
	"github.com/hypernest/hypernest/pkg/wiring"
	"github.com/hypernest/hypernest/tests/framework"
)

// A migration of the 128 MiB demo guest under TCG copies tens of MiB; at 1 MiB/s it
// runs long enough to be cancelled half-way.
const slowBandwidthMiB = 1

var _ = Describe("live migration between two launchers", func() {
	It("moves the running guest with its memory and disk to another pod, after a cancelled attempt left it running at the source", func() {
		By("booting the guest in the source pod and keeping a value in its shell's memory")
		source := newPod()
		source.start()
		source.sync(nocloudVMI())
		sourceConsole := source.serial()
		Eventually(sourceConsole).WithTimeout(bootTimeout).Should(gbytes.Say("demo-guest: ready"))
		Eventually(sourceConsole).WithTimeout(time.Minute).Should(gbytes.Say("built-in shell"), "the demo disk's console: a root shell")
		source.type_("X=$((40+2)); echo set-$X")
		Eventually(sourceConsole).WithTimeout(time.Minute).Should(gbytes.Say("set-42"))

		By("starting the target launcher in a mount namespace of its own, where its folders are at the source's paths, as in a pod")
		target := newPod()
		target.startCommand(inPodNamespace(target, source))
		r, err := target.client.PrepareMigrationTarget(context.Background(), &launcherv1.SyncRequest{Vmi: nocloudVMI(), Options: &launcherv1.LaunchOptions{UseEmulation: true}})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Ok).To(BeTrue(), r.Message)
		status, err := target.client.GetDomain(context.Background(), &launcherv1.Empty{})
		Expect(err).NotTo(HaveOccurred())
		Expect(status.State).To(Equal(launcherv1.DomainState_NO_DOMAIN), "nothing runs before the migration brings it")
		Expect(status.MigrationTarget).To(BeTrue())
		r, err = target.client.Sync(context.Background(), &launcherv1.SyncRequest{Vmi: nocloudVMI(), Options: &launcherv1.LaunchOptions{UseEmulation: true}})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Ok).To(BeFalse(), "a target does not start a domain of its own")

		By("joining the pods' migration sockets through virt-handler's mutual-TLS proxies")
		joinMigrationSockets(source, target)

		By("cancelling a migration slowed to 1 MiB/s once the target received the domain")
		r, err = source.client.Migrate(context.Background(), &launcherv1.MigrateRequest{Uid: "migration-1", BandwidthMibPerSecond: slowBandwidthMiB})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Ok).To(BeTrue(), r.Message)
		Eventually(func(g Gomega) {
			s, err := target.client.GetDomain(context.Background(), &launcherv1.Empty{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.State.String() + "/" + s.Reason).To(Equal("PAUSED/" + launcherv1.ReasonPausedMigration))
		}).WithTimeout(2 * time.Minute).Should(Succeed())
		By("the running job's figures are in the source's statistics (kubevirt_vmi_migration_*)")
		Eventually(func(g Gomega) {
			stats, err := source.client.GetStats(context.Background(), &launcherv1.Empty{})
			g.Expect(err).NotTo(HaveOccurred())
			job := stats.GetMigration()
			g.Expect(job).NotTo(BeNil())
			g.Expect(job.DataTotalBytes).NotTo(BeNil())
			g.Expect(job.DataProcessedBytes).To(HaveValue(BeNumerically(">", 0)))
			g.Expect(job.DataRemainingBytes).To(HaveValue(BeNumerically("<", *job.DataTotalBytes)))
			// Capped at 1 MiB/s: the rate libvirt measures (in bytes per second) is near it.
			g.Expect(job.MemoryBytesPerSecond).To(HaveValue(And(BeNumerically(">", 0), BeNumerically("<=", 4*slowBandwidthMiB<<20))))
		}).WithTimeout(time.Minute).Should(Succeed())
		r, err = source.client.CancelMigration(context.Background(), &launcherv1.Empty{})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Ok).To(BeTrue(), r.Message)
		var first *launcherv1.MigrationStatus
		Eventually(func(g Gomega) {
			s, err := source.client.GetDomain(context.Background(), &launcherv1.Empty{})
			g.Expect(err).NotTo(HaveOccurred())
			first = s.Migration
			g.Expect(first.GetCompleted()).To(BeTrue())
		}).WithTimeout(time.Minute).Should(Succeed())
		Expect(first.Failed).To(BeTrue())
		Expect(first.AbortStatus).To(Equal("Succeeded"))
		Expect(first.FailureReason).To(Equal("Live migration has been aborted"))
		Expect(first.Mode).To(Equal("PreCopy"))
		Expect(first.CopiedDisks).To(ConsistOf("vda", "vdc"), "the containerDisk's overlay and the emptyDisk travel; the read-only cloud-init disk does not")
		Expect(first.DowntimeMilliseconds).To(BeNil(), "a cancelled migration paused nothing")
		Expect(source.state()).To(Equal(launcherv1.DomainState_RUNNING), "the guest runs on at the source")
		Eventually(func(g Gomega) {
			g.Expect(target.state()).To(Equal(launcherv1.DomainState_NO_DOMAIN))
		}).WithTimeout(time.Minute).Should(Succeed(), "the target's half-received domain is gone")
		source.type_("echo still-here-$X")
		Eventually(sourceConsole).WithTimeout(time.Minute).Should(gbytes.Say("still-here-42"))

		By("migrating again at full speed: the guest's shell goes on at the target with its memory")
		watch, err := source.client.WatchDomain(context.Background(), &launcherv1.Empty{})
		Expect(err).NotTo(HaveOccurred())
		began := time.Now()
		r, err = source.client.Migrate(context.Background(), &launcherv1.MigrateRequest{Uid: "migration-2", AutoConverge: true})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Ok).To(BeTrue(), r.Message)
		Eventually(func(g Gomega) {
			s, err := watch.Recv()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.Migration.GetUid()).To(Equal("migration-2"))
			g.Expect(s.Migration.GetCompleted()).To(BeTrue())
		}).WithTimeout(3 * time.Minute).Should(Succeed())
		s, err := source.client.GetDomain(context.Background(), &launcherv1.Empty{})
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Migration.Uid).To(Equal("migration-2"))
		Expect(s.Migration.Failed).To(BeFalse(), s.Migration.FailureReason)
		Expect(s.Migration.StartTimestamp).NotTo(BeEmpty())
		Expect(s.Migration.EndTimestamp).NotTo(BeEmpty())
		Expect(s.Migration.DowntimeMilliseconds).NotTo(BeNil(), "libvirt's completed job statistics give the switch-over's pause")
		GinkgoWriter.Printf("migration took %s, the guest paused %d ms\n", time.Since(began).Round(time.Millisecond), *s.Migration.DowntimeMilliseconds)
		// Asked now, while the source launcher still answers (it exits 2 s after its
		// domain is gone): a repeated request for the same migration changes nothing.
		r, err = source.client.Migrate(context.Background(), &launcherv1.MigrateRequest{Uid: "migration-2"})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Ok).To(BeTrue(), r.Message)
		Eventually(func(g Gomega) {
			t, err := target.client.GetDomain(context.Background(), &launcherv1.Empty{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(t.State.String() + "/" + t.Reason).To(Equal("RUNNING/Migrated"))
		}).WithTimeout(time.Minute).Should(Succeed())

		targetConsole := target.serial()
		target.type_("echo moved-$X")
		Eventually(targetConsole).WithTimeout(time.Minute).Should(gbytes.Say("moved-42"))

		By("the source launcher exits 0 with its domain shut off as migrated")
		Eventually(func(g Gomega) {
			s, err := source.client.GetDomain(context.Background(), &launcherv1.Empty{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.State.String() + "/" + s.Reason).To(Equal("SHUTOFF/Migrated"))
		}).WithTimeout(time.Minute).Should(Succeed())
		Eventually(source.session).WithTimeout(time.Minute).Should(gexec.Exit(0))
		Consistently(target.session).WithTimeout(3*time.Second).ShouldNot(gexec.Exit(), "the target launcher runs on")
	})
})

// type_ sends a line to the guest's serial console, opened with serial.
func (p *pod) type_(line string) {
	Expect(p.console).NotTo(BeNil(), "open the console with serial first")
	_, err := p.console.Write([]byte(line + "\r"))
	Expect(err).NotTo(HaveOccurred())
}

// inPodNamespace is the launcher command of pod p run in a mount namespace where p's
// folders are mounted over those of pod as: the same paths, other files, as two launcher
// pods see them. libvirt gives both ends of a migration the same socket and disk paths.
func inPodNamespace(p, as *pod) *exec.Cmd {
	args := as.dirs.Command(launcherBinary).Args
	nobody := strconv.Itoa(framework.Nobody)
	script := `mount --bind "$1" "$2" && shift 2 && exec setpriv --reuid=` + nobody + ` --regid=` + nobody + ` --clear-groups -- "$@"`
	return exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", p.root, as.root}, args...)...)
}

// joinMigrationSockets runs virt-handler's proxies between the pods, as the two nodes'
// handlers do: a TLS listener per stream in front of the target's sockets, and the
// source's sockets passed on to them.
func joinMigrationSockets(source, target *pod) {
	ca, err := pki.NewCA("migration test CA", time.Now(), time.Hour)
	Expect(err).NotTo(HaveOccurred())
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	server := &tls.Config{Certificates: []tls.Certificate{handlerCert(ca, "node02")}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots, MinVersion: tls.VersionTLS13}
	client := &tls.Config{Certificates: []tls.Certificate{handlerCert(ca, "node01")}, RootCAs: roots, ServerName: wiring.HandlerServerName, MinVersion: tls.VersionTLS13}

	targetProxy := migrationproxy.New(GinkgoLogr)
	DeferCleanup(targetProxy.Close)
	sourceProxy := migrationproxy.New(GinkgoLogr)
	DeferCleanup(sourceProxy.Close)
	for key, socket := range launcherv1.MigrationSockets {
		dial := migrationproxy.UnixDialer(filepath.Join(target.sockets, socket))
		if key == launcherv1.MigrationLibvirtPort {
			dial = migrationproxy.UnixDialer(filepath.Join(target.private, launcherv1.LibvirtSocket))
		}
		port, err := targetProxy.ListenTLS("127.0.0.1:0", server, dial)
		Expect(err).NotTo(HaveOccurred())
		Expect(sourceProxy.ListenUnix(filepath.Join(source.sockets, socket), framework.Nobody,
			migrationproxy.TLSDialer("127.0.0.1:"+strconv.Itoa(port), client))).To(Succeed())
	}
}

func handlerCert(ca *pki.CA, node string) tls.Certificate {
	cert, err := pkitest.NodeCertificate(ca, node)
	Expect(err).NotTo(HaveOccurred())
	return cert
}
