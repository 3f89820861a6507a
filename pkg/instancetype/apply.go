// Package instancetype applies instance types and preferences (instancetype.kubevirt.io)
// to VirtualMachines the way KubeVirt does: an instance type decides the guest's size and
// the VM may not set what it decides (a conflict, refused naming the field); a preference
// fills in what the VM leaves unset. virt-api uses it to check a VM before it is stored,
// virt-controller to pin what a VM uses in ControllerRevisions and to build its VMI.
package instancetype

import (
	"fmt"
	"maps"
	"strings"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
)

// Conflicts are the VM fields an instance type decides but the VM sets too.
type Conflicts []*field.Path

// Error is KubeVirt's message for them.
func (c Conflicts) Error() string {
	paths := make([]string, len(c))
	for i, p := range c {
		paths[i] = p.String()
	}
	return fmt.Sprintf("VM field(s) %s conflicts with selected instance type", strings.Join(paths, ", "))
}

// FieldErrors are the conflicts as admission errors, one per field.
func (c Conflicts) FieldErrors() field.ErrorList {
	var errs field.ErrorList
	for _, p := range c {
		errs = append(errs, field.Forbidden(p, fmt.Sprintf("VM field(s) %s conflicts with selected instance type", p.String())))
	}
	return errs
}

// Apply applies an instance type (may be nil) and then a preference (may be nil) to the
// VMI spec and metadata at path (spec.template.spec for a VM). On a conflict nothing of
// the preference is applied and the conflicts are returned.
func Apply(path *field.Path, it *itv1.VirtualMachineInstancetypeSpec, pref *itv1.VirtualMachinePreferenceSpec, spec *v1.VirtualMachineInstanceSpec, meta *metav1.ObjectMeta) Conflicts {
	if it != nil {
		if conflicts := applyInstancetype(path, it, pref, spec, meta); len(conflicts) > 0 {
			return conflicts
		}
	}
	if pref != nil {
		applyPreference(pref, spec, meta)
	}
	return nil
}

// applyInstancetype follows KubeVirt's order: node selector, scheduler, CPU, memory,
// I/O threads policy, annotations; every conflict is collected.
func applyInstancetype(path *field.Path, it *itv1.VirtualMachineInstancetypeSpec, pref *itv1.VirtualMachinePreferenceSpec, spec *v1.VirtualMachineInstanceSpec, meta *metav1.ObjectMeta) Conflicts {
	var conflicts Conflicts
	if it.NodeSelector != nil {
		if spec.NodeSelector != nil {
			conflicts = append(conflicts, path.Child("nodeSelector"))
		} else {
			spec.NodeSelector = maps.Clone(it.NodeSelector)
		}
	}
	if it.SchedulerName != "" {
		if spec.SchedulerName != "" {
			conflicts = append(conflicts, path.Child("schedulerName"))
		} else {
			spec.SchedulerName = it.SchedulerName
		}
	}
	conflicts = append(conflicts, applyCPU(path.Child("domain"), it, pref, &spec.Domain)...)
	conflicts = append(conflicts, applyMemory(path.Child("domain"), it, &spec.Domain)...)
	if it.IOThreadsPolicy != nil {
		if spec.Domain.IOThreadsPolicy != nil {
			conflicts = append(conflicts, path.Child("domain", "ioThreadsPolicy"))
		} else {
			spec.Domain.IOThreadsPolicy = ptr.To(*it.IOThreadsPolicy)
		}
	}
	// Annotations are added where absent; a different value is a conflict (its path is
	// KubeVirt's: not under the template).
	for k, val := range it.Annotations {
		if cur, ok := meta.Annotations[k]; ok {
			if cur != val {
				conflicts = append(conflicts, field.NewPath("annotations").Key(k))
			}
			continue
		}
		if meta.Annotations == nil {
			meta.Annotations = map[string]string{}
		}
		meta.Annotations[k] = val
	}
	return conflicts
}

