package install

import (
	appsv1 "k8s.io/api/apps/v1"
	k8sv1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
	migrationsv1alpha1 "github.com/hypernest/hypernest/api/migrations/v1alpha1"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// ControllerName names virt-controller's Deployment, service account and RBAC objects.
const ControllerName = "virt-controller"

// LauncherName is virt-launcher's image name.
const LauncherName = "virt-launcher"

// ControllerObjects are virt-controller's service account, least-privilege RBAC (cluster
// wide for VMs, VMIs and launcher pods; its own namespace for the leader lease) and its
// Deployment.
func ControllerObjects(cfg Config) []client.Object {
	labels := componentLabels(ControllerName)
	sa := &k8sv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ControllerName, Namespace: cfg.Namespace, Labels: labels}}
	clusterRole := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "kubevirt.io:" + ControllerName, Labels: labels},
		Rules: []rbacv1.PolicyRule{
			// VMs: create and delete only for pools.
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachines"}, Verbs: []string{"get", "list", "watch", "create", "delete", "patch", "update"}},
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachines/status", "virtualmachines/finalizers"}, Verbs: []string{"patch", "update"}},
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachineinstances"}, Verbs: []string{"get", "list", "watch", "create", "delete", "patch", "update"}},
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachineinstances/status", "virtualmachineinstances/finalizers"}, Verbs: []string{"patch", "update"}},
			// Migrations: read, created to evacuate a node being drained, their finalizer
			// and status written, the oldest final ones deleted (a VMI keeps its five newest).
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachineinstancemigrations"}, Verbs: []string{"get", "list", "watch", "create", "delete", "patch", "update"}},
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachineinstancemigrations/status", "virtualmachineinstancemigrations/finalizers"}, Verbs: []string{"patch", "update"}},
			// A migration runs with the MigrationPolicy that selects its VMI, by the VMI's
			// and its namespace's labels.
			{APIGroups: []string{migrationsv1alpha1.GroupName}, Resources: []string{"migrationpolicies"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}},
			// Replica sets are only read; their status written; their finalizers
			// subresource lets their VMIs' owner references block the set's deletion.
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachineinstancereplicasets"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachineinstancereplicasets/status", "virtualmachineinstancereplicasets/finalizers"}, Verbs: []string{"patch", "update"}},
			// Pools, as replica sets; the ControllerRevisions hold the pool specs their VMs
			// were made from.
			{APIGroups: []string{"pool.kubevirt.io"}, Resources: []string{"virtualmachinepools"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"pool.kubevirt.io"}, Resources: []string{"virtualmachinepools/status", "virtualmachinepools/finalizers"}, Verbs: []string{"patch", "update"}},
			// Instance types and preferences VMs name are captured in ControllerRevisions.
			{APIGroups: []string{"apps"}, Resources: []string{"controllerrevisions"}, Verbs: []string{"get", "list", "watch", "create", "delete"}},
			{APIGroups: []string{itv1.GroupName}, Resources: instancetypeResources, Verbs: []string{"get", "list", "watch"}},
			// Launcher pods only in practice; RBAC cannot narrow pods by label.
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch", "create", "delete"}},
			// Nodes: the node controller reads the handlers' heartbeats and labels a node
			// whose handler is gone unschedulable for VMIs.
			{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch", "patch"}},
			// Claims are only read: a VMI waits for the ones it names, and their volume
			// mode and size shape the launcher pod.
			{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}},
			{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}},
			// The virt-handlers' certificate signer: it approves (or denies) and signs
			// requests for wiring.HandlerSignerName, and no other signer's.
			{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests/approval", "certificatesigningrequests/status"}, Verbs: []string{"update"}},
			{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"}, Verbs: []string{"approve", "sign"}, ResourceNames: []string{wiring.HandlerSignerName}},
		},
	}
	clusterBinding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: clusterRole.Name, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ControllerName, Namespace: cfg.Namespace}},
	}
	role, binding := leaderElectionRBAC(cfg, ControllerName, labels)

	args := []string{
		"--launcher-image=" + cfg.Image(LauncherName),
		"--image-pull-policy=" + string(cfg.ImagePullPolicy),
	}
	if cfg.UseEmulation {
		args = append(args, "--use-emulation")
	}
	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: ControllerName, Namespace: cfg.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			// KubeVirt runs two: one leads, the other takes over within a lease duration.
			Replicas: ptr.To(cfg.replicas()),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{v1.AppLabel: ControllerName}},
			Template: k8sv1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels(labels)},
				Spec: k8sv1.PodSpec{
					ServiceAccountName: ControllerName,
					PriorityClassName:  "system-cluster-critical",
					SecurityContext:    restrictedPodSecurity(),
					Containers: []k8sv1.Container{{
						Name:            ControllerName,
						Image:           cfg.Image(ControllerName),
						ImagePullPolicy: cfg.ImagePullPolicy,
						Args:            args,
						Env:             []k8sv1.EnvVar{podNamespaceEnv()},
						Ports:           []k8sv1.ContainerPort{metricsContainerPort()},
						SecurityContext: restrictedContainerSecurity(),
						Resources: k8sv1.ResourceRequirements{Requests: k8sv1.ResourceList{
							k8sv1.ResourceCPU: mustQuantity("10m"), k8sv1.ResourceMemory: mustQuantity("64Mi"),
						}},
						ReadinessProbe: &k8sv1.Probe{ProbeHandler: k8sv1.ProbeHandler{HTTPGet: &k8sv1.HTTPGetAction{Path: "/readyz", Port: intstrFromInt(8080)}}},
						LivenessProbe:  &k8sv1.Probe{ProbeHandler: k8sv1.ProbeHandler{HTTPGet: &k8sv1.HTTPGetAction{Path: "/healthz", Port: intstrFromInt(8080)}}, InitialDelaySeconds: 15},
						// The CA, to sign each virt-handler's certificate (handlercerts):
						// mounted, so virt-controller needs no right to read Secrets.
						VolumeMounts: []k8sv1.VolumeMount{{Name: "ca", MountPath: wiring.ControllerCADir, ReadOnly: true}},
					}},
					Volumes: []k8sv1.Volume{{Name: "ca", VolumeSource: k8sv1.VolumeSource{Secret: &k8sv1.SecretVolumeSource{SecretName: wiring.CASecretName}}}},
				},
			},
		},
	}
	return []client.Object{sa, clusterRole, clusterBinding, role, binding, deployment}
}

