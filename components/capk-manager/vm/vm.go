// Package vm turns a KubevirtMachine into the VirtualMachine that runs it, and reads
// that VM's state back for the machine's status: pure functions over the API types, so
// the rules are tested without a cluster.
package vm

import (
	"fmt"
	"net"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	infrav1 "github.com/hypernest/hypernest/api/infrastructure/v1alpha1"
)

// CloudInitVolumeName is the volume (and disk) carrying the machine's bootstrap data, as
// CAPK names it.
const CloudInitVolumeName = "cloudinitvolume"

// UserDataSecretKey is the key of the bootstrap data in the <bootstrap secret>-userdata
// Secret (KubeVirt's userDataSecretRef reads "userdata").
const UserDataSecretKey = "userdata"

// Node roles, the values of Cluster API's cluster.x-k8s.io/role label, by which the
// control-plane Service selects its VMs' pods.
const (
	RoleLabel        = "cluster.x-k8s.io/role"
	ControlPlaneRole = "control-plane"
	WorkerRole       = "worker"
	vmNameLabel      = "name"
	bootstrapDataKey = "value"
	providerIDPrefix = "kubevirt://"
	userDataSuffix   = "-userdata"
)

// ProviderID is the machine's identity in the nested cluster, CAPK's form.
func ProviderID(kubevirtMachineName string) string { return providerIDPrefix + kubevirtMachineName }

// UserDataSecretName is the Secret, in the VM's namespace, holding the machine's
// bootstrap data for cloud-init: the Machine's bootstrap data Secret's name + "-userdata".
func UserDataSecretName(bootstrapSecretName string) string {
	return bootstrapSecretName + userDataSuffix
}

// BootstrapData returns the bootstrap data of a Cluster API bootstrap Secret.
func BootstrapData(secret *corev1.Secret) ([]byte, error) {
	data, ok := secret.Data[bootstrapDataKey]
	if !ok {
		return nil, fmt.Errorf("the bootstrap data Secret %s/%s has no %q key", secret.Namespace, secret.Name, bootstrapDataKey)
	}
	return data, nil
}

// Role is the machine's node role.
func Role(controlPlane bool) string {
	if controlPlane {
		return ControlPlaneRole
	}
	return WorkerRole
}

// Params is what the VM needs beyond the KubevirtMachine.
type Params struct {
	ClusterName         string
	Namespace           string // where the VM goes
	ControlPlane        bool
	BootstrapSecretName string // the Machine's bootstrap data Secret
}

// NoCloudRequested reports whether the template asks for the NoCloud datasource instead
// of ConfigDrive: it has a cloudInitNoCloud volume named cloudinitvolume, whose source
// the provider then points at the machine's bootstrap data.
func NoCloudRequested(km *infrav1.KubevirtMachine) bool {
	if t := km.Spec.VirtualMachineTemplate.Spec.Template; t != nil {
		for _, v := range t.Spec.Volumes {
			if v.Name == CloudInitVolumeName && v.CloudInitNoCloud != nil {
				return true
			}
		}
	}
	return false
}

