package clusterconfig

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// Stage is how far a feature gate has come, in KubeVirt's words; Hypernest's own gates
// have their own stage.
type Stage string

const (
	// StageHypernest: a feature of Hypernest's own. It starts disabled.
	StageHypernest Stage = "Hypernest"
	// StageAlpha and StageBeta: gated in KubeVirt, so gated here, disabled by default.
	StageAlpha Stage = "Alpha"
	StageBeta  Stage = "Beta"
	// StageGA: generally available in KubeVirt. What it guarded is on, with or without
	// the gate; listing it changes nothing.
	StageGA Stage = "GA"
	// StageDeprecated and StageDiscontinued: KubeVirt keeps accepting the name (a
	// deprecated gate may still enable something, see AlsoEnabledBy).
	StageDeprecated   Stage = "Deprecated"
	StageDiscontinued Stage = "Discontinued"
)

// FeatureGate is one row of the table of every gate Hypernest knows.
type FeatureGate struct {
	Name  string
	Stage Stage
	// AlsoEnabledBy: older gate names that enable the same thing (KubeVirt keeps them
	// working while they are deprecated).
	AlsoEnabledBy []string
	// Guards says what the gate guards, for people: the fields and behaviour.
	Guards string
	// Implemented: Hypernest runs what the gate guards once it is on. When false, the
	// guarded fields stay refused with the gate on too ("not supported by Hypernest
	// yet"), and enabling the gate draws a warning saying so.
	Implemented bool
	// VMIFields finds what the gate guards in a VMI spec at path: each field set there.
	// nil when the gate guards nothing in a VMI spec.
	VMIFields func(path *field.Path, spec *v1.VirtualMachineInstanceSpec) []*field.Path
}

// Feature gates of Hypernest's own features: each starts disabled and is turned on in
// the KubeVirt object's spec.configuration.developerConfiguration.featureGates.
const (
	// GuestAgentBootstrapCheck turns on virt-api's bootstrapstatus subresource (Cluster
	// API's bootstrap sentinel read through the QEMU guest agent) and, with it, the
	// Cluster API provider's "guest-agent" bootstrap check strategy.
	GuestAgentBootstrapCheck = "GuestAgentBootstrapCheck"
)

// FeatureGates is every feature gate Hypernest knows: its own, and KubeVirt's at v1.9
// (pkg/virt-config/featuregate active.go and inactive.go), with what each guards in
// Hypernest. virt-api refuses a guarded field while its gate is off, naming the gate,
// and warns about gate names that enable nothing here. The README's feature gate table
// lists the same rows (a unit test keeps them together).
var FeatureGates = []FeatureGate{
	{Name: GuestAgentBootstrapCheck, Stage: StageHypernest, Implemented: true,
		Guards: "virt-api's bootstrapstatus subresource of a VMI, and the Cluster API provider's `checkStrategy: guest-agent` (KubevirtMachine spec.virtualMachineBootstrapCheck)"},

	{Name: "VSOCK", Stage: StageAlpha, Guards: "spec.domain.devices.autoattachVSOCK",
		VMIFields: func(path *field.Path, spec *v1.VirtualMachineInstanceSpec) []*field.Path {
			if v := spec.Domain.Devices.AutoattachVSOCK; v != nil && *v {
				return []*field.Path{path.Child("domain", "devices", "autoattachVSOCK")}
			}
			return nil
		}},
	{Name: "HostDisk", Stage: StageAlpha, Guards: "spec.volumes[].hostDisk",
		VMIFields: func(path *field.Path, spec *v1.VirtualMachineInstanceSpec) []*field.Path {
			var paths []*field.Path
			for i, vol := range spec.Volumes {
				if vol.HostDisk != nil {
					paths = append(paths, path.Child("volumes").Index(i).Child("hostDisk"))
				}
			}
			return paths
		}},
	{Name: "DeclarativeHotplugVolumes", Stage: StageBeta, AlsoEnabledBy: []string{"HotplugVolumes"},
		Guards: "spec.volumes[].persistentVolumeClaim.hotpluggable, spec.volumes[].dataVolume.hotpluggable",
		VMIFields: func(path *field.Path, spec *v1.VirtualMachineInstanceSpec) []*field.Path {
			var paths []*field.Path
			for i, vol := range spec.Volumes {
				switch {
				case vol.PersistentVolumeClaim != nil && vol.PersistentVolumeClaim.Hotpluggable:
					paths = append(paths, path.Child("volumes").Index(i).Child("persistentVolumeClaim", "hotpluggable"))
				case vol.DataVolume != nil && vol.DataVolume.Hotpluggable:
					paths = append(paths, path.Child("volumes").Index(i).Child("dataVolume", "hotpluggable"))
				}
			}
			return paths
		}},
	// KubeVirt's gates whose fields Hypernest's API does not have yet: known, so enabling
	// one draws an honest warning instead of nothing.
	{Name: "ImageVolume", Stage: StageBeta, Guards: "containerDisk volumes served as Kubernetes image volumes"},
	{Name: "Snapshot", Stage: StageBeta, Guards: "VirtualMachineSnapshot and VirtualMachineRestore"},
	{Name: "Template", Stage: StageBeta, Guards: "virtctl template and VM templates"},
	{Name: "DecentralizedLiveMigration", Stage: StageBeta, Guards: "live migration between clusters"},
	{Name: "PasstBinding", Stage: StageBeta, Guards: "the passt network binding"},
	{Name: "KubevirtSeccompProfile", Stage: StageBeta, Guards: "KubeVirt's seccomp profile for launcher pods"},
	{Name: "NodeRestriction", Stage: StageBeta, Guards: "virt-handler may change only its own node's objects"},
	{Name: "Sidecar", Stage: StageAlpha, Guards: "hook sidecars (annotation hooks.kubevirt.io/hookSidecars)"},
	{Name: "HostDevices", Stage: StageAlpha, Guards: "spec.domain.devices.hostDevices"},
	{Name: "DownwardMetrics", Stage: StageAlpha, Guards: "the downwardMetrics volume and device"},
	{Name: "ExperimentalIgnitionSupport", Stage: StageAlpha, Guards: "Ignition data (annotation kubevirt.io/ignitiondata)"},
	{Name: "Root", Stage: StageAlpha, Guards: "launcher pods running as root"},
	{Name: "CPUManager", Stage: StageAlpha, Guards: "dedicated CPUs (spec.domain.cpu.dedicatedCpuPlacement)"},
	{Name: "AlignCPUs", Stage: StageAlpha, Guards: "emulator threads aligned to whole cores"},
	{Name: "EnableVirtioFsStorageVolumes", Stage: StageAlpha, Guards: "virtiofs filesystems backed by PVCs"},
	{Name: "ObjectGraph", Stage: StageAlpha, Guards: "the objectgraph subresource"},
	{Name: "IncrementalBackup", Stage: StageAlpha, Guards: "VirtualMachineBackup"},
	{Name: "ConfigurableHypervisor", Stage: StageAlpha, Guards: "spec.configuration.hypervisors"},
	{Name: "ReservedOverheadMemlock", Stage: StageAlpha, Guards: "memlock limits from the reserved overhead"},

	{Name: "LiveMigration", Stage: StageGA},
	{Name: "NonRoot", Stage: StageGA},
	{Name: "PSA", Stage: StageGA},
	{Name: "NUMA", Stage: StageGA},
	{Name: "GPU", Stage: StageGA},
	{Name: "HotplugNICs", Stage: StageGA},
	{Name: "VMLiveUpdateFeatures", Stage: StageGA},
	{Name: "NetworkBindingPlugins", Stage: StageGA},
	{Name: "VolumeMigration", Stage: StageGA},
	{Name: "VMExport", Stage: StageGA},
	{Name: "ExpandDisks", Stage: StageGA},
	{Name: "InstancetypeReferencePolicy", Stage: StageGA},
	{Name: "VideoConfig", Stage: StageGA},
	{Name: "VmiMemoryOverheadReport", Stage: StageGA},
	{Name: "HotplugVolumes", Stage: StageDeprecated, Guards: "what DeclarativeHotplugVolumes guards"},
	{Name: "MultiArchitecture", Stage: StageDeprecated},
	{Name: "Passt", Stage: StageDiscontinued},
	{Name: "Macvtap", Stage: StageDiscontinued},
	{Name: "ExperimentalVirtiofsSupport", Stage: StageDiscontinued},
}

