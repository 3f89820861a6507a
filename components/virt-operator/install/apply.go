package install

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	k8sv1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// Apply installs Hypernest with c: the CRDs, the namespace, the PKI (keeping Secrets
// that are still good) and every component. The tests, the benchmark and hack/deploy
// use it; virt-operator applies the same pieces from the KubeVirt object.
func Apply(ctx context.Context, c client.Client, cfg Config, crds []*apiextensionsv1.CustomResourceDefinition) error {
	if err := ApplyCRDs(ctx, c, crds); err != nil {
		return err
	}
	if err := CreateOrUpdate(ctx, c, &k8sv1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}}); err != nil {
		return err
	}
	pki, err := EnsurePKI(ctx, c, cfg, time.Now())
	if err != nil {
		return err
	}
	for _, obj := range Objects(cfg, pki) {
		if err := CreateOrUpdate(ctx, c, obj); err != nil {
			return err
		}
	}
	// The old virt-handler pods may still mount it for a moment: their Secret volume
	// keeps its files.
	return DeleteObsolete(ctx, c, cfg)
}

// ApplyCRDs creates or updates the CRDs, labelled as the operator's.
func ApplyCRDs(ctx context.Context, c client.Client, crds []*apiextensionsv1.CustomResourceDefinition) error {
	for _, crd := range crds {
		crd = crd.DeepCopy()
		labels := crd.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		for k, val := range componentLabels("virt-operator") {
			labels[k] = val
		}
		crd.SetLabels(labels)
		if err := CreateOrUpdate(ctx, c, crd); err != nil {
			return err
		}
	}
	return nil
}

// EnsurePKI reads the PKI Secrets in cfg.Namespace and returns them with anything
// missing or due for renewal made anew (not yet stored: Objects includes them).
func EnsurePKI(ctx context.Context, c client.Client, cfg Config, now time.Time) ([]*k8sv1.Secret, error) {
	existing := map[string]*k8sv1.Secret{}
	for _, name := range []string{CASecretName, wiring.APICertSecretName, wiring.HandlerCASecretName} {
		s := &k8sv1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: cfg.Namespace, Name: name}, s); err == nil {
			existing[name] = s
		} else if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	pki, _, err := PKI(cfg.Namespace, existing, now)
	return pki, err
}

// DeleteObsolete removes what earlier versions installed and this one does not: the
// certificate and key every virt-handler once shared (each has its own now).
func DeleteObsolete(ctx context.Context, c client.Client, cfg Config) error {
	obsolete := &k8sv1.Secret{}
	// A read from the cache first: this runs on every pass, and the Secret is long gone.
	if err := c.Get(ctx, client.ObjectKey{Namespace: cfg.Namespace, Name: wiring.ObsoleteHandlerCertSecretName}, obsolete); err != nil {
		return client.IgnoreNotFound(err)
	}
	if err := c.Delete(ctx, obsolete); client.IgnoreNotFound(err) != nil {
		return describe(obsolete, err)
	}
	return nil
}

// SplitHandler separates virt-handler's DaemonSet from the other objects, for upgrades
// that roll virt-handler last.
func SplitHandler(objs []client.Object) (rest, handler []client.Object) {
	for _, o := range objs {
		if _, ok := o.(*appsv1.DaemonSet); ok && o.GetName() == wiring.HandlerName {
			handler = append(handler, o)
			continue
		}
		rest = append(rest, o)
	}
	return rest, handler
}

// Delete removes everything Apply creates but the namespace and the KubeVirt CRD (the
// operator's manifest brings both, and its KubeVirt object lives in them): the webhooks first (so no
// deletion waits on a virt-api that is going away), the CRDs last. It does not wait.
func Delete(ctx context.Context, c client.Client, cfg Config, crds []*apiextensionsv1.CustomResourceDefinition) error {
	objs := Objects(cfg, nil)
	for _, name := range []string{CASecretName, wiring.APICertSecretName, wiring.HandlerCASecretName, wiring.ObsoleteHandlerCertSecretName} {
		objs = append(objs, &k8sv1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cfg.Namespace}})
	}
	// Objects lists RBAC and workloads before the API registration; deleting in reverse
	// takes the webhooks and the APIService away first.
	for i := len(objs) - 1; i >= 0; i-- {
		if err := c.Delete(ctx, objs[i]); client.IgnoreNotFound(err) != nil && !meta.IsNoMatchError(err) {
			return describe(objs[i], err)
		}
	}
	for _, crd := range crds {
		if crd.Name == KubeVirtCRDName {
			continue
		}
		if err := c.Delete(ctx, crd.DeepCopy()); client.IgnoreNotFound(err) != nil {
			return describe(crd, err)
		}
	}
	return nil
}

