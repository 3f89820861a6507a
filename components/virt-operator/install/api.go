package install

import (
	"encoding/base64"
	"strconv"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	k8sv1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
	migrationsv1alpha1 "github.com/hypernest/hypernest/api/migrations/v1alpha1"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// APIObjects are virt-api's service account, RBAC, Deployment and Service, its
// APIService (subresources.kubevirt.io through the aggregation layer) and the webhook
// configurations; caBundle is the PEM CA that signed virt-api's certificate.
func APIObjects(cfg Config, caBundle []byte) []client.Object {
	labels := componentLabels(wiring.APIName)
	sa := &k8sv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: wiring.APIName, Namespace: cfg.Namespace, Labels: labels}}
	clusterRole := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "kubevirt.io:" + wiring.APIName, Labels: labels},
		Rules: []rbacv1.PolicyRule{
			// start/stop/restart queue requests on the VM and set a stop's grace period.
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachines"}, Verbs: []string{"get", "list", "watch", "patch"}},
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachines/status"}, Verbs: []string{"patch"}},
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachineinstances"}, Verbs: []string{"get", "list", "watch", "patch"}},
			// The eviction webhook marks a VMI whose pod a drain evicts (evacuationNodeName).
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachineinstances/status"}, Verbs: []string{"patch"}},
			// ... after reading the pod, to find its VMI.
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
			// The validating webhook allows one KubeVirt object in the cluster.
			{APIGroups: []string{v1.GroupName}, Resources: []string{"kubevirts"}, Verbs: []string{"get", "list", "watch"}},
			// The migration webhook refuses a second migration while one is in flight; the
			// migrate subresource creates migrations for the users its RBAC lets ask.
			{APIGroups: []string{v1.GroupName}, Resources: []string{"virtualmachineinstancemigrations"}, Verbs: []string{"list", "create"}},
			// The VM webhooks apply the instance types and preferences VMs name, from the
			// ControllerRevisions that pin them once captured.
			{APIGroups: []string{itv1.GroupName}, Resources: instancetypeResources, Verbs: []string{"get"}},
			// inferFromVolume reads the instance type and preference labels of a VM's claim.
			{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get"}},
			{APIGroups: []string{"apps"}, Resources: []string{"controllerrevisions"}, Verbs: []string{"get"}},
			// Every subresource call is checked against the caller's own RBAC.
			{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
		},
	}
	clusterBinding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: clusterRole.Name, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: wiring.APIName, Namespace: cfg.Namespace}},
	}
	// The front proxy's CA and header names, which authenticate aggregated requests, are
	// in kube-system's extension-apiserver-authentication ConfigMap; Kubernetes ships the
	// Role that reads it.
	authReader := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kubevirt.io:" + wiring.APIName + ":extension-apiserver-authentication-reader", Namespace: "kube-system", Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "extension-apiserver-authentication-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: wiring.APIName, Namespace: cfg.Namespace}},
	}
	// virt-handler pods are found by node in Hypernest's namespace only.
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "kubevirt.io:" + wiring.APIName, Namespace: cfg.Namespace, Labels: labels},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: cfg.Namespace, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: wiring.APIName, Namespace: cfg.Namespace}},
	}

	service := &k8sv1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: wiring.APIName, Namespace: cfg.Namespace, Labels: labels},
		Spec: k8sv1.ServiceSpec{
			Selector: map[string]string{v1.AppLabel: wiring.APIName},
			Ports:    []k8sv1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(wiring.APIPort)}},
		},
	}
	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: wiring.APIName, Namespace: cfg.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(cfg.replicas()),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{v1.AppLabel: wiring.APIName}},
			Template: k8sv1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels(labels)},
				Spec: k8sv1.PodSpec{
					ServiceAccountName: wiring.APIName,
					PriorityClassName:  "system-cluster-critical",
					SecurityContext:    restrictedPodSecurity(),
					Containers: []k8sv1.Container{{
						Name:            wiring.APIName,
						Image:           cfg.Image(wiring.APIName),
						ImagePullPolicy: cfg.ImagePullPolicy,
						Args: []string{
							"--cert-dir=" + wiring.APICertDir,
							"--handler-port=" + itoa(wiring.HandlerConsolePort),
							"--handler-server-name=" + wiring.HandlerServerName,
						},
						Env: []k8sv1.EnvVar{podNamespaceEnv()},
						// One port for the API and /metrics (KubeVirt declares 8443 twice,
						// and the API server warns of the duplicate).
						Ports:           []k8sv1.ContainerPort{metricsContainerPort()},
						SecurityContext: restrictedContainerSecurity(),
						Resources: k8sv1.ResourceRequirements{Requests: k8sv1.ResourceList{
							k8sv1.ResourceCPU: mustQuantity("5m"), k8sv1.ResourceMemory: mustQuantity("32Mi"),
						}},
						ReadinessProbe: &k8sv1.Probe{ProbeHandler: k8sv1.ProbeHandler{HTTPGet: &k8sv1.HTTPGetAction{
							Path: "/healthz", Port: intstr.FromInt32(wiring.APIPort), Scheme: k8sv1.URISchemeHTTPS,
						}}, PeriodSeconds: 2},
						VolumeMounts: []k8sv1.VolumeMount{{Name: "certificates", MountPath: wiring.APICertDir, ReadOnly: true}},
					}},
					Volumes: []k8sv1.Volume{{Name: "certificates", VolumeSource: k8sv1.VolumeSource{
						Secret: &k8sv1.SecretVolumeSource{SecretName: wiring.APICertSecretName},
					}}},
				},
			},
		},
	}

	apiService := APIServiceObject(cfg, caBundle)
	apiService.SetLabels(labels)

	webhookClient := func(path string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{
			Service:  &admissionregistrationv1.ServiceReference{Namespace: cfg.Namespace, Name: wiring.APIName, Path: ptr.To(path), Port: ptr.To[int32](443)},
			CABundle: caBundle,
		}
	}
	rule := func(resource string, ops ...admissionregistrationv1.OperationType) []admissionregistrationv1.RuleWithOperations {
		return []admissionregistrationv1.RuleWithOperations{{
			Operations: ops,
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{v1.GroupName}, APIVersions: []string{"v1"}, Resources: []string{resource},
				Scope: ptr.To(admissionregistrationv1.NamespacedScope),
			},
		}}
	}
	create, update := admissionregistrationv1.Create, admissionregistrationv1.Update
	// Fail closed: an object that skipped validation could reach a node.
	fail := ptr.To(admissionregistrationv1.Fail)
	none := ptr.To(admissionregistrationv1.SideEffectClassNone)
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "virt-api-mutator", Labels: labels},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			{Name: "virtualmachineinstances-mutator.kubevirt.io", ClientConfig: webhookClient(wiring.MutateVMIPath), Rules: rule("virtualmachineinstances", create),
				FailurePolicy: fail, SideEffects: none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](10)},
			{Name: "virtualmachines-mutator.kubevirt.io", ClientConfig: webhookClient(wiring.MutateVMPath), Rules: rule("virtualmachines", create, update),
				FailurePolicy: fail, SideEffects: none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](10)},
			{Name: "migrations-mutator.kubevirt.io", ClientConfig: webhookClient(wiring.MutateMigrationPath), Rules: rule("virtualmachineinstancemigrations", create),
				FailurePolicy: fail, SideEffects: none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](10)},
		},
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "virt-api-validator", Labels: labels},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{Name: "virtualmachineinstances-validator.kubevirt.io", ClientConfig: webhookClient(wiring.ValidateVMIPath), Rules: rule("virtualmachineinstances", create, update),
				FailurePolicy: fail, SideEffects: none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](10)},
			{Name: "virtualmachines-validator.kubevirt.io", ClientConfig: webhookClient(wiring.ValidateVMPath), Rules: rule("virtualmachines", create, update),
				FailurePolicy: fail, SideEffects: none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](10)},
			{Name: "virtualmachineinstancereplicasets-validator.kubevirt.io", ClientConfig: webhookClient(wiring.ValidateReplicaSetPath), Rules: rule("virtualmachineinstancereplicasets", create, update),
				FailurePolicy: fail, SideEffects: none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](10)},
			{Name: "virtualmachinepools-validator.pool.kubevirt.io", ClientConfig: webhookClient(wiring.ValidatePoolPath),
				Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{create, update}, Rule: admissionregistrationv1.Rule{
					APIGroups: []string{"pool.kubevirt.io"}, APIVersions: []string{"*"}, Resources: []string{"virtualmachinepools"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope)}}},
				FailurePolicy: fail, SideEffects: none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](10)},
			{Name: "migration-validator.kubevirt.io", ClientConfig: webhookClient(wiring.ValidateMigrationPath), Rules: rule("virtualmachineinstancemigrations", create, update),
				FailurePolicy: fail, SideEffects: none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](10)},
			// Evictions of virt-launcher pods (KubeVirt's name, path and match): fail
			// closed, so a drain never kills a guest its strategy protects; the match
			// keeps every other pod's eviction away from virt-api.
			{Name: "virt-launcher-eviction-interceptor.kubevirt.io", ClientConfig: webhookClient(wiring.ValidateEvictionPath),
				Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods/eviction"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope)}}},
				MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "virt-launcher-pods", Expression: `object.metadata.name.startsWith("virt-launcher")`}},
				FailurePolicy:   fail, SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNoneOnDryRun), AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](10)},
			{Name: "kubevirts-validator.kubevirt.io", ClientConfig: webhookClient(wiring.ValidateKubeVirts), Rules: rule("kubevirts", create, update),
				FailurePolicy: fail, SideEffects: none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](10)},
			{Name: "migration-policy-validator.kubevirt.io", ClientConfig: webhookClient(wiring.ValidateMigrationPolicyPath),
				Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{create, update}, Rule: admissionregistrationv1.Rule{
					APIGroups: []string{migrationsv1alpha1.GroupName}, APIVersions: []string{"*"}, Resources: []string{"migrationpolicies"}, Scope: ptr.To(admissionregistrationv1.ClusterScope)}}},
				FailurePolicy: fail, SideEffects: none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](10)},
			{Name: "virtualmachineinstancetypes-validator.instancetype.kubevirt.io", ClientConfig: webhookClient(wiring.ValidateInstancetypePath),
				Rules:         instancetypeRule(create, update, "virtualmachineinstancetypes", "virtualmachineclusterinstancetypes"),
				FailurePolicy: fail, SideEffects: none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](10)},
			{Name: "virtualmachinepreferences-validator.instancetype.kubevirt.io", ClientConfig: webhookClient(wiring.ValidatePreferencePath),
				Rules:         instancetypeRule(create, update, "virtualmachinepreferences", "virtualmachineclusterpreferences"),
				FailurePolicy: fail, SideEffects: none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](10)},
		},
	}
	return []client.Object{sa, clusterRole, clusterBinding, authReader, role, binding, service, deployment, apiService, mutating, validating}
}

