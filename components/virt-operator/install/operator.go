package install

import (
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	k8sv1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// OperatorName names virt-operator's Deployment, service account and RBAC objects.
const OperatorName = "virt-operator"

// KubeVirtName is the KubeVirt object's name in the release manifests.
const KubeVirtName = "kubevirt"

// KubeVirtCRDName is the KubeVirt CRD, which ships with the operator's manifest and stays
// when an installation is removed (the operator's own object needs it).
const KubeVirtCRDName = "kubevirts.kubevirt.io"

// OperatorObjects are what `kubectl apply -f hypernest-operator.yaml` creates: the
// namespace, virt-operator's service account, RBAC and Deployment. Everything else comes
// from virt-operator.
func OperatorObjects(cfg Config) []client.Object {
	labels := map[string]string{v1.AppLabel: OperatorName}
	ns := &k8sv1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace, Labels: map[string]string{v1.AppLabel: ""}},
	}
	sa := &k8sv1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: OperatorName, Namespace: cfg.Namespace, Labels: labels},
	}
	crud := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	clusterRole := &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: "kubevirt.io:" + OperatorName, Labels: labels},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{v1.GroupName}, Resources: []string{"kubevirts"}, Verbs: []string{"get", "list", "watch", "patch", "update"}},
			{APIGroups: []string{v1.GroupName}, Resources: []string{"kubevirts/status", "kubevirts/finalizers"}, Verbs: []string{"patch", "update"}},
			// Uninstalling with RemoveWorkloads deletes VMs and VMIs; otherwise they are
			// only counted.
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachines", "virtualmachineinstances"}, Verbs: []string{"get", "list", "watch", "delete"}},
			// What it installs.
			{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: crud},
			{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"}, Verbs: crud},
			{APIGroups: []string{"apiregistration.k8s.io"}, Resources: []string{"apiservices"}, Verbs: crud},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments", "daemonsets"}, Verbs: crud},
			{APIGroups: []string{""}, Resources: []string{"serviceaccounts", "services"}, Verbs: crud},
			// Secrets only in its own namespace (the Role below): it never reads another's.
			{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles", "clusterrolebindings", "roles", "rolebindings"}, Verbs: crud},
			// The components' roles grant rights virt-operator itself does not use:
			// escalate lets it write those roles without holding every right, and bind
			// lets it bind them. Both are limited by name: escalate to the roles it
			// writes (with server-side apply, whose requests name the role, so the API
			// server checks the name), bind to those and the built-in roles its bindings
			// name. It cannot grant anyone more through any other role.
			{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles", "roles"}, Verbs: []string{"escalate"}, ResourceNames: WrittenRoleNames(cfg)},
			{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles", "roles"}, Verbs: []string{"bind"}, ResourceNames: ShippedRoleNames(cfg)},
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}},
			// Counted, to run one replica of virt-api and virt-controller on one node.
			{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}},
			{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}},
		},
	}
	binding := &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: clusterRole.Name, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: OperatorName, Namespace: cfg.Namespace}},
	}
	// Its certificates and the components' live in its namespace, and nowhere else.
	role := &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Name: "kubevirt.io:" + OperatorName, Namespace: cfg.Namespace, Labels: labels},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: crud},
		},
	}
	roleBinding := &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: cfg.Namespace, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: OperatorName, Namespace: cfg.Namespace}},
	}
	deployment := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: OperatorName, Namespace: cfg.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: k8sv1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels(labels)},
				Spec: k8sv1.PodSpec{
					ServiceAccountName: OperatorName,
					PriorityClassName:  "system-cluster-critical",
					SecurityContext:    restrictedPodSecurity(),
					Containers: []k8sv1.Container{{
						Name:            OperatorName,
						Image:           cfg.Image(OperatorName),
						ImagePullPolicy: cfg.ImagePullPolicy,
						// The components' images default to the operator's own registry and
						// tag; the KubeVirt object may override them.
						Args:  []string{"--image-registry=" + cfg.ImageRegistry, "--image-tag=" + cfg.ImageTag},
						Env:   []k8sv1.EnvVar{podNamespaceEnv()},
						Ports: []k8sv1.ContainerPort{metricsContainerPort()},
						Resources: k8sv1.ResourceRequirements{Requests: k8sv1.ResourceList{
							k8sv1.ResourceCPU: mustQuantity("10m"), k8sv1.ResourceMemory: mustQuantity("64Mi"),
						}},
						SecurityContext: restrictedContainerSecurity(),
						ReadinessProbe:  &k8sv1.Probe{ProbeHandler: k8sv1.ProbeHandler{HTTPGet: &k8sv1.HTTPGetAction{Path: "/readyz", Port: intstrFromInt(8080)}}},
					}},
				},
			},
		},
	}
	return []client.Object{ns, sa, clusterRole, binding, role, roleBinding, deployment}
}

// ShippedRoleNames are the roles an installation makes or binds (its own ClusterRoles and
// Roles, and the built-in ones its bindings name), sorted: the only roles virt-operator
// may bind.
func ShippedRoleNames(cfg Config) []string {
	names := map[string]bool{}
	for _, obj := range Objects(cfg, nil) {
		switch o := obj.(type) {
		case *rbacv1.ClusterRole, *rbacv1.Role:
			names[o.GetName()] = true
		case *rbacv1.ClusterRoleBinding:
			names[o.RoleRef.Name] = true
		case *rbacv1.RoleBinding:
			names[o.RoleRef.Name] = true
		}
	}
	return slices.Sorted(maps.Keys(names))
}

// WrittenRoleNames are the ClusterRoles and Roles an installation writes, sorted: the
// only roles virt-operator may escalate.
func WrittenRoleNames(cfg Config) []string {
	var names []string
	for _, obj := range Objects(cfg, nil) {
		switch obj.(type) {
		case *rbacv1.ClusterRole, *rbacv1.Role:
			names = append(names, obj.GetName())
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// KubeVirtObject is the KubeVirt object of the release manifests.
func KubeVirtObject(cfg Config) *v1.KubeVirt {
	kv := &v1.KubeVirt{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.SchemeGroupVersion.String(), Kind: "KubeVirt"},
		ObjectMeta: metav1.ObjectMeta{Name: KubeVirtName, Namespace: cfg.Namespace},
		Spec: v1.KubeVirtSpec{
			ImagePullPolicy: cfg.ImagePullPolicy,
			Configuration:   v1.KubeVirtConfiguration{DeveloperConfiguration: &v1.DeveloperConfiguration{UseEmulation: cfg.UseEmulation}},
		},
	}
	return kv
}
