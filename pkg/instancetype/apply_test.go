package instancetype

import (
	"strings"
	"testing"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
)

var templatePath = field.NewPath("spec", "template", "spec")

func medium() *itv1.VirtualMachineInstancetypeSpec {
	return &itv1.VirtualMachineInstancetypeSpec{
		CPU:    itv1.CPUInstancetype{Guest: 4},
		Memory: itv1.MemoryInstancetype{Guest: resource.MustParse("256Mi")},
	}
}

func topologyPref(t itv1.PreferredCPUTopology) *itv1.VirtualMachinePreferenceSpec {
	return &itv1.VirtualMachinePreferenceSpec{CPU: &itv1.CPUPreferences{PreferredCPUTopology: &t}}
}

func TestTopologyFollowsThePreference(t *testing.T) {
	for _, tc := range []struct {
		pref                    *itv1.VirtualMachinePreferenceSpec
		guest                   uint32
		sockets, cores, threads uint32
	}{
		{nil, 4, 4, 1, 1}, // sockets by default, as KubeVirt
		{topologyPref(itv1.Cores), 4, 1, 4, 1},
		{topologyPref(itv1.DeprecatedPreferThreads), 4, 1, 1, 4},
		{topologyPref(itv1.Any), 4, 4, 1, 1},
		{topologyPref(itv1.Spread), 4, 2, 2, 1},
		{topologyPref(itv1.Spread), 1, 1, 1, 1},
		{&itv1.VirtualMachinePreferenceSpec{CPU: &itv1.CPUPreferences{PreferredCPUTopology: ptr.To(itv1.Spread),
			SpreadOptions: &itv1.SpreadOptions{Across: ptr.To(itv1.SpreadAcrossSocketsCoresThreads), Ratio: ptr.To[uint32](2)}}}, 8, 2, 2, 2},
		{&itv1.VirtualMachinePreferenceSpec{CPU: &itv1.CPUPreferences{PreferredCPUTopology: ptr.To(itv1.Spread),
			SpreadOptions: &itv1.SpreadOptions{Across: ptr.To(itv1.SpreadAcrossCoresThreads)}}}, 6, 1, 3, 2},
	} {
		s, c, th := Topology(tc.guest, tc.pref)
		if s != tc.sockets || c != tc.cores || th != tc.threads {
			t.Errorf("Topology(%d, %v) = %d/%d/%d, want %d/%d/%d", tc.guest, PreferredTopology(tc.pref), s, c, th, tc.sockets, tc.cores, tc.threads)
		}
	}
}

func TestInstancetypeSizesTheGuest(t *testing.T) {
	it := medium()
	it.Memory.OvercommitPercent = 25
	it.NodeSelector = map[string]string{"disk": "ssd"}
	it.Annotations = map[string]string{"size": "medium", "team": "a"}
	spec := &v1.VirtualMachineInstanceSpec{}
	meta := &metav1.ObjectMeta{Annotations: map[string]string{"team": "a"}}
	if c := Apply(templatePath, it, nil, spec, meta); c != nil {
		t.Fatalf("conflicts: %v", c)
	}
	if spec.Domain.CPU.Sockets != 4 || spec.Domain.CPU.Cores != 1 || spec.Domain.CPU.Threads != 1 {
		t.Errorf("cpu %+v", spec.Domain.CPU)
	}
	if spec.Domain.Memory.Guest.String() != "256Mi" {
		t.Errorf("guest memory %v", spec.Domain.Memory.Guest)
	}
	// 75% of 256Mi, as KubeVirt computes it.
	if got := spec.Domain.Resources.Requests[k8sv1.ResourceMemory]; got.Value() != 192*1024*1024 {
		t.Errorf("memory request %v, want 192Mi", got.String())
	}
	if spec.NodeSelector["disk"] != "ssd" || meta.Annotations["size"] != "medium" {
		t.Errorf("node selector %v, annotations %v", spec.NodeSelector, meta.Annotations)
	}
}

