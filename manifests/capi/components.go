// Package capi holds Hypernest's Cluster API provider as clusterctl installs it: the
// generated CRDs (crds/, make generate), the objects of infrastructure-components.yaml
// (built here, written by make manifests), metadata.yaml and the cluster templates.
package capi

import (
	"embed"
	"fmt"
	"io/fs"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

//go:embed crds/*.yaml
var crdFiles embed.FS

// Names of the installed objects; CAPK's, so its documentation applies.
const (
	Namespace          = "capk-system"
	ProviderLabelValue = "infrastructure-kubevirt"
	managerName        = "capk-controller-manager"
	serviceAccountName = "capk-manager"
	webhookService     = "capk-webhook-service"
	servingCertName    = "capk-serving-cert"
	servingCertSecret  = "capk-webhook-service-cert"
	issuerName         = "capk-selfsigned-issuer"
	// Image is the manager's image, a literal as in every provider's components: clusterctl
	// parses it (for its images: overrides, which is how a user points it elsewhere).
	Image = "localhost/hypernest/capk-manager:devel"
)

// CRDs returns the provider's CRDs.
func CRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	names, err := fs.Glob(crdFiles, "crds/*.yaml")
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, name := range names {
		data, err := crdFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		crd.TypeMeta = metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"}
		out = append(out, crd)
	}
	return out, nil
}

func labels() map[string]string {
	return map[string]string{"cluster.x-k8s.io/provider": ProviderLabelValue}
}

func meta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels()}
}

// ManagerRules are the provider's cluster-wide rights: its own kinds, reading Cluster API's
// Clusters and Machines, the bootstrap Secrets it copies and the Services it fronts the
// control planes with, the VMs it makes and the VMIs it moves off drained nodes.
func ManagerRules() []rbacv1.PolicyRule {
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	read := []string{"get", "list", "watch"}
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"infrastructure.cluster.x-k8s.io"}, Resources: []string{"kubevirtclusters", "kubevirtmachines", "kubevirtmachinetemplates", "kubevirtclustertemplates"}, Verbs: []string{"get", "list", "watch", "update", "patch"}},
		{APIGroups: []string{"infrastructure.cluster.x-k8s.io"}, Resources: []string{"kubevirtclusters/status", "kubevirtmachines/status", "kubevirtmachinetemplates/status"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{"infrastructure.cluster.x-k8s.io"}, Resources: []string{"kubevirtclusters/finalizers", "kubevirtmachines/finalizers"}, Verbs: []string{"update"}},
		{APIGroups: []string{"cluster.x-k8s.io"}, Resources: []string{"clusters", "machines"}, Verbs: read},
		{APIGroups: []string{""}, Resources: []string{"secrets", "services"}, Verbs: all},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"kubevirt.io"}, Resources: []string{"virtualmachines"}, Verbs: all},
		// A VMI is deleted to move it off a drained node (evictionStrategy External).
		{APIGroups: []string{"kubevirt.io"}, Resources: []string{"virtualmachineinstances"}, Verbs: []string{"get", "list", "watch", "delete"}},
		{APIGroups: []string{"kubevirt.io"}, Resources: []string{"kubevirts"}, Verbs: read},
		{APIGroups: []string{"subresources.kubevirt.io"}, Resources: []string{"virtualmachineinstances/bootstrapstatus"}, Verbs: []string{"get"}},
	}
}

// Objects are infrastructure-components.yaml's objects but the CRDs, in apply order.
func Objects() []client.Object {
	ns := &corev1.Namespace{ObjectMeta: meta(Namespace, "")}
	sa := &corev1.ServiceAccount{ObjectMeta: meta(serviceAccountName, Namespace)}
	role := &rbacv1.ClusterRole{ObjectMeta: meta("capk-manager-role", ""), Rules: ManagerRules()}
	roleBinding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: meta("capk-manager-rolebinding", ""),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: Namespace}},
	}
	election := &rbacv1.Role{ObjectMeta: meta("capk-leader-election-role", Namespace), Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}}
	electionBinding := &rbacv1.RoleBinding{
		ObjectMeta: meta("capk-leader-election-rolebinding", Namespace),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: election.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: Namespace}},
	}
	selector := map[string]string{"control-plane": managerName}
	svc := &corev1.Service{ObjectMeta: meta(webhookService, Namespace), Spec: corev1.ServiceSpec{
		Selector: selector,
		Ports:    []corev1.ServicePort{{Name: "webhook", Port: 443, TargetPort: intstr.FromString("webhook")}},
	}}
	objs := []client.Object{ns, sa, role, roleBinding, election, electionBinding, svc, issuer(), certificate(), deployment(selector), validatingWebhooks()}
	for _, o := range objs {
		// apiVersion and kind, written out in the YAML (the typed objects leave them empty).
		if gvks, _, err := scheme.Scheme.ObjectKinds(o); err == nil && len(gvks) > 0 {
			o.GetObjectKind().SetGroupVersionKind(gvks[0])
		}
	}
	return objs
}

