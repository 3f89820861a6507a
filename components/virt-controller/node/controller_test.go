package node

import (
	"testing"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

func TestUnresponsive(t *testing.T) {
	now := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	r := &Reconciler{Now: func() time.Time { return now }}
	withBeat := func(value string) *k8sv1.Node {
		return &k8sv1.Node{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{v1.VirtHandlerHeartbeat: value}}}
	}
	for name, tc := range map[string]struct {
		node      *k8sv1.Node
		stale     bool
		wait      time.Duration
		wantError bool
	}{
		"a deleted node":                 {node: nil, stale: true},
		"no heartbeat: nothing ran here": {node: &k8sv1.Node{}, stale: false},
		"a beat a minute ago":            {node: withBeat("2026-12-02T17:59:00Z"), wait: 4*time.Minute + time.Second},
		"KubeVirt's JSON-quoted beat":    {node: withBeat(`"2026-12-02T17:59:00Z"`), wait: 4*time.Minute + time.Second},
		"a beat six minutes ago":         {node: withBeat("2026-12-02T17:54:00Z"), stale: true},
		"a malformed beat counts alive":  {node: withBeat("yesterday"), wait: recheck, wantError: true},
	} {
		stale, wait, err := r.unresponsive(tc.node)
		if stale != tc.stale || wait != tc.wait || (err != nil) != tc.wantError {
			t.Errorf("%s: got stale=%v wait=%v err=%v, want stale=%v wait=%v error=%v", name, stale, wait, err, tc.stale, tc.wait, tc.wantError)
		}
	}
}

func TestLivePodOn(t *testing.T) {
	running := k8sv1.ContainerStatus{State: k8sv1.ContainerState{Running: &k8sv1.ContainerStateRunning{}}}
	terminated := k8sv1.ContainerStatus{State: k8sv1.ContainerState{Terminated: &k8sv1.ContainerStateTerminated{}}}
	pod := func(node string, phase k8sv1.PodPhase, statuses ...k8sv1.ContainerStatus) *k8sv1.Pod {
		return &k8sv1.Pod{Spec: k8sv1.PodSpec{NodeName: node}, Status: k8sv1.PodStatus{Phase: phase, ContainerStatuses: statuses}}
	}
	for name, tc := range map[string]struct {
		pod  *k8sv1.Pod
		live bool
	}{
		"running there":                  {pod(("n1"), k8sv1.PodRunning, running), true},
		"pending there, no statuses yet": {pod("n1", k8sv1.PodPending), true},
		"on another node":                {pod("n2", k8sv1.PodRunning, running), false},
		"failed":                         {pod("n1", k8sv1.PodFailed, terminated), false},
		"every container terminated":     {pod("n1", k8sv1.PodRunning, terminated, terminated), false},
		"one container still running":    {pod("n1", k8sv1.PodRunning, terminated, running), true},
	} {
		if got := livePodOn(tc.pod, "n1"); got != tc.live {
			t.Errorf("%s: live=%v, want %v", name, got, tc.live)
		}
	}
}
