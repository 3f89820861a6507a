package clusterconfig

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

func TestGetFollowsTheKubeVirtObject(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).Build()
	src := &Source{Reader: c, Namespace: "kubevirt", Default: Config{UseEmulation: true}}
	if got := src.Get(context.Background()); !got.UseEmulation || len(got.FeatureGates) != 0 {
		t.Fatalf("without a KubeVirt object the flag default applies, got %+v", got)
	}

	kv := &v1.KubeVirt{
		ObjectMeta: metav1.ObjectMeta{Name: "kubevirt", Namespace: "kubevirt"},
		Spec: v1.KubeVirtSpec{Configuration: v1.KubeVirtConfiguration{DeveloperConfiguration: &v1.DeveloperConfiguration{
			FeatureGates:         []string{"Snapshot", "HotplugVolumes"},
			DisabledFeatureGates: []string{"HotplugVolumes"},
		}}},
	}
	if err := c.Create(context.Background(), kv); err != nil {
		t.Fatal(err)
	}
	got := src.Get(context.Background())
	if got.UseEmulation {
		t.Error("the object says no emulation; it wins over the flag")
	}
	if !got.GateEnabled("Snapshot") || got.GateEnabled("HotplugVolumes") || got.GateEnabled("ExpandDisks") {
		t.Errorf("gates %v: want Snapshot only (HotplugVolumes is disabled, ExpandDisks never enabled)", got.FeatureGates)
	}

	other := &v1.KubeVirt{ObjectMeta: metav1.ObjectMeta{Name: "kubevirt", Namespace: "elsewhere"}}
	other.Spec.Configuration.DeveloperConfiguration = &v1.DeveloperConfiguration{UseEmulation: true}
	if err := c.Create(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if src.Get(context.Background()).UseEmulation {
		t.Error("a KubeVirt object in another namespace must not count")
	}
}

func TestMigrationLimits(t *testing.T) {
	if perCluster, perNode := (Config{}).MigrationLimits(); perCluster != 5 || perNode != 2 {
		t.Errorf("defaults %d/%d, want KubeVirt's 5/2", perCluster, perNode)
	}
	one := uint32(1)
	kv := &v1.KubeVirt{Spec: v1.KubeVirtSpec{Configuration: v1.KubeVirtConfiguration{
		MigrationConfiguration: &v1.MigrationConfiguration{ParallelOutboundMigrationsPerNode: &one}}}}
	if perCluster, perNode := FromKubeVirt(kv).MigrationLimits(); perCluster != 5 || perNode != 1 {
		t.Errorf("limits %d/%d, want the object's 1 per node and the default 5 cluster-wide", perCluster, perNode)
	}
}