// leaderElectionRBAC lets a component hold its lease in its own namespace, nothing more.
func leaderElectionRBAC(cfg Config, name string, labels map[string]string) (*rbacv1.Role, *rbacv1.RoleBinding) {
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "kubevirt.io:" + name, Namespace: cfg.Namespace, Labels: labels},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
			configReaderRule,
		},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: cfg.Namespace, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: cfg.Namespace}},
	}
	return role, binding
}

// configReaderRule lets a component read the KubeVirt object of its namespace, whose
// spec.configuration it follows live.
var configReaderRule = rbacv1.PolicyRule{APIGroups: []string{v1.GroupName}, Resources: []string{"kubevirts"}, Verbs: []string{"get", "list", "watch"}}

// configReaderRBAC is a Role with configReaderRule alone, for components that hold no
// other namespaced rights.
func configReaderRBAC(cfg Config, name string, labels map[string]string) (*rbacv1.Role, *rbacv1.RoleBinding) {
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "kubevirt.io:" + name + ":config-reader", Namespace: cfg.Namespace, Labels: labels},
		Rules:      []rbacv1.PolicyRule{configReaderRule},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: cfg.Namespace, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: cfg.Namespace}},
	}
	return role, binding
}

// replicas of virt-api and virt-controller: KubeVirt's two, or one on a single-node
// cluster where a second replica buys nothing but memory.
func (c Config) replicas() int32 {
	if c.SingleReplica {
		return 1
	}
	return 2
}

func podNamespaceEnv() k8sv1.EnvVar {
	return k8sv1.EnvVar{Name: "POD_NAMESPACE", ValueFrom: &k8sv1.EnvVarSource{FieldRef: &k8sv1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}
}

// restrictedPodSecurity and restrictedContainerSecurity meet the "restricted" Pod
// Security Standard: every Hypernest pod but virt-handler runs this way.
func restrictedPodSecurity() *k8sv1.PodSecurityContext {
	return &k8sv1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &k8sv1.SeccompProfile{Type: k8sv1.SeccompProfileTypeRuntimeDefault}}
}

func restrictedContainerSecurity() *k8sv1.SecurityContext {
	return &k8sv1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &k8sv1.Capabilities{Drop: []k8sv1.Capability{"ALL"}},
		RunAsNonRoot:             ptr.To(true),
	}
}
