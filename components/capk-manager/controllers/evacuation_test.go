package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// A drain of the nested node evicts what kubectl drain --ignore-daemonsets --force
// evicts: not DaemonSets' pods, static pods' mirrors or pods that ended.
func TestMustLeaveNode(t *testing.T) {
	owned := func(kind string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: kind, Name: "x", Controller: ptr.To(true)}}}}
	}
	mirror := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "abc"}}}
	ended := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
	for name, tc := range map[string]struct {
		pod  *corev1.Pod
		want bool
	}{
		"a ReplicaSet's pod":       {owned("ReplicaSet"), true},
		"a pod without controller": {&corev1.Pod{}, true},
		"a DaemonSet's pod":        {owned("DaemonSet"), false},
		"a static pod's mirror":    {mirror, false},
		"a pod that ended":         {ended, false},
	} {
		if got := mustLeaveNode(tc.pod); got != tc.want {
			t.Errorf("%s: mustLeaveNode = %v, want %v", name, got, tc.want)
		}
	}
}
