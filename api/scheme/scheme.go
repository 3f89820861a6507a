// Package scheme registers every Hypernest API group in one runtime.Scheme and offers
// the strict decoder kubectl and the apiserver use, so that components and tests decode
// manifests exactly as a user's `kubectl apply` would.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	corev1 "github.com/hypernest/hypernest/api/core/v1"
	instancetypev1beta1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
	migrationsv1alpha1 "github.com/hypernest/hypernest/api/migrations/v1alpha1"
	poolv1beta1 "github.com/hypernest/hypernest/api/pool/v1beta1"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
)

// Scheme knows kubevirt.io/v1, instancetype.kubevirt.io/v1beta1,
// migrations.kubevirt.io/v1alpha1, pool.kubevirt.io/v1beta1 and subresources.kubevirt.io/v1.
var Scheme = runtime.NewScheme()

var builder = runtime.NewSchemeBuilder(
	corev1.AddToScheme,
	instancetypev1beta1.AddToScheme,
	migrationsv1alpha1.AddToScheme,
	poolv1beta1.AddToScheme,
	subresourcesv1.AddToScheme,
)

// AddToScheme adds every Hypernest API group to a scheme.
var AddToScheme = builder.AddToScheme

func init() {
	utilruntime.Must(AddToScheme(Scheme))
}

// StrictDecoder decodes YAML or JSON into typed objects and fails on unknown or duplicate
// fields, naming them, as `kubectl apply` with server-side field validation does.
func StrictDecoder() runtime.Decoder {
	return serializer.NewCodecFactory(Scheme, serializer.EnableStrict).UniversalDeserializer()
}