// LookupFeatureGate returns the table's row for a gate name.
func LookupFeatureGate(name string) (FeatureGate, bool) {
	i := slices.IndexFunc(FeatureGates, func(g FeatureGate) bool { return g.Name == name })
	if i < 0 {
		return FeatureGate{}, false
	}
	return FeatureGates[i], true
}

// gateOn reports whether g, or a name that also enables it, is enabled in c. A GA row
// guards no fields (TestFeatureGateTableIsConsistent), so only the list decides.
func (c Config) gateOn(g FeatureGate) bool {
	return c.GateEnabled(g.Name) || slices.ContainsFunc(g.AlsoEnabledBy, c.GateEnabled)
}

// GatedFieldErrors refuses each field of a VMI spec (at path) whose feature gate is off,
// naming the gate and where to turn it on; KubeVirt's message begins the same way.
func (c Config) GatedFieldErrors(path *field.Path, spec *v1.VirtualMachineInstanceSpec) field.ErrorList {
	var errs field.ErrorList
	for _, g := range FeatureGates {
		if g.VMIFields == nil || c.gateOn(g) {
			continue
		}
		for _, p := range g.VMIFields(path, spec) {
			errs = append(errs, field.Forbidden(p, fmt.Sprintf(
				"%s feature gate is not enabled in kubevirt-config: add %s to the KubeVirt object's spec.configuration.developerConfiguration.featureGates", g.Name, g.Name)))
		}
	}
	return errs
}

// FeatureGateWarnings are the admission warnings for a KubeVirt object's gate list:
// names that enable nothing in Hypernest, and why.
func FeatureGateWarnings(path *field.Path, gates []string) []string {
	var warnings []string
	for i, name := range gates {
		p := path.Index(i).String()
		g, known := LookupFeatureGate(name)
		switch {
		case !known:
			warnings = append(warnings, fmt.Sprintf("%s: unknown feature gate %q: it enables nothing (gate names are case-sensitive)", p, name))
		case g.Stage == StageGA:
			warnings = append(warnings, fmt.Sprintf("%s: feature gate %s is generally available in KubeVirt: it needs no gate and the entry changes nothing", p, name))
		case g.Stage == StageDiscontinued:
			warnings = append(warnings, fmt.Sprintf("%s: feature gate %s is discontinued in KubeVirt: it enables nothing", p, name))
		case g.Stage == StageDeprecated && g.Guards == "":
			warnings = append(warnings, fmt.Sprintf("%s: feature gate %s is deprecated in KubeVirt: it enables nothing", p, name))
		case !g.Implemented:
			warnings = append(warnings, fmt.Sprintf("%s: feature gate %s guards %s, which Hypernest does not support yet: those fields stay refused", p, name, g.Guards))
		}
	}
	return warnings
}
