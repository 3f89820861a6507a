package launcherv1

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

func TestTCGTranslationCacheFollowsGuestMemory(t *testing.T) {
	for _, tc := range []struct {
		guest string
		want  int64
	}{
		{"", TCGCacheMinMiB},      // no size given: the smallest
		{"64Mi", TCGCacheMinMiB},  // a quarter would be 16 MiB
		{"128Mi", TCGCacheMinMiB}, // the demo guests
		{"2Gi", 512},              // a kubeadm node
		{"16Gi", TCGCacheMaxMiB},  // QEMU's own default is the ceiling
	} {
		spec := &v1.DomainSpec{}
		if tc.guest != "" {
			q := resource.MustParse(tc.guest)
			spec.Memory = &v1.Memory{Guest: &q}
		}
		if got := TCGTranslationCacheMiB(spec); got != tc.want {
			t.Errorf("guest %q: cache %d MiB, want %d", tc.guest, got, tc.want)
		}
	}
}

func TestMemoryOverheadReservesTheTranslationCache(t *testing.T) {
	q := resource.MustParse("2Gi")
	vmi := &v1.VirtualMachineInstance{Spec: v1.VirtualMachineInstanceSpec{Domain: v1.DomainSpec{Memory: &v1.Memory{Guest: &q}}}}
	kvm, tcg := MemoryOverhead(vmi, false), MemoryOverhead(vmi, true)
	if diff := tcg.Value() - kvm.Value(); diff != 512<<20 {
		t.Fatalf("emulation adds %d bytes, want the 512 MiB cache", diff)
	}
}