// instancetypeRule matches the instancetype.kubevirt.io resources, namespaced and
// cluster-wide.
func instancetypeRule(create, update admissionregistrationv1.OperationType, resources ...string) []admissionregistrationv1.RuleWithOperations {
	return []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{create, update},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{itv1.GroupName}, APIVersions: []string{"*"}, Resources: resources,
			Scope: ptr.To(admissionregistrationv1.AllScopes),
		},
	}}
}

// UserRoles are KubeVirt's kubevirt.io:admin, :edit and :view ClusterRoles. They
// aggregate into Kubernetes' admin, edit and view roles, so whoever may edit pods in a
// namespace may also run VMs and open their consoles there, and nobody else.
func UserRoles() []client.Object {
	labels := componentLabels("virt-operator")
	subresources := []string{"virtualmachines/start", "virtualmachines/stop", "virtualmachines/restart", "virtualmachines/migrate",
		"virtualmachineinstances/pause", "virtualmachineinstances/unpause", "virtualmachineinstances/console", "virtualmachineinstances/vnc",
		"virtualmachineinstances/guestosinfo", "virtualmachineinstances/bootstrapstatus",
		"virtualmachineinstances/portforward", "virtualmachines/portforward",
		// evacuate/cancel is two segments deep: the API server authorises the call it
		// forwards by the first ("virtualmachines/evacuate"), virt-api by the whole name
		// (KubeVirt's rule, which its roles grant alone).
		"virtualmachines/evacuate", "virtualmachineinstances/evacuate",
		"virtualmachines/evacuate/cancel", "virtualmachineinstances/evacuate/cancel"}
	// What the guest agent tells about a guest is readable by whoever may read the VMI, as
	// in KubeVirt's view role.
	readSubresources := []string{"virtualmachineinstances/guestosinfo", "virtualmachineinstances/bootstrapstatus"}
	kinds := []string{"virtualmachines", "virtualmachineinstances", "virtualmachineinstancereplicasets", "virtualmachinepools", "virtualmachineinstancemigrations"}
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	read := []string{"get", "list", "watch"}
	role := func(name, aggregate string, rules []rbacv1.PolicyRule) client.Object {
		l := map[string]string{}
		for k, val := range labels {
			l[k] = val
		}
		l["rbac.authorization.k8s.io/aggregate-to-"+aggregate] = "true"
		return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}, Rules: rules}
	}
	namespacedInstancetypes := []string{"virtualmachineinstancetypes", "virtualmachinepreferences"}
	editRules := []rbacv1.PolicyRule{
		{APIGroups: []string{subresourcesv1.GroupName}, Resources: subresources, Verbs: []string{"get", "update"}},
		{APIGroups: []string{v1.GroupName}, Resources: kinds, Verbs: all},
		{APIGroups: []string{"pool.kubevirt.io"}, Resources: []string{"virtualmachinepools"}, Verbs: all},
		{APIGroups: []string{itv1.GroupName}, Resources: namespacedInstancetypes, Verbs: all},
		{APIGroups: []string{v1.GroupName}, Resources: []string{"kubevirts"}, Verbs: read},
	}
	return []client.Object{
		role("kubevirt.io:admin", "admin", editRules),
		role("kubevirt.io:edit", "edit", editRules),
		role("kubevirt.io:view", "view", []rbacv1.PolicyRule{
			{APIGroups: []string{v1.GroupName}, Resources: append(kinds, "kubevirts"), Verbs: read},
			{APIGroups: []string{"pool.kubevirt.io"}, Resources: []string{"virtualmachinepools"}, Verbs: read},
			{APIGroups: []string{itv1.GroupName}, Resources: namespacedInstancetypes, Verbs: read},
			{APIGroups: []string{subresourcesv1.GroupName}, Resources: readSubresources, Verbs: []string{"get"}},
		}),
		// Cluster instance types and preferences are a catalogue every user may read, as
		// in KubeVirt (instancetype.kubevirt.io:view, bound to system:authenticated).
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "instancetype.kubevirt.io:view", Labels: labels}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{itv1.GroupName}, Resources: []string{"virtualmachineclusterinstancetypes", "virtualmachineclusterpreferences"}, Verbs: read},
		}},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "instancetype.kubevirt.io:view", Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "instancetype.kubevirt.io:view"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:authenticated"}},
		},
	}
}

