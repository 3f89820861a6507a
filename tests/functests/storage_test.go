package functests

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	hnscheme "github.com/hypernest/hypernest/api/scheme"
)

// alpineDemoDisk is the demo disk tagged with KubeVirt's alpine name: root logs in on the
// console without a password, and its busybox reads and writes raw disks.
const alpineDemoDisk = "registry:5000/kubevirt/alpine-container-disk-demo:devel"

var _ = Describe("Persistent disks: persistentVolumeClaim volumes", Ordered, func() {
	var virtctl string

	BeforeAll(func(ctx SpecContext) { virtctl = installWithVirtctl(ctx) })

	virtctlOK := func(ns string, args ...string) {
		session, err := gexec.Start(exec.Command(virtctl, append([]string{"-n", ns}, args...)...), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(virtctlTimeout).Should(gexec.Exit(0), "virtctl %v", args)
	}

	It("keeps what the guest wrote to filesystem- and block-mode claims across a stop and start", func(ctx SpecContext) {
		ns := newTestNamespace()

		By("a block-mode claim, bound to a local PersistentVolume on a loop device of the node")
		blockClaim := blockModeClaim(ctx, ns, "raw", 64<<20)

		By("a VM whose filesystem-mode claim does not exist yet: it waits, as in KubeVirt (ErrorPvcNotFound)")
		vm := alpineVMWithClaims(ns, "vm-pvc", map[string]string{"data": "data", "raw": blockClaim})
		Expect(crClient.Create(ctx, vm)).To(Succeed())
		waitForVMStatus(ctx, ns, vm.Name, v1.VirtualMachineStatusPvcNotFound)
		vmi := getVMI(ctx, ns, vm.Name)
		Expect(vmi.Status.Phase).To(Equal(v1.Pending))
		synchronized := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstanceSynchronized)
		Expect(synchronized).NotTo(BeNil())
		Expect(synchronized.Reason).To(Equal("FailedPvcNotFound"))
		Expect(synchronized.Message).To(Equal(fmt.Sprintf("PVC %s/data does not exist, waiting for it to appear", ns)))

		By("the claim arrives, from the cluster's default StorageClass (local-path-provisioner): the VM starts")
		claim := &k8sv1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
			Spec: k8sv1.PersistentVolumeClaimSpec{
				AccessModes: []k8sv1.PersistentVolumeAccessMode{k8sv1.ReadWriteOnce},
				Resources:   k8sv1.VolumeResourceRequirements{Requests: k8sv1.ResourceList{k8sv1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		Expect(crClient.Create(ctx, claim)).To(Succeed())
		waitForVMStatus(ctx, ns, vm.Name, v1.VirtualMachineStatusRunning)
		vmi = getVMI(ctx, ns, vm.Name)
		var info *v1.PersistentVolumeClaimInfo
		for _, s := range vmi.Status.VolumeStatus {
			if s.Name == "data" {
				info = s.PersistentVolumeClaimInfo
			}
		}
		Expect(info).NotTo(BeNil(), "volumeStatus: %s", toJSON(vmi.Status.VolumeStatus))
		Expect(info.ClaimName).To(Equal("data"))
		Expect(info.Capacity.Storage().String()).To(Equal("1Gi"))

		By("the guest writes a marker to each disk: vdb (disk.img in the claim's folder) and vdc (the loop device)")
		in, console := alpineConsole(virtctl, ns, vm.Name)
		out := console.Out
		inGuest(in, out, `echo fs-marker-$((6*7)) > /dev/vdb && echo block-marker-$((6*7)) > /dev/vdc && sync && echo written-$((6*7))`, "written-42")

		By("the claim's folder on the node holds disk.img, sparse, sized as KubeVirt sizes it (capacity less 5.5%, whole MiB)")
		Expect(crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "data"}, claim)).To(Succeed())
		pv := &k8sv1.PersistentVolume{}
		Expect(crClient.Get(ctx, types.NamespacedName{Name: claim.Spec.VolumeName}, pv)).To(Succeed())
		Expect(pv.Spec.HostPath).NotTo(BeNil(), "local-path-provisioner makes hostPath volumes: %s", toJSON(pv.Spec))
		image, err := os.Stat(filepath.Join(pv.Spec.HostPath.Path, "disk.img"))
		Expect(err).NotTo(HaveOccurred())
		capacity := float64(1 << 30)
		want := int64(capacity*(1-0.055)) / (1 << 20) * (1 << 20)
		Expect(image.Size()).To(Equal(want))

		By("stop and start: a new pod and a new guest read the markers back")
		// Its own console for the new guest: this one, left open, would follow the VM to
		// its next instance and race the new one for the serial port.
		Eventually(console.Kill()).WithTimeout(time.Minute).Should(gexec.Exit())
		firstUID := vmi.UID
		virtctlOK(ns, "stop", vm.Name)
		waitForVMStatus(ctx, ns, vm.Name, v1.VirtualMachineStatusStopped)
		virtctlOK(ns, "start", vm.Name)
		waitForVMStatus(ctx, ns, vm.Name, v1.VirtualMachineStatusRunning)
		Expect(getVMI(ctx, ns, vm.Name).UID).NotTo(Equal(firstUID))
		in, out = alpineRootShell(virtctl, ns, vm.Name)
		inGuest(in, out, `head -c 12 /dev/vdb | tr fs FS; echo`, "FS-marker-42")
		inGuest(in, out, `head -c 15 /dev/vdc | tr bl BL; echo`, "BLock-marker-42")
		Expect(crClient.Delete(ctx, vm)).To(Succeed())
	})

	It("pauses a guest whose disk's host filesystem is full, says which volume, and resumes it once there is space (KubeVirt's PausedIOError)", func(ctx SpecContext) {
		ns := newTestNamespace()

		By("a filesystem-mode claim on a 48 MiB ext4 filesystem of its own, mounted on the node")
		mount := smallFilesystemClaim(ctx, ns, "small", 48<<20, 32<<20)
		vm := alpineVMWithClaims(ns, "vm-full", map[string]string{"data": "small"})
		Expect(crClient.Create(ctx, vm)).To(Succeed())
		waitForVMStatus(ctx, ns, vm.Name, v1.VirtualMachineStatusRunning)
		in, out := alpineRootShell(virtctl, ns, vm.Name)

		By("the node's filesystem under the sparse disk.img fills up; the guest writes 24 MiB to the disk")
		filler := filepath.Join(mount, "filler")
		fillFilesystem(filler, mount)
		_, _ = io.WriteString(in, "dd if=/dev/zero of=/dev/vdb bs=1M count=24 && sync && echo wrote-$((6*4))-MiB\n")

		By("QEMU stops the guest on the write error: Paused with reason PausedIOError, and an event naming the volume")
		Eventually(func(g Gomega) {
			paused := v1.VMICondition(&getVMI(ctx, ns, vm.Name).Status, v1.VirtualMachineInstancePaused)
			g.Expect(paused).NotTo(BeNil())
			g.Expect(paused.Reason).To(Equal("PausedIOError"))
			g.Expect(paused.Message).To(Equal("VMI was paused, low-level IO error detected"))
		}).WithContext(ctx).WithTimeout(vmiTimeout).WithPolling(time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			events := &k8sv1.EventList{}
			g.Expect(crClient.List(ctx, events, client.InNamespace(ns))).To(Succeed())
			var messages []string
			for _, e := range events.Items {
				if e.Reason == "IOerror" && e.Type == k8sv1.EventTypeWarning {
					messages = append(messages, e.Message)
				}
			}
			g.Expect(messages).To(ContainElement("VM Paused due to not enough space on volume: data"))
		}).WithContext(ctx).WithTimeout(apiTimeout).Should(Succeed())

		By("space is freed: virt-handler resumes the guest, which finishes its write")
		Expect(os.Remove(filler)).To(Succeed())
		Eventually(out).WithTimeout(vmiTimeout).Should(gbytes.Say(`wrote-24-MiB`))
		Eventually(func(g Gomega) {
			g.Expect(v1.VMICondition(&getVMI(ctx, ns, vm.Name).Status, v1.VirtualMachineInstancePaused)).To(BeNil())
		}).WithContext(ctx).WithTimeout(apiTimeout).Should(Succeed())
		Expect(crClient.Delete(ctx, vm)).To(Succeed())
	})

	It("infers a VM's instance type and preference from its claim's labels (inferFromVolume)", func(ctx SpecContext) {
		ns := newTestNamespace()
		claim := &k8sv1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "fedora", Namespace: ns, Labels: map[string]string{
				"instancetype.kubevirt.io/default-instancetype": "u1.small",
				"instancetype.kubevirt.io/default-preference":   "fedora",
			}},
			Spec: k8sv1.PersistentVolumeClaimSpec{
				AccessModes: []k8sv1.PersistentVolumeAccessMode{k8sv1.ReadWriteOnce},
				Resources:   k8sv1.VolumeResourceRequirements{Requests: k8sv1.ResourceList{k8sv1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		Expect(crClient.Create(ctx, claim)).To(Succeed())
		bare := claim.DeepCopy()
		bare.ObjectMeta = metav1.ObjectMeta{Name: "bare", Namespace: ns}
		Expect(crClient.Create(ctx, bare)).To(Succeed())

		By("virtctl create vm --volume-pvc asks for inference from the boot claim, as KubeVirt's does; virt-api fills in the names")
		session, err := gexec.Start(exec.Command(virtctl, "-n", ns, "create", "vm", "--name", "vm-inferred", "--run-strategy", "Halted",
			"--volume-pvc", "src:fedora"), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(virtctlTimeout).Should(gexec.Exit(0))
		Expect(string(session.Out.Contents())).To(ContainSubstring("inferFromVolume: fedora"))
		obj, _, err := hnscheme.StrictDecoder().Decode(session.Out.Contents(), nil, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(crClient.Create(ctx, obj.(*v1.VirtualMachine))).To(Succeed())
		vm := &v1.VirtualMachine{}
		Expect(crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "vm-inferred"}, vm)).To(Succeed())
		Expect(vm.Spec.Instancetype).To(Equal(&v1.InstancetypeMatcher{Name: "u1.small"}))
		Expect(vm.Spec.Preference).To(Equal(&v1.PreferenceMatcher{Name: "fedora"}))
		Expect(vm.Spec.Template.Spec.Domain.Memory).To(BeNil(), "the fallback memory goes once the instance type is known")

		By("a claim without the labels: Reject (the default) refuses the VM with KubeVirt's message")
		vm = &v1.VirtualMachine{
			ObjectMeta: metav1.ObjectMeta{Name: "vm-bare", Namespace: ns},
			Spec: v1.VirtualMachineSpec{
				RunStrategy:  ptr.To(v1.RunStrategyHalted),
				Instancetype: &v1.InstancetypeMatcher{InferFromVolume: "root"},
				Template: &v1.VirtualMachineInstanceTemplateSpec{Spec: v1.VirtualMachineInstanceSpec{
					Volumes: []v1.Volume{{Name: "root", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{
						PersistentVolumeClaimVolumeSource: k8sv1.PersistentVolumeClaimVolumeSource{ClaimName: "bare"},
					}}}},
				}},
			},
		}
		err = crClient.Create(ctx, vm)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("unable to find required instancetype.kubevirt.io/default-instancetype label on the volume"))
	})

	It("refuses what it cannot serve, naming the field: dataVolume (CDI), and hotplug, first for its gate, then as unsupported with the gate on", func(ctx SpecContext) {
		ns := newTestNamespace()
		vm := exampleVM("vm-cirros.yaml")
		vm.Namespace = ns
		vm.Spec.Template.Spec.Volumes[0].VolumeSource = v1.VolumeSource{DataVolume: &v1.DataVolumeSource{Name: "cirros"}}
		err := crClient.Create(ctx, vm)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "a 422 Invalid answer: %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.template.spec.volumes[0].dataVolume: Forbidden: dataVolume needs the Containerized Data Importer (CDI)"))

		vm = exampleVM("vm-cirros.yaml")
		vm.Namespace = ns
		vm.Spec.Template.Spec.Volumes[0].VolumeSource = v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{
			PersistentVolumeClaimVolumeSource: k8sv1.PersistentVolumeClaimVolumeSource{ClaimName: "disk"}, Hotpluggable: true,
		}}
		err = crClient.Create(ctx, vm)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "a 422 Invalid answer: %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.template.spec.volumes[0].persistentVolumeClaim.hotpluggable: Forbidden: DeclarativeHotplugVolumes feature gate is not enabled in kubevirt-config"))
		Expect(err.Error()).NotTo(ContainSubstring("not supported"), "one answer per field: the gate's")

		By("with the gate turned on live, the same VM is refused for what Hypernest does not do yet")
		enableFeatureGate(ctx, "DeclarativeHotplugVolumes")
		Eventually(func(g Gomega) {
			err := crClient.Create(ctx, vm.DeepCopy())
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "a 422 Invalid answer: %v", err)
			g.Expect(err.Error()).To(ContainSubstring("spec.template.spec.volumes[0].persistentVolumeClaim.hotpluggable: Forbidden: volume hotplug is not supported by Hypernest yet"))
		}).WithContext(ctx).WithTimeout(apiTimeout).Should(Succeed())
	})
})