// Build returns the VirtualMachine of a KubevirtMachine: its template, named after the
// machine, labelled for Cluster API and the control-plane Service, with the bootstrap data
// as a cloud-init volume (ConfigDrive, as CAPK; NoCloud when the template asks).
func Build(km *infrav1.KubevirtMachine, p Params) *kubevirtv1.VirtualMachine {
	tmpl := km.Spec.VirtualMachineTemplate
	vm := &kubevirtv1.VirtualMachine{
		TypeMeta: metav1.TypeMeta{APIVersion: kubevirtv1.SchemeGroupVersion.String(), Kind: "VirtualMachine"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        km.Name,
			Namespace:   p.Namespace,
			Labels:      copyMap(tmpl.ObjectMeta.Labels),
			Annotations: copyMap(tmpl.ObjectMeta.Annotations),
		},
		Spec: *tmpl.Spec.DeepCopy(),
	}
	labels := map[string]string{
		kubevirtv1.VirtualMachineLabel:        km.Name,
		vmNameLabel:                           km.Name,
		RoleLabel:                             Role(p.ControlPlane),
		clusterv1.ClusterNameLabel:            p.ClusterName,
		infrav1.KubevirtMachineNameLabel:      km.Name,
		infrav1.KubevirtMachineNamespaceLabel: km.Namespace,
	}
	for k, v := range labels {
		vm.Labels[k] = v
	}
	if vm.Spec.Template == nil {
		vm.Spec.Template = &kubevirtv1.VirtualMachineInstanceTemplateSpec{}
	}
	t := vm.Spec.Template
	if t.ObjectMeta.Labels == nil {
		t.ObjectMeta.Labels = map[string]string{}
	}
	// On the VMI, and so on its launcher pod, which the control-plane Service selects.
	for k, v := range labels {
		t.ObjectMeta.Labels[k] = v
	}
	if t.Spec.Hostname == "" {
		// The nested node is named after its machine, as CAPK's guests are.
		t.Spec.Hostname = km.Name
	}

	secret := &corev1.LocalObjectReference{Name: UserDataSecretName(p.BootstrapSecretName)}
	source := kubevirtv1.VolumeSource{CloudInitConfigDrive: &kubevirtv1.CloudInitConfigDriveSource{UserDataSecretRef: secret}}
	if NoCloudRequested(km) {
		source = kubevirtv1.VolumeSource{CloudInitNoCloud: &kubevirtv1.CloudInitNoCloudSource{UserDataSecretRef: secret}}
	}
	replaced := false
	for i := range t.Spec.Volumes {
		if t.Spec.Volumes[i].Name == CloudInitVolumeName {
			t.Spec.Volumes[i].VolumeSource = source
			replaced = true
		}
	}
	if !replaced {
		t.Spec.Volumes = append(t.Spec.Volumes, kubevirtv1.Volume{Name: CloudInitVolumeName, VolumeSource: source})
	}
	hasDisk := false
	for _, d := range t.Spec.Domain.Devices.Disks {
		if d.Name == CloudInitVolumeName {
			hasDisk = true
		}
	}
	if !hasDisk {
		t.Spec.Domain.Devices.Disks = append(t.Spec.Domain.Devices.Disks, kubevirtv1.Disk{
			Name:       CloudInitVolumeName,
			DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBusVirtio}},
		})
	}
	return vm
}

