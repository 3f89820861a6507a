package rest

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
)

// The ConfigMap in which kube-apiserver publishes how it authenticates itself to
// aggregated APIs (its front proxy's client CA and the headers naming the user).
const (
	authConfigMapNamespace = "kube-system"
	authConfigMapName      = "extension-apiserver-authentication"
)

// authRefresh is how often the front-proxy settings are re-read: the apiserver rewrites
// the ConfigMap when its front-proxy CA rotates.
const authRefresh = time.Minute

// User is the caller the apiserver vouches for.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// FrontProxy authenticates requests the apiserver's aggregation layer forwards: they
// carry its front-proxy client certificate and name the real caller in headers.
type FrontProxy struct {
	Reader client.Reader

	mu           sync.RWMutex
	pool         *x509.CertPool
	allowedNames []string
	userHeaders  []string
	groupHeaders []string
	extraPrefix  []string
	loaded       time.Time
}

// ClientCAs is the front proxy's CA, for the TLS handshake; nil until loaded.
func (f *FrontProxy) ClientCAs(ctx context.Context) *x509.CertPool {
	if err := f.refresh(ctx); err != nil {
		return nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.pool
}

func (f *FrontProxy) refresh(ctx context.Context) error {
	f.mu.RLock()
	fresh := time.Since(f.loaded) < authRefresh
	f.mu.RUnlock()
	if fresh {
		return nil
	}
	cm := &k8sv1.ConfigMap{}
	if err := f.Reader.Get(ctx, types.NamespacedName{Namespace: authConfigMapNamespace, Name: authConfigMapName}, cm); err != nil {
		return fmt.Errorf("reading %s/%s: %w", authConfigMapNamespace, authConfigMapName, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(cm.Data["requestheader-client-ca-file"])) {
		return fmt.Errorf("%s/%s has no requestheader-client-ca-file: start kube-apiserver with --requestheader-client-ca-file", authConfigMapNamespace, authConfigMapName)
	}
	list := func(key string) []string {
		var out []string
		_ = json.Unmarshal([]byte(cm.Data[key]), &out)
		return out
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pool = pool
	f.allowedNames = list("requestheader-allowed-names")
	f.userHeaders = list("requestheader-username-headers")
	f.groupHeaders = list("requestheader-group-headers")
	f.extraPrefix = list("requestheader-extra-headers-prefix")
	f.loaded = time.Now()
	return nil
}

// Authenticate returns the caller of a forwarded request, or an error when the request
// did not come through the front proxy.
func (f *FrontProxy) Authenticate(r *http.Request) (*User, error) {
	if err := f.refresh(r.Context()); err != nil {
		return nil, err
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, fmt.Errorf("no client certificate: call subresources.kubevirt.io through the Kubernetes API server")
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	leaf := r.TLS.PeerCertificates[0]
	intermediates := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: f.pool, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("the client certificate is not the API server's front proxy's: %w", err)
	}
	if len(f.allowedNames) > 0 && !contains(f.allowedNames, leaf.Subject.CommonName) {
		return nil, fmt.Errorf("front proxy %q is not in requestheader-allowed-names", leaf.Subject.CommonName)
	}
	user := &User{Extra: map[string][]string{}}
	for _, h := range f.userHeaders {
		if v := r.Header.Get(h); v != "" {
			user.Name = v
			break
		}
	}
	if user.Name == "" {
		return nil, fmt.Errorf("the request names no user")
	}
	for _, h := range f.groupHeaders {
		user.Groups = append(user.Groups, r.Header.Values(h)...)
	}
	for _, prefix := range f.extraPrefix {
		for h, values := range r.Header {
			if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
				key := strings.ToLower(h[len(prefix):])
				user.Extra[key] = append(user.Extra[key], values...)
			}
		}
	}
	return user, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Authorizer asks the API server whether a user may call a subresource: the caller's own
// RBAC decides, not virt-api's.
type Authorizer struct {
	Client client.Client
}

// Allowed reports whether user may use verb on resource/subresource name in namespace,
// and the API server's reason when not.
func (a *Authorizer) Allowed(ctx context.Context, user *User, verb, namespace, resource, subresource, name string) (bool, string, error) {
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range user.Extra {
		extra[k] = v
	}
	sar := &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   user.Name,
			UID:    user.UID,
			Groups: user.Groups,
			Extra:  extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace:   namespace,
				Verb:        verb,
				Group:       subresourcesv1.GroupName,
				Version:     subresourcesv1.SchemeGroupVersion.Version,
				Resource:    resource,
				Subresource: subresource,
				Name:        name,
			},
		},
	}
	if err := a.Client.Create(ctx, sar); err != nil {
		return false, "", err
	}
	return sar.Status.Allowed, sar.Status.Reason, nil
}