// alpineVMWithClaims is a running VM of the alpine demo disk with one virtio disk per
// claim, named by volume (sorted: vdb, vdc, ... in name order).
func alpineVMWithClaims(ns, name string, claims map[string]string) *v1.VirtualMachine {
	disks := []v1.Disk{{Name: "containerdisk", DiskDevice: v1.DiskDevice{Disk: &v1.DiskTarget{Bus: v1.DiskBusVirtio}}}}
	volumes := []v1.Volume{{Name: "containerdisk", VolumeSource: v1.VolumeSource{ContainerDisk: &v1.ContainerDiskSource{Image: alpineDemoDisk}}}}
	for _, volume := range slices.Sorted(maps.Keys(claims)) {
		disks = append(disks, v1.Disk{Name: volume, DiskDevice: v1.DiskDevice{Disk: &v1.DiskTarget{Bus: v1.DiskBusVirtio}}})
		volumes = append(volumes, v1.Volume{Name: volume, VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{
			PersistentVolumeClaimVolumeSource: k8sv1.PersistentVolumeClaimVolumeSource{ClaimName: claims[volume]},
		}}})
	}
	return &v1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1.VirtualMachineSpec{
			RunStrategy: ptr.To(v1.RunStrategyAlways),
			Template: &v1.VirtualMachineInstanceTemplateSpec{Spec: v1.VirtualMachineInstanceSpec{
				Domain: v1.DomainSpec{
					Resources: v1.ResourceRequirements{Requests: k8sv1.ResourceList{k8sv1.ResourceMemory: resource.MustParse("128Mi")}},
					Devices:   v1.Devices{Disks: disks},
				},
				TerminationGracePeriodSeconds: ptr.To[int64](0),
				Volumes:                       volumes,
			}},
		},
	}
}