// IsReady reports whether the VMI's Ready condition is True.
func IsReady(vmi *kubevirtv1.VirtualMachineInstance) bool {
	if vmi == nil {
		return false
	}
	for _, c := range vmi.Status.Conditions {
		if c.Type == kubevirtv1.VirtualMachineInstanceReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// NotReadyReason explains why the VM is not ready yet, for the VMProvisioned condition.
func NotReadyReason(vm *kubevirtv1.VirtualMachine, vmi *kubevirtv1.VirtualMachineInstance) string {
	switch {
	case vmi == nil && vm.Status.PrintableStatus != "":
		return fmt.Sprintf("the VM is %s and has no VMI yet", vm.Status.PrintableStatus)
	case vmi == nil:
		return "the VM has no VMI yet"
	case vmi.Status.Phase != kubevirtv1.Running:
		return fmt.Sprintf("the VMI is %s", orUnknown(string(vmi.Status.Phase)))
	}
	for _, c := range vmi.Status.Conditions {
		if c.Type == kubevirtv1.VirtualMachineInstanceReady && c.Status != corev1.ConditionTrue {
			if c.Message != "" {
				return "the VMI is not ready: " + c.Message
			}
			return "the VMI is not ready (" + orUnknown(c.Reason) + ")"
		}
	}
	return "the VMI is not ready yet"
}

func orUnknown(s string) string {
	if s == "" {
		return "not reported yet"
	}
	return s
}

// Addresses are the machine's addresses: its name as host name and internal DNS name,
// and each IP of its VMI as internal and external IP, as CAPK reports them.
func Addresses(machineName string, vmi *kubevirtv1.VirtualMachineInstance) []clusterv1.MachineAddress {
	out := []clusterv1.MachineAddress{{Type: clusterv1.MachineHostName, Address: machineName}}
	seen := map[string]bool{}
	var ips []string
	if vmi != nil {
		for _, iface := range vmi.Status.Interfaces {
			all := append([]string{iface.IP}, iface.IPs...)
			for _, ip := range all {
				if ip == "" || seen[ip] || net.ParseIP(ip) == nil {
					continue
				}
				seen[ip] = true
				ips = append(ips, ip)
			}
		}
	}
	sort.SliceStable(ips, func(i, j int) bool { return net.ParseIP(ips[i]).To4() != nil && net.ParseIP(ips[j]).To4() == nil })
	for _, ip := range ips {
		out = append(out,
			clusterv1.MachineAddress{Type: clusterv1.MachineInternalIP, Address: ip},
			clusterv1.MachineAddress{Type: clusterv1.MachineExternalIP, Address: ip})
	}
	return append(out, clusterv1.MachineAddress{Type: clusterv1.MachineInternalDNS, Address: machineName})
}

// FirstIP is the VMI's first address, where an SSH check connects.
func FirstIP(vmi *kubevirtv1.VirtualMachineInstance) string {
	for _, a := range Addresses("", vmi) {
		if a.Type == clusterv1.MachineInternalIP {
			return a.Address
		}
	}
	return ""
}

// Stopped reports whether the VM was stopped behind the provider's back: its run
// strategy no longer runs it, or its guest ended for good. A machine's VM runs for the
// machine's whole life; a stopped one is reported, not silently restarted.
func Stopped(vm *kubevirtv1.VirtualMachine, vmi *kubevirtv1.VirtualMachineInstance) (bool, string) {
	switch s := vm.EffectiveRunStrategy(); s {
	case kubevirtv1.RunStrategyHalted:
		return true, "the VM's runStrategy was set to Halted (stopped)"
	case kubevirtv1.RunStrategyOnce, kubevirtv1.RunStrategyManual:
		if vmi != nil && vmi.Status.Phase.IsFinal() {
			return true, fmt.Sprintf("the VM's guest ended (%s) and runStrategy %s does not restart it", vmi.Status.Phase, s)
		}
	case kubevirtv1.RunStrategyRerunOnFailure:
		if vmi != nil && vmi.Status.Phase == kubevirtv1.Succeeded {
			return true, "the VM's guest shut down and runStrategy RerunOnFailure does not restart it"
		}
	}
	return false, ""
}

// EvacuationRequested reports the infrastructure node a drain asks the VMI to leave, when
// the VMI's eviction strategy is External: virt-api then refuses the eviction of its pod
// and marks the VMI with status.evacuationNodeName, leaving the move to the provider.
// clusterDefault is the infrastructure cluster's evictionStrategy (KubeVirt object), which
// applies when the VMI names none. Other strategies are KubeVirt's to carry out (a
// LiveMigrate VMI is marked the same way, for the migration that moves it), and a VMI
// already being deleted needs nothing more.
func EvacuationRequested(vmi *kubevirtv1.VirtualMachineInstance, clusterDefault *kubevirtv1.EvictionStrategy) (string, bool) {
	if vmi == nil || vmi.Status.EvacuationNodeName == "" || vmi.DeletionTimestamp != nil {
		return "", false
	}
	strategy := vmi.Spec.EvictionStrategy
	if strategy == nil {
		strategy = clusterDefault
	}
	if strategy == nil || *strategy != kubevirtv1.EvictionStrategyExternal {
		return "", false
	}
	return vmi.Status.EvacuationNodeName, true
}

// LiveMigratable is the VMI's LiveMigratable condition as the machine's VMLiveMigratable
// condition reports it (CAPK's): True, or False with the VMI's reason and message;
// known is false while the VMI reports none.
func LiveMigratable(vmi *kubevirtv1.VirtualMachineInstance) (migratable bool, reason, message string, known bool) {
	if vmi == nil {
		return false, "", "", false
	}
	for _, c := range vmi.Status.Conditions {
		if c.Type != kubevirtv1.VirtualMachineInstanceIsMigratable {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			return true, "", "", true
		}
		reason := c.Reason
		if reason == "" {
			reason = "NotLiveMigratable" // a condition's reason may not be empty
		}
		return false, reason, c.Message, true
	}
	return false, "", "", false
}

// Capacity is what one machine of the template offers the nested cluster, for
// autoscaling from zero: its vCPUs and guest memory.
func Capacity(spec *infrav1.KubevirtMachineSpec) corev1.ResourceList {
	t := spec.VirtualMachineTemplate.Spec.Template
	if t == nil {
		return nil
	}
	out := corev1.ResourceList{}
	d := &t.Spec.Domain
	if d.CPU != nil {
		cores, sockets, threads := max(d.CPU.Cores, 1), max(d.CPU.Sockets, 1), max(d.CPU.Threads, 1)
		out[corev1.ResourceCPU] = *resource.NewQuantity(int64(cores*sockets*threads), resource.DecimalSI)
	} else if q, ok := d.Resources.Limits[corev1.ResourceCPU]; ok {
		out[corev1.ResourceCPU] = q
	} else if q, ok := d.Resources.Requests[corev1.ResourceCPU]; ok {
		out[corev1.ResourceCPU] = q
	}
	if d.Memory != nil && d.Memory.Guest != nil {
		out[corev1.ResourceMemory] = *d.Memory.Guest
	} else if q, ok := d.Resources.Requests[corev1.ResourceMemory]; ok {
		out[corev1.ResourceMemory] = q
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func copyMap(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