func TestConflictsNameEveryField(t *testing.T) {
	spec := &v1.VirtualMachineInstanceSpec{
		NodeSelector: map[string]string{"a": "b"},
		Domain: v1.DomainSpec{
			CPU:    &v1.CPU{Cores: 2},
			Memory: &v1.Memory{Guest: ptr.To(resource.MustParse("1Gi"))},
			Resources: v1.ResourceRequirements{Requests: k8sv1.ResourceList{
				k8sv1.ResourceCPU: resource.MustParse("1"), k8sv1.ResourceMemory: resource.MustParse("1Gi"),
			}},
		},
	}
	it := medium()
	it.NodeSelector = map[string]string{"c": "d"}
	it.Annotations = map[string]string{"x": "instancetype"}
	meta := &metav1.ObjectMeta{Annotations: map[string]string{"x": "vm"}}
	c := Apply(templatePath, it, topologyPref(itv1.Cores), spec, meta)
	got := c.Error()
	for _, want := range []string{
		"spec.template.spec.nodeSelector",
		"spec.template.spec.domain.resources.requests.cpu",
		"spec.template.spec.domain.cpu.cores",
		"spec.template.spec.domain.memory.guest", // memory: the first conflict only
		"annotations[x]",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("conflicts %q do not name %s", got, want)
		}
	}
	if strings.Contains(got, "resources.requests.memory") {
		t.Errorf("conflicts %q name more than the first memory conflict", got)
	}
	if !strings.HasSuffix(got, "conflicts with selected instance type") {
		t.Errorf("message %q is not KubeVirt's", got)
	}
	if spec.Domain.CPU.Cores != 2 {
		t.Errorf("a conflicting VM was changed: %+v", spec.Domain.CPU)
	}
}

func TestPreferenceFillsOnlyWhatIsUnset(t *testing.T) {
	pref := &itv1.VirtualMachinePreferenceSpec{
		Devices: &itv1.DevicePreferences{
			PreferredDiskBus:        v1.DiskBusSATA,
			PreferredInterfaceModel: "e1000",
			PreferredRng:            &v1.Rng{},
		},
		Machine:                                &itv1.MachinePreferences{PreferredMachineType: "pc-q35-rhel9.4.0"},
		PreferredTerminationGracePeriodSeconds: ptr.To[int64](5),
		Annotations:                            map[string]string{"from": "preference", "keep": "preference"},
	}
	spec := &v1.VirtualMachineInstanceSpec{
		Domain: v1.DomainSpec{Devices: v1.Devices{Disks: []v1.Disk{
			{Name: "root", DiskDevice: v1.DiskDevice{Disk: &v1.DiskTarget{Bus: v1.DiskBusVirtio}}},
		}}},
		Volumes: []v1.Volume{{Name: "root"}, {Name: "data"}},
	}
	meta := &metav1.ObjectMeta{Annotations: map[string]string{"keep": "vm"}}
	if c := Apply(templatePath, nil, pref, spec, meta); c != nil {
		t.Fatal(c)
	}
	disks := spec.Domain.Devices.Disks
	if len(disks) != 2 || disks[0].Disk.Bus != v1.DiskBusVirtio || disks[1].Disk.Bus != v1.DiskBusSATA {
		t.Errorf("disks %+v: root keeps virtio, data gets sata", disks)
	}
	if ifs := spec.Domain.Devices.Interfaces; len(ifs) != 1 || ifs[0].Model != "e1000" || spec.Networks[0].Pod == nil {
		t.Errorf("the default pod interface did not get the preferred model: %+v", ifs)
	}
	if spec.Domain.Devices.Rng == nil || spec.Domain.Machine.Type != "pc-q35-rhel9.4.0" || *spec.TerminationGracePeriodSeconds != 5 {
		t.Errorf("rng %v machine %v grace %v", spec.Domain.Devices.Rng, spec.Domain.Machine, spec.TerminationGracePeriodSeconds)
	}
	if meta.Annotations["keep"] != "vm" || meta.Annotations["from"] != "preference" {
		t.Errorf("annotations %v", meta.Annotations)
	}
	// The defaults complete the rest as for any VMI.
	defaults.SetVirtualMachineInstanceSpecDefaults(spec)
	if spec.Domain.Devices.Interfaces[0].Masquerade == nil {
		t.Errorf("the default interface has no binding after defaults")
	}
}