// issuer and certificate are cert-manager objects (unstructured: the provider does not
// depend on cert-manager's Go types): a self-signed issuer and the webhook's serving
// certificate, which cert-manager writes into capk-webhook-service-cert.
func issuer() client.Object {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
		"metadata": map[string]any{"name": issuerName, "namespace": Namespace, "labels": map[string]any{"cluster.x-k8s.io/provider": ProviderLabelValue}},
		"spec":     map[string]any{"selfSigned": map[string]any{}},
	}}
	return u
}

func certificate() client.Object {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
		"metadata": map[string]any{"name": servingCertName, "namespace": Namespace, "labels": map[string]any{"cluster.x-k8s.io/provider": ProviderLabelValue}},
		"spec": map[string]any{
			"dnsNames":   []any{webhookService + "." + Namespace + ".svc", webhookService + "." + Namespace + ".svc.cluster.local"},
			"issuerRef":  map[string]any{"kind": "Issuer", "name": issuerName},
			"secretName": servingCertSecret,
		},
	}}
}

func deployment(selector map[string]string) client.Object {
	podLabels := map[string]string{"cluster.x-k8s.io/provider": ProviderLabelValue}
	for k, v := range selector {
		podLabels[k] = v
	}
	return &appsv1.Deployment{
		ObjectMeta: meta(managerName, Namespace),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					ServiceAccountName:            serviceAccountName,
					TerminationGracePeriodSeconds: ptr.To[int64](10),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            "manager",
						Image:           Image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Args:            []string{"--leader-elect", "--webhook-port=9443", "--health-probe-bind-address=:9440", "--zap-log-level=${CAPK_LOGLEVEL:=info}"},
						Env:             []corev1.EnvVar{{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}},
						Ports: []corev1.ContainerPort{
							{Name: "webhook", ContainerPort: 9443, Protocol: corev1.ProtocolTCP},
							{Name: "healthz", ContainerPort: 9440, Protocol: corev1.ProtocolTCP},
						},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("healthz")}}},
						LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("healthz")}}, InitialDelaySeconds: 15},
						// Requests as Cluster API's own managers make them; the idle working set is
						// measured by the functional test and shown in the README.
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resourceQuantity("10m"), corev1.ResourceMemory: resourceQuantity("64Mi")}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "cert", MountPath: "/tmp/k8s-webhook-server/serving-certs", ReadOnly: true}},
					}},
					Volumes:     []corev1.Volume{{Name: "cert", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: servingCertSecret}}}},
					Tolerations: []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}},
				},
			},
		},
	}
}

// validatingWebhooks points the API server at the manager's webhooks; cert-manager's
// cainjector fills in the CA bundle from the serving certificate.
func validatingWebhooks() client.Object {
	none := admissionregistrationv1.SideEffectClassNone
	fail := admissionregistrationv1.Fail
	equivalent := admissionregistrationv1.Equivalent
	hook := func(kind, resource string) admissionregistrationv1.ValidatingWebhook {
		path := "/validate-infrastructure-cluster-x-k8s-io-v1alpha1-" + kind
		return admissionregistrationv1.ValidatingWebhook{
			Name:         "validation." + kind + ".infrastructure.cluster.x-k8s.io",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Name: webhookService, Namespace: Namespace, Path: &path}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"infrastructure.cluster.x-k8s.io"}, APIVersions: []string{"v1alpha1"}, Resources: []string{resource}},
			}},
			SideEffects: &none, FailurePolicy: &fail, MatchPolicy: &equivalent,
			AdmissionReviewVersions: []string{"v1"},
		}
	}
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: meta("capk-validating-webhook-configuration", ""),
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			hook("kubevirtmachine", "kubevirtmachines"),
			hook("kubevirtmachinetemplate", "kubevirtmachinetemplates"),
			hook("kubevirtcluster", "kubevirtclusters"),
		},
	}
	cfg.Annotations = map[string]string{"cert-manager.io/inject-ca-from": Namespace + "/" + servingCertName}
	return cfg
}

func resourceQuantity(s string) resource.Quantity { return resource.MustParse(s) }

// Metadata is clusterctl's metadata.yaml: which release series implements which Cluster
// API contract.
const Metadata = `# Generated by hack/manifests (make manifests); do not edit.
# clusterctl reads which Cluster API contract each release series of the provider implements.
apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3
kind: Metadata
releaseSeries:
  - major: 0
    minor: 1
    contract: v1beta2
`
