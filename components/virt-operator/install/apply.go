package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	k8sv1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// Apply installs Hypernest with c: the CRDs in crdDir, the namespace, the PKI (keeping
// Secrets that are still good) and every component. It is what the tests, the benchmark
// and hack/deploy use until virt-operator applies the same objects from the KubeVirt CR.
func Apply(ctx context.Context, c client.Client, cfg Config, crdDir string) error {
	files, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs in %s: run make generate", crdDir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, crd); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := createOrUpdate(ctx, c, crd); err != nil {
			return err
		}
	}
	if err := createOrUpdate(ctx, c, &k8sv1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}}); err != nil {
		return err
	}
	existing := map[string]*k8sv1.Secret{}
	for _, name := range []string{CASecretName, APICertSecretName, HandlerCertSecretName} {
		s := &k8sv1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: cfg.Namespace, Name: name}, s); err == nil {
			existing[name] = s
		} else if !apierrors.IsNotFound(err) {
			return err
		}
	}
	pki, _, err := PKI(cfg.Namespace, existing, time.Now())
	if err != nil {
		return err
	}
	for _, obj := range Objects(cfg, pki) {
		if err := createOrUpdate(ctx, c, obj); err != nil {
			return err
		}
	}
	return nil
}

// createOrUpdate creates obj, or replaces the stored object's content with it.
func createOrUpdate(ctx context.Context, c client.Client, obj client.Object) error {
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
	return describe(obj, c.Update(ctx, obj))
}

func describe(obj client.Object, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("applying %T %s: %w", obj, client.ObjectKeyFromObject(obj), err)
}

// WaitReady waits until virt-api, virt-controller and a virt-handler are ready, the
// subresource API is served, and a node takes VMIs. progress is told what is awaited.
func WaitReady(ctx context.Context, c client.Client, cfg Config, timeout time.Duration, progress func(string)) error {
	checks := []struct {
		what  string
		ready func() (bool, error)
	}{
		{"virt-api", deploymentReady(ctx, c, cfg.Namespace, APIName)},
		{"virt-controller", deploymentReady(ctx, c, cfg.Namespace, ControllerName)},
		{"virt-handler", func() (bool, error) {
			ds := &appsv1.DaemonSet{}
			err := c.Get(ctx, client.ObjectKey{Namespace: cfg.Namespace, Name: HandlerName}, ds)
			return err == nil && ds.Status.NumberReady >= 1, client.IgnoreNotFound(err)
		}},
		{"the subresources.kubevirt.io APIService", func() (bool, error) {
			svc := APIServiceObject(cfg, nil)
			if err := c.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
				return false, client.IgnoreNotFound(err)
			}
			conditions, _, _ := unstructured.NestedSlice(svc.Object, "status", "conditions")
			for _, cond := range conditions {
				if m, ok := cond.(map[string]any); ok && m["type"] == "Available" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
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

func deploymentReady(ctx context.Context, c client.Client, ns, name string) func() (bool, error) {
	return func() (bool, error) {
		d := &appsv1.Deployment{}
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d)
		return err == nil && d.Status.ReadyReplicas >= 1, client.IgnoreNotFound(err)
	}
}