func TestRequirements(t *testing.T) {
	pref := &itv1.VirtualMachinePreferenceSpec{Requirements: &itv1.PreferenceRequirements{
		CPU:    &itv1.CPUPreferenceRequirement{Guest: 8},
		Memory: &itv1.MemoryPreferenceRequirement{Guest: resource.MustParse("1Gi")},
	}}
	spec := &v1.VirtualMachineInstanceSpec{}
	it := medium()
	Apply(templatePath, it, pref, spec, &metav1.ObjectMeta{})
	defaulted := spec.DeepCopy()
	defaults.SetVirtualMachineInstanceSpecDefaults(defaulted)
	errs := checkRequirements(field.NewPath("spec"), it, pref, spec, defaulted)
	if len(errs) != 1 || errs[0].Field != "spec.instancetype" ||
		!strings.Contains(errs[0].Error(), "insufficient CPU resources of 4 vCPU provided by instance type, preference requires 8 vCPU") {
		t.Fatalf("errs %v", errs)
	}
	pref.Requirements.CPU.Guest = 2
	errs = checkRequirements(field.NewPath("spec"), it, pref, spec, defaulted)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "insufficient Memory resources of 256Mi provided by instance type, preference requires 1Gi") {
		t.Fatalf("errs %v", errs)
	}
	// Without an instance type, the VM's own topology counts.
	vmSpec := &v1.VirtualMachineInstanceSpec{Domain: v1.DomainSpec{CPU: &v1.CPU{Sockets: 1, Cores: 2}, Memory: &v1.Memory{Guest: ptr.To(resource.MustParse("2Gi"))}}}
	defaulted = vmSpec.DeepCopy()
	defaults.SetVirtualMachineInstanceSpecDefaults(defaulted)
	pref.Requirements.CPU.Guest = 2
	errs = checkRequirements(field.NewPath("spec"), nil, pref, vmSpec, defaulted)
	if len(errs) != 1 || errs[0].Field != "spec.template.spec.domain.cpu.sockets" {
		t.Fatalf("errs %v", errs)
	}
}

func TestObjectValidation(t *testing.T) {
	it := medium()
	it.Memory.OvercommitPercent = 10
	it.Memory.Hugepages = &v1.Hugepages{PageSize: "2Mi"}
	errs := ValidateInstancetypeSpec(field.NewPath("spec"), it)
	if len(errs) != 2 || !strings.Contains(errs.ToAggregate().Error(), "should not be requested together") || !strings.Contains(errs.ToAggregate().Error(), "spec.memory.hugepages: Forbidden") {
		t.Errorf("errs %v", errs)
	}
	pref := topologyPref(itv1.DeprecatedPreferSpread)
	pref.CPU.SpreadOptions = &itv1.SpreadOptions{Across: ptr.To(itv1.SpreadAcrossCoresThreads), Ratio: ptr.To[uint32](3)}
	pref.Devices = &itv1.DevicePreferences{PreferredSoundModel: "ich9"}
	errs, warnings := ValidatePreferenceSpec(field.NewPath("spec"), pref)
	if len(errs) != 2 || errs[0].Field != "spec.cpu.spreadOptions.ratio" || errs[1].Field != "spec.devices.preferredSoundModel" {
		t.Errorf("errs %v", errs)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "please use spread instead") {
		t.Errorf("warnings %v", warnings)
	}
	if errs := checkSpread(&itv1.VirtualMachineInstancetypeSpec{CPU: itv1.CPUInstancetype{Guest: 3}}, topologyPref(itv1.Spread)); len(errs) != 1 ||
		!strings.Contains(errs[0].Error(), "3 vCPUs provided by the instance type are not divisible by") {
		t.Errorf("spread errs %v", errs)
	}
}