// instancetypeResources are the four instancetype.kubevirt.io resources.
var instancetypeResources = []string{"virtualmachineinstancetypes", "virtualmachineclusterinstancetypes", "virtualmachinepreferences", "virtualmachineclusterpreferences"}

// APIServiceGVK is the kind of the subresource API's registration.
var APIServiceGVK = schema.GroupVersionKind{Group: "apiregistration.k8s.io", Version: "v1", Kind: "APIService"}

// APIServiceObject registers subresources.kubevirt.io/v1 with the aggregation layer. It
// is unstructured: the typed APIService would pull in kube-aggregator and with it most of
// k8s.io/apiserver, for one object.
func APIServiceObject(cfg Config, caBundle []byte) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": APIServiceGVK.GroupVersion().String(),
		"kind":       APIServiceGVK.Kind,
		"metadata":   map[string]any{"name": subresourcesv1.SchemeGroupVersion.Version + "." + subresourcesv1.GroupName},
		"spec": map[string]any{
			"service":              map[string]any{"namespace": cfg.Namespace, "name": wiring.APIName, "port": int64(443)},
			"group":                subresourcesv1.GroupName,
			"version":              subresourcesv1.SchemeGroupVersion.Version,
			"caBundle":             base64.StdEncoding.EncodeToString(caBundle),
			"groupPriorityMinimum": int64(1000),
			"versionPriority":      int64(15),
		},
	}}
	return u
}

func itoa(i int) string { return strconv.Itoa(i) }
