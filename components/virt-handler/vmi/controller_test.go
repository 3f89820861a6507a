package vmi

import (
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

func newReconciler() (*Reconciler, *record.FakeRecorder) {
	rec := record.NewFakeRecorder(32)
	return &Reconciler{Log: logr.Discard(), Recorder: rec, NodeName: "node01"}, rec
}

func launcherPodWithImage(image string) *k8sv1.Pod {
	return &k8sv1.Pod{Spec: k8sv1.PodSpec{Containers: []k8sv1.Container{{Name: launcherv1.ComputeContainerName, Image: image}}}}
}

func scheduledVMI() *v1.VirtualMachineInstance {
	vmi := &v1.VirtualMachineInstance{}
	vmi.Name, vmi.Namespace = "vm", "default"
	vmi.Status.Phase = v1.Scheduled
	vmi.Status.NodeName = "node01"
	return vmi
}

// events drains what the recorder holds.
func events(rec *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func condition(s *v1.VirtualMachineInstanceStatus, t v1.VirtualMachineInstanceConditionType) string {
	c := v1.VMICondition(s, t)
	if c == nil {
		return "absent"
	}
	return string(c.Status) + "/" + c.Reason
}

func TestApplyDomainRunning(t *testing.T) {
	r, rec := newReconciler()
	vmi := scheduledVMI()
	s := vmi.Status.DeepCopy()
	d := &launcherv1.DomainStatus{State: launcherv1.DomainState_RUNNING, AgentConnected: true,
		GuestOs:    &launcherv1.GuestOSInfo{Name: "Alpine Linux", KernelRelease: "6.1.0"},
		Interfaces: []*launcherv1.GuestInterface{{Name: "default", Mac: "02:00:00:00:00:01", InterfaceName: "eth0"}},
		Plumbing:   []*launcherv1.InterfacePlumbing{{Name: "default", Mac: "02:00:00:00:00:01", PodIp: "10.244.0.7"}},
	}
	r.applyDomain(vmi, launcherPodWithImage("localhost/hypernest/virt-launcher:devel"), &launcher{}, d, s)

	if s.Phase != v1.Running || s.LauncherContainerImageVersion != "localhost/hypernest/virt-launcher:devel" {
		t.Errorf("phase %s, launcher image %q", s.Phase, s.LauncherContainerImageVersion)
	}
	for ct, want := range map[v1.VirtualMachineInstanceConditionType]string{
		v1.VirtualMachineInstanceReady:          "True/",
		v1.VirtualMachineInstanceAgentConnected: "True/",
		v1.VirtualMachineInstanceIsMigratable:   "True/",
		v1.VirtualMachineInstancePaused:         "absent",
	} {
		if got := condition(s, ct); got != want {
			t.Errorf("condition %s: got %s, want %s", ct, got, want)
		}
	}
	if s.GuestOSInfo.Name != "Alpine Linux" || s.GuestOSInfo.KernelRelease != "6.1.0" {
		t.Errorf("guest OS info %+v", s.GuestOSInfo)
	}
	if len(s.Interfaces) != 1 || s.Interfaces[0].IP != "10.244.0.7" || s.Interfaces[0].InterfaceName != "eth0" ||
		s.Interfaces[0].InfoSource != "domain, guest-agent" || s.Interfaces[0].PodInterfaceName != "eth0" {
		t.Errorf("interfaces %+v", s.Interfaces)
	}
	if ev := events(rec); len(ev) != 1 || !strings.Contains(ev[0], "Started") {
		t.Errorf("want one Started event, got %q", ev)
	}

	// The agent goes away: its condition goes with it; a running VMI gets no second Started.
	vmi.Status = *s
	s = vmi.Status.DeepCopy()
	d.AgentConnected = false
	r.applyDomain(vmi, launcherPodWithImage("x"), &launcher{}, d, s)
	if got := condition(s, v1.VirtualMachineInstanceAgentConnected); got != "absent" {
		t.Errorf("AgentConnected after the agent left: %s", got)
	}
	if ev := events(rec); len(ev) != 0 {
		t.Errorf("no event for a VMI that already runs, got %q", ev)
	}
}

func TestApplyDomainPaused(t *testing.T) {
	r, rec := newReconciler()
	vmi := scheduledVMI()
	vmi.Status.Phase = v1.Running

	s := vmi.Status.DeepCopy()
	r.applyDomain(vmi, launcherPodWithImage("x"), &launcher{}, &launcherv1.DomainStatus{State: launcherv1.DomainState_PAUSED, Reason: launcherv1.ReasonPausedUser}, s)
	if got := condition(s, v1.VirtualMachineInstancePaused); got != "True/"+v1.PausedByUserReason {
		t.Errorf("paused by the user: Paused %s", got)
	}
	if got := condition(s, v1.VirtualMachineInstanceReady); got != "False/"+v1.PausedByUserReason {
		t.Errorf("paused by the user: Ready %s", got)
	}
	if ev := events(rec); len(ev) != 0 {
		t.Errorf("a user's pause is no warning, got %q", ev)
	}

	// Paused by QEMU on an I/O error: KubeVirt's reason, and one warning per volume, once.
	d := &launcherv1.DomainStatus{State: launcherv1.DomainState_PAUSED, Reason: launcherv1.ReasonPausedIOError,
		DiskErrors: []*launcherv1.DiskError{{Volume: "data", NoSpace: true}, {Volume: "scratch"}}}
	s = vmi.Status.DeepCopy()
	r.applyDomain(vmi, launcherPodWithImage("x"), &launcher{}, d, s)
	if got := condition(s, v1.VirtualMachineInstancePaused); got != "True/"+v1.PausedIOErrorReason {
		t.Errorf("I/O error: Paused %s", got)
	}
	want := []string{
		"Warning IOerror VM Paused due to not enough space on volume: data",
		"Warning IOerror VM Paused due to IO error at the volume: scratch",
	}
	if ev := events(rec); strings.Join(ev, "\n") != strings.Join(want, "\n") {
		t.Errorf("I/O error events: got %q, want %q", ev, want)
	}
	vmi.Status = *s
	s = vmi.Status.DeepCopy()
	r.applyDomain(vmi, launcherPodWithImage("x"), &launcher{}, d, s)
	if ev := events(rec); len(ev) != 0 {
		t.Errorf("the same pause is reported once, got %q again", ev)
	}

	// Resumed: the Paused condition goes, Ready comes back.
	vmi.Status = *s
	s = vmi.Status.DeepCopy()
	r.applyDomain(vmi, launcherPodWithImage("x"), &launcher{}, &launcherv1.DomainStatus{State: launcherv1.DomainState_RUNNING}, s)
	if condition(s, v1.VirtualMachineInstancePaused) != "absent" || condition(s, v1.VirtualMachineInstanceReady) != "True/" {
		t.Errorf("after resume: Paused %s, Ready %s", condition(s, v1.VirtualMachineInstancePaused), condition(s, v1.VirtualMachineInstanceReady))
	}
}

func TestApplyDomainEnds(t *testing.T) {
	for _, tc := range []struct {
		state         launcherv1.DomainState
		reason        string
		phase         v1.VirtualMachineInstancePhase
		vmiReason     string
		eventContains string
	}{
		// A defined domain that never ran has no reason: nothing ended.
		{launcherv1.DomainState_SHUTOFF, "", v1.Running, "", ""},
		{launcherv1.DomainState_SHUTOFF, "Shutdown", v1.Succeeded, "GuestShutdown", "Normal Stopped The guest stopped: Shutdown"},
		{launcherv1.DomainState_SHUTOFF, "Destroyed", v1.Succeeded, "GuestShutdown", "Normal Stopped"},
		{launcherv1.DomainState_SHUTOFF, "Crashed", v1.Failed, "GuestCrashed", "Warning Stopped The guest stopped: Crashed"},
		{launcherv1.DomainState_SHUTOFF, "Failed", v1.Failed, "GuestFailed", "Warning Stopped"},
		{launcherv1.DomainState_CRASHED, "", v1.Failed, "GuestCrashed", "Warning Stopped The guest crashed"},
	} {
		r, rec := newReconciler()
		vmi := scheduledVMI()
		vmi.Status.Phase = v1.Running
		s := vmi.Status.DeepCopy()
		r.applyDomain(vmi, launcherPodWithImage("x"), &launcher{}, &launcherv1.DomainStatus{State: tc.state, Reason: tc.reason}, s)
		if s.Phase != tc.phase || s.Reason != tc.vmiReason {
			t.Errorf("%s/%q: phase %s reason %q, want %s %q", tc.state, tc.reason, s.Phase, s.Reason, tc.phase, tc.vmiReason)
		}
		ev := events(rec)
		if tc.eventContains == "" && len(ev) != 0 || tc.eventContains != "" && (len(ev) != 1 || !strings.Contains(ev[0], tc.eventContains)) {
			t.Errorf("%s/%q: events %q, want %q", tc.state, tc.reason, ev, tc.eventContains)
		}
		if tc.phase.IsFinal() && condition(s, v1.VirtualMachineInstanceReady) != "False/"+v1.GuestNotRunningReason {
			t.Errorf("%s/%q: a finished VMI is not Ready, got %s", tc.state, tc.reason, condition(s, v1.VirtualMachineInstanceReady))
		}
	}
}

// The resume backoff, KubeVirt's: 10 s, doubling while the guest keeps pausing soon
// after each resume, up to 3 min, and back to 10 s after a long quiet run. Only the
// waiting paths are taken here (the resume itself is a launcher call, proven by the
// full-disk functional test).
func TestIOErrorResumeBackoff(t *testing.T) {
	r, _ := newReconciler()
	vmi := scheduledVMI()
	l := &launcher{}
	requeue := func() time.Duration {
		t.Helper()
		res := r.resumeAfterIOError(t.Context(), vmi, l)
		if res == (ctrl.Result{}) {
			t.Fatal("want a requeue")
		}
		return res.RequeueAfter
	}

	if got := requeue(); got <= 9*time.Second || got > ioErrorFirstDelay {
		t.Errorf("first pause: wait %s, want about %s", got, ioErrorFirstDelay)
	}
	if l.ioErrorDelay != ioErrorFirstDelay {
		t.Errorf("first delay %s", l.ioErrorDelay)
	}
	// Still the same pause: the delay does not grow while waiting.
	requeue()
	if l.ioErrorDelay != ioErrorFirstDelay {
		t.Errorf("the same pause grew the delay to %s", l.ioErrorDelay)
	}

	// Resumed a moment ago and paused again: twice as long, capped.
	for _, want := range []time.Duration{20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, ioErrorMaxDelay, ioErrorMaxDelay} {
		l.ioErrorSince, l.ioErrorResume = time.Time{}, time.Now().Add(-time.Second)
		requeue()
		if l.ioErrorDelay != want {
			t.Errorf("paused again soon after a resume: delay %s, want %s", l.ioErrorDelay, want)
		}
	}

	// Ran longer than the longest delay since the last resume: back to the first delay.
	l.ioErrorSince, l.ioErrorResume = time.Time{}, time.Now().Add(-ioErrorMaxDelay-time.Minute)
	requeue()
	if l.ioErrorDelay != ioErrorFirstDelay {
		t.Errorf("after a long run: delay %s, want %s", l.ioErrorDelay, ioErrorFirstDelay)
	}
}
