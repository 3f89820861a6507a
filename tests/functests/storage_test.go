package functests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
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

	BeforeAll(func(ctx SpecContext) {
		installHypernest(ctx)
		var err error
		virtctl, err = gexec.Build("github.com/hypernest/hypernest/components/virtctl")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(gexec.CleanupBuildArtifacts)
	})

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
		vm := &v1.VirtualMachine{
			ObjectMeta: metav1.ObjectMeta{Name: "vm-pvc", Namespace: ns},
			Spec: v1.VirtualMachineSpec{
				RunStrategy: ptr.To(v1.RunStrategyAlways),
				Template: &v1.VirtualMachineInstanceTemplateSpec{Spec: v1.VirtualMachineInstanceSpec{
					Domain: v1.DomainSpec{
						Resources: v1.ResourceRequirements{Requests: k8sv1.ResourceList{k8sv1.ResourceMemory: resource.MustParse("128Mi")}},
						Devices: v1.Devices{Disks: []v1.Disk{
							{Name: "containerdisk", DiskDevice: v1.DiskDevice{Disk: &v1.DiskTarget{Bus: v1.DiskBusVirtio}}},
							{Name: "data", DiskDevice: v1.DiskDevice{Disk: &v1.DiskTarget{Bus: v1.DiskBusVirtio}}},
							{Name: "raw", DiskDevice: v1.DiskDevice{Disk: &v1.DiskTarget{Bus: v1.DiskBusVirtio}}},
						}},
					},
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					Volumes: []v1.Volume{
						{Name: "containerdisk", VolumeSource: v1.VolumeSource{ContainerDisk: &v1.ContainerDiskSource{Image: alpineDemoDisk}}},
						{Name: "data", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{
							PersistentVolumeClaimVolumeSource: k8sv1.PersistentVolumeClaimVolumeSource{ClaimName: "data"},
						}}},
						{Name: "raw", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{
							PersistentVolumeClaimVolumeSource: k8sv1.PersistentVolumeClaimVolumeSource{ClaimName: blockClaim},
						}}},
					},
				}},
			},
		}
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
		in, out := alpineRootShell(virtctl, ns, vm.Name)
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

	It("refuses what it cannot serve, naming the field: dataVolume (CDI) and hotplug", func(ctx SpecContext) {
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
		Expect(err.Error()).To(ContainSubstring("spec.template.spec.volumes[0].persistentVolumeClaim.hotpluggable: Forbidden: volume hotplug is not supported by Hypernest yet"))
	})
})

// blockModeClaim makes a block-mode claim named name in ns, bound to a local
// PersistentVolume whose device is a loop device over a sparse file of size bytes on this
// node (the local cluster's only node; the test runs on it, as root). local-path-provisioner
// serves filesystem mode only; a local volume is Kubernetes' own way to offer a node's
// block device. Everything is removed when the spec ends.
func blockModeClaim(ctx context.Context, ns, name string, size int64) string {
	backing := filepath.Join(GinkgoT().TempDir(), "block.img")
	Expect(os.WriteFile(backing, nil, 0o600)).To(Succeed())
	Expect(os.Truncate(backing, size)).To(Succeed())
	out, err := exec.Command("losetup", "--find", "--show", backing).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "losetup: %s", out)
	device := strings.TrimSpace(string(out))
	DeferCleanup(func() {
		_ = exec.Command("losetup", "--detach", device).Run()
	})

	nodes := &k8sv1.NodeList{}
	Expect(crClient.List(ctx, nodes)).To(Succeed())
	Expect(nodes.Items).NotTo(BeEmpty())
	node := nodes.Items[0].Name
	class := "hypernest-local-block-" + ns
	block := k8sv1.PersistentVolumeBlock
	pv := &k8sv1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: class},
		Spec: k8sv1.PersistentVolumeSpec{
			Capacity:                      k8sv1.ResourceList{k8sv1.ResourceStorage: *resource.NewQuantity(size, resource.BinarySI)},
			AccessModes:                   []k8sv1.PersistentVolumeAccessMode{k8sv1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: k8sv1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			VolumeMode:                    &block,
			PersistentVolumeSource:        k8sv1.PersistentVolumeSource{Local: &k8sv1.LocalVolumeSource{Path: device}},
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
			VolumeMode:       &block,
			VolumeName:       pv.Name,
			Resources:        k8sv1.VolumeResourceRequirements{Requests: k8sv1.ResourceList{k8sv1.ResourceStorage: *resource.NewQuantity(size, resource.BinarySI)}},
		},
	}
	Expect(crClient.Create(ctx, claim)).To(Succeed())
	return name
}