// blockModeClaim makes a block-mode claim named name in ns, bound to a local
// PersistentVolume whose device is a loop device over a sparse file of size bytes on this
// node (the local cluster's only node; the test runs on it, as root). local-path-provisioner
// serves filesystem mode only; a local volume is Kubernetes' own way to offer a node's
// block device. Everything is removed when the spec ends.
func blockModeClaim(ctx context.Context, ns, name string, size int64) string {
	device := loopDevice(size)
	localVolumeClaim(ctx, ns, name, device, k8sv1.PersistentVolumeBlock, size)
	return name
}

// smallFilesystemClaim makes a filesystem-mode claim named name in ns, of claimSize
// bytes, bound to a local PersistentVolume on an ext4 filesystem of fsSize bytes of its
// own (a loop device), mounted on this node; it returns the mount point, so the test
// can fill the filesystem behind the claim's back. Everything is removed when the spec
// ends.
func smallFilesystemClaim(ctx context.Context, ns, name string, fsSize, claimSize int64) string {
	device := loopDevice(fsSize)
	out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", device).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "mkfs.ext4: %s", out)
	mount := GinkgoT().TempDir()
	out, err = exec.Command("mount", device, mount).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "mount: %s", out)
	// Cleanups run last-in first-out: unmounted before the loop device goes.
	DeferCleanup(func() {
		_ = exec.Command("umount", "--lazy", mount).Run()
	})
	localVolumeClaim(ctx, ns, name, mount, k8sv1.PersistentVolumeFilesystem, claimSize)
	return mount
}

