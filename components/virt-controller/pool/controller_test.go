package pool

import (
	"fmt"
	"testing"

	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	poolv1 "github.com/hypernest/hypernest/api/pool/v1beta1"
)

func TestMaxUnavailable(t *testing.T) {
	for _, tc := range []struct {
		replicas int32
		value    *intstr.IntOrString
		want     int
	}{
		{10, nil, 10}, // KubeVirt's default: 100%
		{10, ptr.To(intstr.FromString("25%")), 2},  // rounds down
		{3, ptr.To(intstr.FromString("10%")), 1},   // but at least one
		{10, ptr.To(intstr.FromInt32(4)), 4},       // a number is a number
		{10, ptr.To(intstr.FromString("many")), 1}, // refused by virt-api; careful if stored
	} {
		pool := &poolv1.VirtualMachinePool{Spec: poolv1.VirtualMachinePoolSpec{Replicas: ptr.To(tc.replicas), MaxUnavailable: tc.value}}
		if got := maxUnavailable(pool); got != tc.want {
			t.Errorf("replicas %d, maxUnavailable %v: got %d, want %d", tc.replicas, tc.value, got, tc.want)
		}
	}
}

func TestNodeRequirementMatches(t *testing.T) {
	sel := map[string]string{"zone": "a", "rack": "7"}
	for _, tc := range []struct {
		req  k8sv1.NodeSelectorRequirement
		want bool
	}{
		{k8sv1.NodeSelectorRequirement{Key: "zone", Operator: k8sv1.NodeSelectorOpIn, Values: []string{"a", "b"}}, true},
		{k8sv1.NodeSelectorRequirement{Key: "zone", Operator: k8sv1.NodeSelectorOpNotIn, Values: []string{"a"}}, false},
		{k8sv1.NodeSelectorRequirement{Key: "gpu", Operator: k8sv1.NodeSelectorOpNotIn, Values: []string{"x"}}, true},
		{k8sv1.NodeSelectorRequirement{Key: "gpu", Operator: k8sv1.NodeSelectorOpExists}, false},
		{k8sv1.NodeSelectorRequirement{Key: "gpu", Operator: k8sv1.NodeSelectorOpDoesNotExist}, true},
		{k8sv1.NodeSelectorRequirement{Key: "rack", Operator: k8sv1.NodeSelectorOpGt, Values: []string{"5"}}, true},
		{k8sv1.NodeSelectorRequirement{Key: "rack", Operator: k8sv1.NodeSelectorOpLt, Values: []string{"5"}}, false},
	} {
		if got := nodeRequirementMatches(tc.req, sel); got != tc.want {
			t.Errorf("%+v: got %v, want %v", tc.req, got, tc.want)
		}
	}
}

func TestSortPolicies(t *testing.T) {
	pool := &poolv1.VirtualMachinePool{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	vm := func(name string, created int64) *v1.VirtualMachine {
		return &v1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.Unix(created, 0)}}
	}
	// p-10 sorts after p-9 by index, not by string.
	vms := []*v1.VirtualMachine{vm("p-9", 300), vm("p-10", 100), vm("p-2", 200)}
	order := func(policy poolv1.VirtualMachinePoolSortPolicy) []string {
		out := selectVMs(pool, &poolv1.VirtualMachinePoolSelectionPolicy{SortPolicy: &policy}, vms)
		var names []string
		for _, v := range out {
			names = append(names, v.Name)
		}
		return names
	}
	for policy, want := range map[poolv1.VirtualMachinePoolSortPolicy]string{
		poolv1.VirtualMachinePoolSortAscendingOrder:  "[p-2 p-9 p-10]",
		poolv1.VirtualMachinePoolSortDescendingOrder: "[p-10 p-9 p-2]",
		poolv1.VirtualMachinePoolSortNewest:          "[p-9 p-2 p-10]",
		poolv1.VirtualMachinePoolSortOldest:          "[p-10 p-2 p-9]",
	} {
		if got := fmt.Sprint(order(policy)); got != want {
			t.Errorf("%s: got %s, want %s", policy, got, want)
		}
	}
}
