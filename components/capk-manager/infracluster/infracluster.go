// Package infracluster gives the provider a client of the cluster its VMs run on: the
// cluster the provider runs in, or an external one named by a kubeconfig Secret
// (infraClusterSecretRef), as CAPK does.
package infracluster

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// KubeconfigKey is the Secret key holding an external infrastructure cluster's kubeconfig.
const KubeconfigKey = "kubeconfig"

// Clients hands out infrastructure-cluster clients.
type Clients struct {
	// Local is the client of the cluster the provider runs in.
	Local client.Client
	// SecretReader reads the kubeconfig Secrets (uncached: the provider caches only the
	// Secrets of clusters, which these need not be labelled as).
	SecretReader client.Reader
	// LocalConfig is the local cluster's REST config.
	LocalConfig *rest.Config
	// Scheme knows Hypernest's kubevirt.io types and Kubernetes'.
	Scheme *runtime.Scheme

	mu    sync.Mutex
	cache map[string]cachedClient // by secret namespace/name
}

type cachedClient struct {
	resourceVersion string
	client          client.Client
	config          *rest.Config
	namespace       string
}

// RESTConfig is the REST config behind a client For returned (for clients of other API
// groups, such as virt-api's subresources), or nil for a client it did not make.
func (c *Clients) RESTConfig(cl client.Client) *rest.Config {
	if cl == c.Local {
		return c.LocalConfig
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cached := range c.cache {
		if cached.client == cl {
			return cached.config
		}
	}
	return nil
}

// For returns the client of the infrastructure cluster and the namespace VMs go to by
// default: the local cluster and ownerNamespace when ref is nil, else the cluster of the
// kubeconfig in the referenced Secret (in ownerNamespace unless the ref says otherwise)
// and that kubeconfig's namespace.
func (c *Clients) For(ctx context.Context, ref *corev1.ObjectReference, ownerNamespace string) (client.Client, string, error) {
	if ref == nil {
		return c.Local, ownerNamespace, nil
	}
	ns := ref.Namespace
	if ns == "" {
		ns = ownerNamespace
	}
	secret := &corev1.Secret{}
	if err := c.SecretReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, secret); err != nil {
		return nil, "", fmt.Errorf("reading infraClusterSecretRef %s/%s: %w", ns, ref.Name, err)
	}
	key := ns + "/" + ref.Name
	c.mu.Lock()
	defer c.mu.Unlock()
	if cached, ok := c.cache[key]; ok && cached.resourceVersion == secret.ResourceVersion {
		return cached.client, cached.namespace, nil
	}
	data, ok := secret.Data[KubeconfigKey]
	if !ok {
		return nil, "", fmt.Errorf("infraClusterSecretRef %s/%s has no %q key: put the infrastructure cluster's kubeconfig there", ns, ref.Name, KubeconfigKey)
	}
	loader, err := clientcmd.NewClientConfigFromBytes(data)
	if err != nil {
		return nil, "", fmt.Errorf("infraClusterSecretRef %s/%s: the kubeconfig does not parse: %w", ns, ref.Name, err)
	}
	restConfig, err := loader.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("infraClusterSecretRef %s/%s: the kubeconfig is not usable: %w", ns, ref.Name, err)
	}
	vmNamespace, _, err := loader.Namespace()
	if err != nil || vmNamespace == "" {
		vmNamespace = "default"
	}
	cl, err := client.New(restConfig, client.Options{Scheme: c.Scheme})
	if err != nil {
		return nil, "", fmt.Errorf("infraClusterSecretRef %s/%s: %w", ns, ref.Name, err)
	}
	if c.cache == nil {
		c.cache = map[string]cachedClient{}
	}
	c.cache[key] = cachedClient{resourceVersion: secret.ResourceVersion, client: cl, config: restConfig, namespace: vmNamespace}
	return cl, vmNamespace, nil
}