func applyCPU(path *field.Path, it *itv1.VirtualMachineInstancetypeSpec, pref *itv1.VirtualMachinePreferenceSpec, domain *v1.DomainSpec) Conflicts {
	var conflicts Conflicts
	res := path.Child("resources")
	if _, ok := domain.Resources.Requests[k8sv1.ResourceCPU]; ok {
		conflicts = append(conflicts, res.Child("requests", string(k8sv1.ResourceCPU)))
	}
	if _, ok := domain.Resources.Limits[k8sv1.ResourceCPU]; ok {
		conflicts = append(conflicts, res.Child("limits", string(k8sv1.ResourceCPU)))
	}
	cpu := path.Child("cpu")
	if c := domain.CPU; c != nil {
		if c.Sockets != 0 {
			conflicts = append(conflicts, cpu.Child("sockets"))
		}
		if c.Cores != 0 {
			conflicts = append(conflicts, cpu.Child("cores"))
		}
		if c.Threads != 0 {
			conflicts = append(conflicts, cpu.Child("threads"))
		}
		if c.Model != "" && it.CPU.Model != nil {
			conflicts = append(conflicts, cpu.Child("model"))
		}
		if c.DedicatedCPUPlacement && it.CPU.DedicatedCPUPlacement != nil {
			conflicts = append(conflicts, cpu.Child("dedicatedCpuPlacement"))
		}
		if c.IsolateEmulatorThread && it.CPU.IsolateEmulatorThread != nil {
			conflicts = append(conflicts, cpu.Child("isolateEmulatorThread"))
		}
		if c.NUMA != nil && it.CPU.NUMA != nil {
			conflicts = append(conflicts, cpu.Child("numa"))
		}
		if c.Realtime != nil && it.CPU.Realtime != nil {
			conflicts = append(conflicts, cpu.Child("realtime"))
		}
	}
	if len(conflicts) > 0 {
		return conflicts
	}
	if domain.CPU == nil {
		domain.CPU = &v1.CPU{}
	}
	c := domain.CPU
	c.Sockets, c.Cores, c.Threads = Topology(it.CPU.Guest, pref)
	if it.CPU.Model != nil {
		c.Model = *it.CPU.Model
	}
	if it.CPU.DedicatedCPUPlacement != nil {
		c.DedicatedCPUPlacement = *it.CPU.DedicatedCPUPlacement
	}
	if it.CPU.IsolateEmulatorThread != nil {
		c.IsolateEmulatorThread = *it.CPU.IsolateEmulatorThread
	}
	if it.CPU.NUMA != nil {
		c.NUMA = it.CPU.NUMA.DeepCopy()
	}
	if it.CPU.Realtime != nil {
		c.Realtime = it.CPU.Realtime.DeepCopy()
	}
	if it.CPU.MaxSockets != nil {
		c.MaxSockets = *it.CPU.MaxSockets
	}
	return nil
}

// Spread defaults (KubeVirt's): two cores per socket, across sockets and cores.
const (
	defaultSpreadRatio  = 2
	defaultSpreadAcross = itv1.SpreadAcrossSocketsCores
)

// Topology lays guest vCPUs out as sockets, cores and threads, as the preference's
// preferredCPUTopology says; sockets by default (KubeVirt's default). Integer division,
// as KubeVirt's: the preference webhook refuses a spread the count does not divide.
func Topology(guest uint32, pref *itv1.VirtualMachinePreferenceSpec) (sockets, cores, threads uint32) {
	sockets, cores, threads = 1, 1, 1
	if guest <= 1 {
		return
	}
	switch PreferredTopology(pref) {
	case itv1.Cores:
		cores = guest
	case itv1.Threads:
		threads = guest
	case itv1.Spread:
		ratio, across := SpreadOptions(pref)
		switch across {
		case itv1.SpreadAcrossCoresThreads:
			threads, cores = ratio, guest/ratio
		case itv1.SpreadAcrossSocketsCoresThreads:
			threads, cores, sockets = 2, ratio, guest/2/ratio
		default:
			cores, sockets = ratio, guest/ratio
		}
	default:
		sockets = guest
	}
	return
}

