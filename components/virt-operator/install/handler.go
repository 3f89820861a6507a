// Package install renders the objects of a Hypernest installation. virt-operator applies
// them from the KubeVirt CR; tests that need one component apply it the same way.
package install

import (
	appsv1 "k8s.io/api/apps/v1"
	k8sv1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// Config is what every component's objects depend on.
type Config struct {
	Namespace       string
	ImageRegistry   string // e.g. localhost/hypernest
	ImageTag        string // e.g. devel
	ImagePullPolicy k8sv1.PullPolicy
	UseEmulation    bool
	// SingleReplica runs one virt-api and one virt-controller instead of two.
	SingleReplica bool
}

// Image is a component's image reference.
func (c Config) Image(component string) string {
	return c.ImageRegistry + "/" + component + ":" + c.ImageTag
}

func componentLabels(name string) map[string]string {
	return map[string]string{v1.AppLabel: name, v1.ManagedByLabel: v1.ManagedByLabelOperatorValue}
}

// HandlerObjects are virt-handler's service account, least-privilege RBAC and DaemonSet.
func HandlerObjects(cfg Config) (*k8sv1.ServiceAccount, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding, *appsv1.DaemonSet) {
	labels := componentLabels(wiring.HandlerName)
	sa := &k8sv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: wiring.HandlerName, Namespace: cfg.Namespace, Labels: labels}}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "kubevirt.io:" + wiring.HandlerName, Labels: labels},
		Rules: []rbacv1.PolicyRule{
			// Its node's VMIs: read them, write their status; patch: a VMI that migrated
			// to its node is labelled with the node's name.
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachineinstances"}, Verbs: []string{"get", "list", "watch", "patch"}},
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachineinstances/status"}, Verbs: []string{"get", "patch", "update"}},
			// Launcher pods, to find their sockets and network namespaces.
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
			// The heartbeat labels and annotates its node.
			{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}},
			{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}},
			// Its own certificate, asked for and fetched (client-go's certificate
			// manager watches the request it made). A request names its node; only
			// virt-operator signs, and only for the node the requester's token is bound to.
			{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}, Verbs: []string{"create", "get", "list", "watch"}},
		},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kubevirt.io:" + wiring.HandlerName, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: wiring.HandlerName, Namespace: cfg.Namespace}},
	}

	hostPath := func(name, path string, kind k8sv1.HostPathType) k8sv1.Volume {
		return k8sv1.Volume{Name: name, VolumeSource: k8sv1.VolumeSource{HostPath: &k8sv1.HostPathVolumeSource{Path: path, Type: &kind}}}
	}
	args := []string{"--launcher-image=" + cfg.Image(LauncherName)}
	if cfg.UseEmulation {
		args = append(args, "--use-emulation")
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: wiring.HandlerName, Namespace: cfg.Namespace, Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{v1.AppLabel: wiring.HandlerName}},
			Template: k8sv1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels(labels)},
				Spec: k8sv1.PodSpec{
					ServiceAccountName: wiring.HandlerName,
					// The node's PID namespace: launchers' processes (and so their network
					// namespaces) are found by the PIDs their sockets report.
					HostPID:           true,
					PriorityClassName: "system-node-critical",
					Tolerations:       []k8sv1.Toleration{{Operator: k8sv1.TolerationOpExists}},
					// libvirt's QEMU capabilities, probed once per node by the launcher
					// image itself, as its user and under its seccomp profile, in a
					// container no guest ever ran in; virt-handler seeds every launcher's
					// libvirt with them, so no launcher under emulation probes QEMU again
					// (see components/virt-handler/qemucaps; the container has no /dev/kvm,
					// so on KVM nodes launchers still probe). A failed probe exits 0:
					// launchers then probe, as before.
					InitContainers: []k8sv1.Container{{
						Name:            "qemu-capabilities",
						Image:           cfg.Image(LauncherName),
						ImagePullPolicy: cfg.ImagePullPolicy,
						Args:            []string{"--probe-qemu-capabilities=" + wiring.QEMUCapabilitiesDir},
						SecurityContext: &k8sv1.SecurityContext{
							RunAsUser:                ptr.To[int64](launcherv1.LauncherUID),
							RunAsGroup:               ptr.To[int64](launcherv1.LauncherUID),
							RunAsNonRoot:             ptr.To(true),
							AllowPrivilegeEscalation: ptr.To(false),
							Capabilities:             &k8sv1.Capabilities{Drop: []k8sv1.Capability{"ALL"}},
							SeccompProfile:           &k8sv1.SeccompProfile{Type: k8sv1.SeccompProfileTypeRuntimeDefault},
						},
						Resources: k8sv1.ResourceRequirements{Requests: k8sv1.ResourceList{
							k8sv1.ResourceCPU: mustQuantity("10m"), k8sv1.ResourceMemory: mustQuantity("64Mi"),
						}},
						VolumeMounts: []k8sv1.VolumeMount{{Name: "qemu-capabilities", MountPath: wiring.QEMUCapabilitiesDir}},
					}},
					Containers: []k8sv1.Container{{
						Name:            wiring.HandlerName,
						Image:           cfg.Image(wiring.HandlerName),
						ImagePullPolicy: cfg.ImagePullPolicy,
						Args:            args,
						Env: []k8sv1.EnvVar{{Name: "NODE_NAME", ValueFrom: &k8sv1.EnvVarSource{
							FieldRef: &k8sv1.ObjectFieldSelector{FieldPath: "spec.nodeName"},
						}}, {Name: "POD_IP", ValueFrom: &k8sv1.EnvVarSource{
							// The target node's handler of a live migration listens there.
							FieldRef: &k8sv1.ObjectFieldSelector{FieldPath: "status.podIP"},
						}}, podNamespaceEnv()},
						// Privileged: it wires taps, bridges and NAT in other pods' network
						// namespaces and serves device plugins. Nothing else of Hypernest is.
						SecurityContext: &k8sv1.SecurityContext{Privileged: ptr.To(true)},
						Resources: k8sv1.ResourceRequirements{Requests: k8sv1.ResourceList{
							k8sv1.ResourceCPU: mustQuantity("10m"), k8sv1.ResourceMemory: mustQuantity("64Mi"),
						}},
						Ports:          []k8sv1.ContainerPort{{Name: "console", ContainerPort: wiring.HandlerConsolePort}, metricsContainerPort()},
						ReadinessProbe: &k8sv1.Probe{ProbeHandler: k8sv1.ProbeHandler{HTTPGet: &k8sv1.HTTPGetAction{Path: "/readyz", Port: intstrFromInt(8080)}}},
						VolumeMounts: []k8sv1.VolumeMount{
							{Name: "ca", MountPath: wiring.HandlerCADir, ReadOnly: true},
							{Name: "kubelet-pods", MountPath: launcherv1.KubeletPodsDir, MountPropagation: ptr.To(k8sv1.MountPropagationHostToContainer)},
							{Name: "device-plugins", MountPath: "/var/lib/kubelet/device-plugins"},
							{Name: "qemu-capabilities", MountPath: wiring.QEMUCapabilitiesDir, ReadOnly: true},
						},
					}},
					Volumes: []k8sv1.Volume{
						{Name: "ca", VolumeSource: k8sv1.VolumeSource{Secret: &k8sv1.SecretVolumeSource{SecretName: wiring.HandlerCASecretName}}},
						hostPath("kubelet-pods", launcherv1.KubeletPodsDir, k8sv1.HostPathDirectory),
						hostPath("device-plugins", "/var/lib/kubelet/device-plugins", k8sv1.HostPathDirectory),
						{Name: "qemu-capabilities", VolumeSource: k8sv1.VolumeSource{EmptyDir: &k8sv1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
	return sa, role, binding, ds
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

func intstrFromInt(i int) intstr.IntOrString { return intstr.FromInt32(int32(i)) }