// APIServiceAvailable reports the APIService's Available condition.
func APIServiceAvailable(svc *unstructured.Unstructured) bool {
	conditions, _, _ := unstructured.NestedSlice(svc.Object, "status", "conditions")
	for _, cond := range conditions {
		if m, ok := cond.(map[string]any); ok && m["type"] == "Available" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// CreateOrUpdate creates obj, or replaces the stored object's content with it.
func CreateOrUpdate(ctx context.Context, c client.Client, obj client.Object) error {
	switch obj.(type) {
	case *rbacv1.ClusterRole, *rbacv1.Role:
		return describe(obj, applyRole(ctx, c, obj))
	}
	obj.SetResourceVersion("")
	err := c.Create(ctx, obj)
	if !apierrors.IsAlreadyExists(err) {
		return describe(obj, err)
	}
	current := obj.DeepCopyObject().(client.Object)
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), current); err != nil {
		return describe(obj, err)
	}
	obj.SetResourceVersion(current.GetResourceVersion())
	// Annotations others keep on the object (kubectl's last-applied configuration, a
	// deployment's revision) and on a workload's pod template (`kubectl rollout restart`'s
	// restartedAt: dropping it would roll the pods a second time, seconds after the
	// restart, cutting the consoles and calls they had just taken) stay; the
	// installation only sets its own. (So an annotation a later version stops setting
	// would stay too: today the installation sets none on pod templates.)
	obj.SetAnnotations(keepOthers(obj.GetAnnotations(), current.GetAnnotations()))
	if want, have := podTemplate(obj), podTemplate(current); want != nil && have != nil {
		want.Annotations = keepOthers(want.Annotations, have.Annotations)
	}
	return describe(obj, c.Update(ctx, obj))
}

// keepOthers adds to ours the annotations of stored that ours does not set.
func keepOthers(ours, stored map[string]string) map[string]string {
	for k, val := range stored {
		if _, set := ours[k]; !set {
			if ours == nil {
				ours = map[string]string{}
			}
			ours[k] = val
		}
	}
	return ours
}

// podTemplate is a workload's pod template, or nil for other kinds.
func podTemplate(obj client.Object) *k8sv1.PodTemplateSpec {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template
	case *appsv1.DaemonSet:
		return &o.Spec.Template
	}
	return nil
}

// roleFieldOwner is the field manager virt-operator writes roles as.
const roleFieldOwner = "virt-operator"

// applyRole writes a role with server-side apply, a request that names the role (a
// create names none): so the API server can check virt-operator's escalate right against
// the role's name, and the operator holds it only for the roles it ships
// (WrittenRoleNames).
func applyRole(ctx context.Context, c client.Client, obj client.Object) error {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: content}
	u.SetGroupVersionKind(gvk)
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "metadata", "resourceVersion")
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(roleFieldOwner), client.ForceOwnership)
}

func describe(obj client.Object, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("applying %T %s: %w", obj, client.ObjectKeyFromObject(obj), err)
}

// WaitReady waits until virt-api, virt-controller and virt-handler have rolled out (each
// runs its current template, available), the subresource API is served, and a node takes
// VMIs. progress is told what is awaited.
func WaitReady(ctx context.Context, c client.Client, cfg Config, timeout time.Duration, progress func(string)) error {
	checks := []struct {
		what  string
		ready func() (bool, error)
	}{
		{"virt-api", deploymentReady(ctx, c, cfg.Namespace, wiring.APIName)},
		{"virt-controller", deploymentReady(ctx, c, cfg.Namespace, ControllerName)},
		{"virt-handler", func() (bool, error) {
			ds := &appsv1.DaemonSet{}
			err := c.Get(ctx, client.ObjectKey{Namespace: cfg.Namespace, Name: wiring.HandlerName}, ds)
			return err == nil && daemonSetRolledOut(ds), client.IgnoreNotFound(err)
		}},
		{"the subresources.kubevirt.io APIService", func() (bool, error) {
			svc := APIServiceObject(cfg, nil)
			if err := c.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
				return false, client.IgnoreNotFound(err)
			}
			return APIServiceAvailable(svc), nil
		}},
		{"a node schedulable for VMIs", func() (bool, error) {
			nodes := &k8sv1.NodeList{}
			if err := c.List(ctx, nodes); err != nil {
				return false, err
			}
			for _, n := range nodes.Items {
				if n.Labels[v1.NodeSchedulable] == "true" && !n.Status.Allocatable.Name(launcherv1.TunResource, "").IsZero() {
					return true, nil
				}
			}
			return false, nil
		}},
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, check := range checks {
		progress("waiting for " + check.what)
		err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(context.Context) (bool, error) {
			return check.ready()
		})
		if err != nil {
			return fmt.Errorf("%s is not ready after %s: check its pods in namespace %s (kubectl -n %s get pods)", check.what, timeout, cfg.Namespace, cfg.Namespace)
		}
	}
	return nil
}

// deploymentReady is kubectl rollout status's test: the Deployment's controller has seen
// the current template and every replica runs it, available. A ready old pod is not
// enough: an Apply that changed the template would replace it right after the wait.
func deploymentReady(ctx context.Context, c client.Client, ns, name string) func() (bool, error) {
	return func() (bool, error) {
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		st := d.Status
		return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want && st.Replicas == want &&
			st.AvailableReplicas == want && st.ReadyReplicas >= 1, nil
	}
}

// daemonSetRolledOut is the same for virt-handler's DaemonSet: every node it belongs on
// runs the current template, available, and at least one is ready.
func daemonSetRolledOut(ds *appsv1.DaemonSet) bool {
	st := ds.Status
	return st.ObservedGeneration >= ds.Generation && st.UpdatedNumberScheduled == st.DesiredNumberScheduled &&
		st.NumberAvailable == st.DesiredNumberScheduled && st.NumberReady >= 1
}