// PreferredTopology is the preference's topology with KubeVirt's deprecated prefer*
// spellings mapped to the current ones; sockets when it names none.
func PreferredTopology(pref *itv1.VirtualMachinePreferenceSpec) itv1.PreferredCPUTopology {
	if pref == nil || pref.CPU == nil || pref.CPU.PreferredCPUTopology == nil {
		return itv1.Sockets
	}
	switch t := *pref.CPU.PreferredCPUTopology; t {
	case itv1.DeprecatedPreferCores:
		return itv1.Cores
	case itv1.DeprecatedPreferSockets:
		return itv1.Sockets
	case itv1.DeprecatedPreferThreads:
		return itv1.Threads
	case itv1.DeprecatedPreferSpread:
		return itv1.Spread
	case itv1.DeprecatedPreferAny:
		return itv1.Any
	default:
		return t
	}
}

// SpreadOptions are the ratio and levels of the spread topology, with KubeVirt's
// defaults and its older preferSpreadSocketToCoreRatio field.
func SpreadOptions(pref *itv1.VirtualMachinePreferenceSpec) (uint32, itv1.SpreadAcross) {
	ratio, across := uint32(defaultSpreadRatio), defaultSpreadAcross
	if pref == nil {
		return ratio, across
	}
	if pref.PreferSpreadSocketToCoreRatio != 0 {
		ratio = pref.PreferSpreadSocketToCoreRatio
	}
	if pref.CPU != nil && pref.CPU.SpreadOptions != nil {
		if r := pref.CPU.SpreadOptions.Ratio; r != nil && *r != 0 {
			ratio = *r
		}
		if a := pref.CPU.SpreadOptions.Across; a != nil {
			across = *a
		}
	}
	return ratio, across
}

// applyMemory reports only the first conflict, in KubeVirt's order.
func applyMemory(path *field.Path, it *itv1.VirtualMachineInstancetypeSpec, domain *v1.DomainSpec) Conflicts {
	mem := path.Child("memory")
	if m := domain.Memory; m != nil {
		switch {
		case m.Guest != nil:
			return Conflicts{mem.Child("guest")}
		case m.Hugepages != nil && it.Memory.Hugepages != nil:
			return Conflicts{mem.Child("hugepages")}
		case m.MaxGuest != nil && it.Memory.MaxGuest != nil:
			return Conflicts{mem.Child("maxGuest")}
		}
	}
	if _, ok := domain.Resources.Requests[k8sv1.ResourceMemory]; ok {
		return Conflicts{path.Child("resources", "requests", string(k8sv1.ResourceMemory))}
	}
	if _, ok := domain.Resources.Limits[k8sv1.ResourceMemory]; ok {
		return Conflicts{path.Child("resources", "limits", string(k8sv1.ResourceMemory))}
	}
	if domain.Memory == nil {
		domain.Memory = &v1.Memory{}
	}
	domain.Memory.Guest = ptr.To(it.Memory.Guest.DeepCopy())
	if it.Memory.Hugepages != nil {
		domain.Memory.Hugepages = it.Memory.Hugepages.DeepCopy()
	}
	if it.Memory.MaxGuest != nil {
		domain.Memory.MaxGuest = ptr.To(it.Memory.MaxGuest.DeepCopy())
	}
	if pct := it.Memory.OvercommitPercent; pct > 0 {
		// KubeVirt computes in float32; so does this, so both request the same bytes.
		request := resource.NewQuantity(int64(float32(it.Memory.Guest.Value())*(1-float32(pct)/100)), it.Memory.Guest.Format)
		if domain.Resources.Requests == nil {
			domain.Resources.Requests = k8sv1.ResourceList{}
		}
		domain.Resources.Requests[k8sv1.ResourceMemory] = *request
	}
	return nil
}
