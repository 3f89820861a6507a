package instancetype

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
)

const notSupported = "is not supported by Hypernest yet"

// ValidateInstancetypeSpec checks an instance type as KubeVirt does, and refuses what
// Hypernest's VMIs cannot run, naming the field, so the instance type is refused when it
// is created rather than every VM that names it later.
func ValidateInstancetypeSpec(path *field.Path, spec *itv1.VirtualMachineInstancetypeSpec) field.ErrorList {
	var errs field.ErrorList
	mem := path.Child("memory")
	if p := spec.Memory.OvercommitPercent; p < 0 || p > 100 {
		errs = append(errs, field.Invalid(mem.Child("overcommitPercent"), p, fmt.Sprintf("spec.memory.overcommitPercent '%d': must be in range between 0 and 100.", p)))
	}
	if spec.Memory.OvercommitPercent != 0 && spec.Memory.Hugepages != nil {
		errs = append(errs, field.Invalid(mem.Child("overcommitPercent"), spec.Memory.OvercommitPercent, "spec.memory.overcommitPercent and spec.memory.hugepages should not be requested together."))
	}
	if spec.CPU.Guest == 0 {
		errs = append(errs, field.Invalid(path.Child("cpu", "guest"), 0, "must be at least 1"))
	}
	if spec.Memory.Guest.Sign() <= 0 {
		errs = append(errs, field.Invalid(mem.Child("guest"), spec.Memory.Guest.String(), "must be more than 0"))
	}
	cpu := path.Child("cpu")
	forbid := func(set bool, p *field.Path, what string) {
		if set {
			errs = append(errs, field.Forbidden(p, what+" "+notSupported))
		}
	}
	forbid(spec.CPU.DedicatedCPUPlacement != nil && *spec.CPU.DedicatedCPUPlacement, cpu.Child("dedicatedCPUPlacement"), "dedicated CPU placement")
	forbid(spec.CPU.IsolateEmulatorThread != nil && *spec.CPU.IsolateEmulatorThread, cpu.Child("isolateEmulatorThread"), "an isolated emulator thread")
	forbid(spec.CPU.NUMA != nil, cpu.Child("numa"), "guest NUMA")
	forbid(spec.CPU.Realtime != nil, cpu.Child("realtime"), "realtime tuning")
	forbid(spec.CPU.MaxSockets != nil, cpu.Child("maxSockets"), "CPU hotplug")
	forbid(spec.Memory.Hugepages != nil, mem.Child("hugepages"), "backing memory with hugepages")
	forbid(spec.Memory.MaxGuest != nil, mem.Child("maxGuest"), "memory hotplug")
	forbid(spec.IOThreadsPolicy != nil, path.Child("ioThreadsPolicy"), "an I/O threads policy")
	return errs
}

// ValidatePreferenceSpec checks a preference as KubeVirt does and refuses preferences
// for what Hypernest's VMIs cannot have. The warnings are KubeVirt's, for its deprecated
// topology names.
func ValidatePreferenceSpec(path *field.Path, spec *itv1.VirtualMachinePreferenceSpec) (field.ErrorList, []string) {
	var errs field.ErrorList
	var warnings []string
	if c := spec.CPU; c != nil {
		if t := c.PreferredCPUTopology; t != nil {
			if replacement, deprecated := deprecatedTopologies[*t]; deprecated {
				warnings = append(warnings, fmt.Sprintf("PreferredCPUTopology %s is deprecated for removal in a future release, please use %s instead", *t, replacement))
			}
		}
		if PreferredTopology(spec) == itv1.Spread {
			if ratio, across := SpreadOptions(spec); across == itv1.SpreadAcrossCoresThreads && ratio != 2 {
				errs = append(errs, field.Invalid(path.Child("cpu", "spreadOptions", "ratio"), ratio, "only a ratio of 2 (1 core 2 threads) is allowed when spreading vCPUs over cores and threads"))
			}
		}
	}
	forbid := func(set bool, p *field.Path, what string) {
		if set {
			errs = append(errs, field.Forbidden(p, what+" "+notSupported))
		}
	}
	if d := spec.Devices; d != nil {
		devices := path.Child("devices")
		forbid(d.PreferredSoundModel != "", devices.Child("preferredSoundModel"), "a sound device")
		forbid(d.PreferredVideoType != nil, devices.Child("preferredVideoType"), "choosing the video device")
		forbid(d.PreferredLunBus != "", devices.Child("preferredLunBus"), "a LUN disk")
		forbid(d.PreferredDiskBlockSize != nil, devices.Child("preferredDiskBlockSize"), "choosing a disk block size")
		forbid(d.PreferredDiskDedicatedIoThread != nil && *d.PreferredDiskDedicatedIoThread, devices.Child("preferredDiskDedicatedIoThread"), "a dedicated disk I/O thread")
	}
	if f := spec.Features; f != nil {
		forbid(f.PreferredHyperv != nil, path.Child("features", "preferredHyperv"), "Hyper-V")
	}
	if f := spec.Firmware; f != nil {
		firmware := path.Child("firmware")
		forbid(f.PreferredEfi != nil, firmware.Child("preferredEfi"), "EFI firmware")
		forbid(f.DeprecatedPreferredUseEfi != nil && *f.DeprecatedPreferredUseEfi, firmware.Child("preferredUseEfi"), "EFI firmware")
		forbid(f.DeprecatedPreferredUseSecureBoot != nil && *f.DeprecatedPreferredUseSecureBoot, firmware.Child("preferredUseSecureBoot"), "Secure Boot")
	}
	if v := spec.Volumes; v != nil {
		forbid(v.PreferredStorageClassName != "", path.Child("volumes", "preferredStorageClassName"), "a storage class for DataVolume templates (CDI)")
	}
	return errs, warnings
}

var deprecatedTopologies = map[itv1.PreferredCPUTopology]itv1.PreferredCPUTopology{
	itv1.DeprecatedPreferSockets: itv1.Sockets,
	itv1.DeprecatedPreferCores:   itv1.Cores,
	itv1.DeprecatedPreferThreads: itv1.Threads,
	itv1.DeprecatedPreferSpread:  itv1.Spread,
	itv1.DeprecatedPreferAny:     itv1.Any,
}