// loopDevice attaches a loop device over a new sparse file of size bytes.
func loopDevice(size int64) string {
	backing := filepath.Join(GinkgoT().TempDir(), "disk.raw")
	Expect(os.WriteFile(backing, nil, 0o600)).To(Succeed())
	Expect(os.Truncate(backing, size)).To(Succeed())
	out, err := exec.Command("losetup", "--find", "--show", backing).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "losetup: %s", out)
	device := strings.TrimSpace(string(out))
	DeferCleanup(func() {
		_ = exec.Command("losetup", "--detach", device).Run()
	})
	return device
}

// fillFilesystem writes file until the filesystem at mount has less than 1 MiB left, far
// less than the guest then writes. (ext4 keeps a few blocks a file cannot take: the
// extent tree of a growing file needs them.)
func fillFilesystem(file, mount string) {
	// dd stops at ENOSPC: that failure is the point.
	out, _ := exec.Command("dd", "if=/dev/zero", "of="+file, "bs=64k").CombinedOutput()
	var fs syscall.Statfs_t
	Expect(syscall.Statfs(mount, &fs)).To(Succeed())
	Expect(int64(fs.Bavail)*fs.Bsize).To(BeNumerically("<", 1<<20), "the filesystem still has room after dd: %s", out)
}

// localVolumeClaim makes a claim named name in ns bound to a new local PersistentVolume
// at path on the local cluster's node, of its own StorageClass name.
func localVolumeClaim(ctx context.Context, ns, name, path string, mode k8sv1.PersistentVolumeMode, size int64) {
	nodes := &k8sv1.NodeList{}
	Expect(crClient.List(ctx, nodes)).To(Succeed())
	Expect(nodes.Items).NotTo(BeEmpty())
	node := nodes.Items[0].Name
	class := "hypernest-local-" + ns + "-" + name
	pv := &k8sv1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: class},
		Spec: k8sv1.PersistentVolumeSpec{
			Capacity:                      k8sv1.ResourceList{k8sv1.ResourceStorage: *resource.NewQuantity(size, resource.BinarySI)},
			AccessModes:                   []k8sv1.PersistentVolumeAccessMode{k8sv1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: k8sv1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			VolumeMode:                    &mode,
			PersistentVolumeSource:        k8sv1.PersistentVolumeSource{Local: &k8sv1.LocalVolumeSource{Path: path}},
			NodeAffinity: &k8sv1.VolumeNodeAffinity{Required: &k8sv1.NodeSelector{NodeSelectorTerms: []k8sv1.NodeSelectorTerm{{
				MatchExpressions: []k8sv1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: k8sv1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
	}
	Expect(crClient.Create(ctx, pv)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(crClient.Delete(ctx, pv))).To(Succeed())
	})
	claim := &k8sv1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: k8sv1.PersistentVolumeClaimSpec{
			AccessModes:      []k8sv1.PersistentVolumeAccessMode{k8sv1.ReadWriteOnce},
			StorageClassName: &class,
			VolumeMode:       &mode,
			VolumeName:       pv.Name,
			Resources:        k8sv1.VolumeResourceRequirements{Requests: k8sv1.ResourceList{k8sv1.ResourceStorage: *resource.NewQuantity(size, resource.BinarySI)}},
		},
	}
	Expect(crClient.Create(ctx, claim)).To(Succeed())
}
