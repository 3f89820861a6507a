package cmd

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/pkg/stream"
)

func vmiWith(uid types.UID, phase v1.VirtualMachineInstancePhase, deleting bool) *v1.VirtualMachineInstance {
	vmi := &v1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Name: "vm", UID: uid}}
	vmi.Status.Phase = phase
	if deleting {
		vmi.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	}
	return vmi
}

func vmWith(strategy v1.RunStrategy, requests ...v1.StateChangeRequestAction) *v1.VirtualMachine {
	vm := &v1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Name: "vm"}}
	vm.Spec.RunStrategy = ptr.To(strategy)
	for _, a := range requests {
		vm.Status.StateChangeRequests = append(vm.Status.StateChangeRequests, v1.VirtualMachineStateChangeRequest{Action: a})
	}
	return vm
}

func TestNextConsoleStep(t *testing.T) {
	const old, fresh = types.UID("old"), types.UID("new")
	for _, tc := range []struct {
		name string
		vm   *v1.VirtualMachine
		vmi  *v1.VirtualMachineInstance
		want consoleStep
	}{
		{"restart: the old VMI is still being deleted", vmWith(v1.RunStrategyAlways), vmiWith(old, v1.Running, true), consoleWait},
		{"restart: between instances", vmWith(v1.RunStrategyAlways), nil, consoleWait},
		{"restart: the new VMI is scheduling", vmWith(v1.RunStrategyAlways), vmiWith(fresh, v1.Scheduling, false), consoleReconnect},
		{"restart: the new VMI runs", vmWith(v1.RunStrategyAlways), vmiWith(fresh, v1.Running, false), consoleReconnect},
		{"restart of a Manual VM: start pending", vmWith(v1.RunStrategyManual, v1.StartRequest), nil, consoleWait},
		{"the same guest runs: the connection dropped", vmWith(v1.RunStrategyAlways), vmiWith(old, v1.Running, false), consoleReconnect},
		{"virtctl stop: Halted, VMI going", vmWith(v1.RunStrategyHalted), vmiWith(old, v1.Running, true), consoleWait},
		{"virtctl stop: Halted, VMI gone", vmWith(v1.RunStrategyHalted), nil, consoleEnd},
		{"Manual VM stopped", vmWith(v1.RunStrategyManual), nil, consoleEnd},
		{"guest shut down under RerunOnFailure", vmWith(v1.RunStrategyRerunOnFailure), vmiWith(old, v1.Succeeded, false), consoleEnd},
		{"guest crashed under RerunOnFailure", vmWith(v1.RunStrategyRerunOnFailure), vmiWith(old, v1.Failed, false), consoleWait},
		{"guest shut down under Once", vmWith(v1.RunStrategyOnce), vmiWith(old, v1.Succeeded, false), consoleEnd},
		{"VM deleted", func() *v1.VirtualMachine {
			vm := vmWith(v1.RunStrategyAlways)
			vm.DeletionTimestamp = &metav1.Time{Time: time.Now()}
			return vm
		}(), vmiWith(old, v1.Running, true), consoleEnd},
		{"a bare VMI finished", nil, vmiWith(old, v1.Succeeded, false), consoleEnd},
		{"a bare VMI deleted", nil, nil, consoleEnd},
		{"a bare VMI being deleted", nil, vmiWith(old, v1.Running, true), consoleWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := nextConsoleStep(old, tc.vm, tc.vmi)
			if got != tc.want {
				t.Fatalf("got step %d (%s), want %d", got, reason, tc.want)
			}
			if reason == "" {
				t.Fatal("every step needs a reason for the user")
			}
		})
	}
}

// fakeConsole is one instance's console: it shows a line, then ends when closed by the
// test (the instance went away) or by the follower.
type fakeConsole struct {
	r      *io.PipeReader
	w      *io.PipeWriter
	mu     sync.Mutex
	typed  bytes.Buffer
	closed chan struct{}
	once   sync.Once
}

func newFakeConsole(banner string) *fakeConsole {
	r, w := io.Pipe()
	c := &fakeConsole{r: r, w: w, closed: make(chan struct{})}
	go func() { _, _ = io.WriteString(w, banner) }()
	return c
}

func (c *fakeConsole) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *fakeConsole) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.typed.Write(p)
}
func (c *fakeConsole) Close() error {
	c.once.Do(func() { close(c.closed); _ = c.w.Close() })
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A restart ends the first instance's console; the follower finds the new instance,
// connects to it, and the user's later input reaches the new guest; Ctrl+] leaves.
func TestConsoleFollowsRestart(t *testing.T) {
	var mu sync.Mutex
	vm := vmWith(v1.RunStrategyAlways)
	vmi := vmiWith("first", v1.Running, false)
	consoles := []*fakeConsole{newFakeConsole("boot of the first instance\n"), newFakeConsole("boot of the second instance\n")}
	opened := 0
	f := &consoleFollower{
		name: "vm", timeout: 10 * time.Second, poll: time.Millisecond,
		open: func(context.Context) (io.ReadWriteCloser, error) {
			mu.Lock()
			defer mu.Unlock()
			c := consoles[opened]
			opened++
			return c, nil
		},
		get: func(context.Context) (*v1.VirtualMachine, *v1.VirtualMachineInstance, error) {
			mu.Lock()
			defer mu.Unlock()
			return vm, vmi, nil
		},
	}
	out, status := &syncBuffer{}, &syncBuffer{}
	f.out, f.status = out, status
	inR, inW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- f.run(context.Background(), newConsoleInput(inR)) }()

	eventually(t, "the first boot", func() bool { return strings.Contains(out.String(), "boot of the first instance") })
	// virtctl restart: the old VMI is deleted, its console ends, a new VMI comes.
	mu.Lock()
	vmi = vmiWith("first", v1.Running, true)
	mu.Unlock()
	_ = consoles[0].Close()
	time.Sleep(20 * time.Millisecond) // the follower now waits: the old instance is going
	mu.Lock()
	vmi = vmiWith("second", v1.Running, false)
	mu.Unlock()
	eventually(t, "the second boot", func() bool { return strings.Contains(out.String(), "boot of the second instance") })
	if !strings.Contains(status.String(), "Reconnected to the console of vm") {
		t.Fatalf("the user was not told about the new instance: %q", status.String())
	}
	_, _ = inW.Write([]byte("uname\n"))
	eventually(t, "input to reach the new guest", func() bool {
		consoles[1].mu.Lock()
		defer consoles[1].mu.Unlock()
		return consoles[1].typed.String() == "uname\n"
	})
	_, _ = inW.Write([]byte{escapeByte})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Ctrl+] should leave without an error, got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl+] did not end the session")
	}
}

// virtctl stop: the console ends with a message and no error once the VM is Halted.
func TestConsoleEndsWhenTheVMStops(t *testing.T) {
	var mu sync.Mutex
	vm := vmWith(v1.RunStrategyAlways)
	vmi := vmiWith("only", v1.Running, false)
	console := newFakeConsole("booted\n")
	f := &consoleFollower{
		name: "vm", timeout: 10 * time.Second, poll: time.Millisecond,
		open: func(context.Context) (io.ReadWriteCloser, error) { return console, nil },
		get: func(context.Context) (*v1.VirtualMachine, *v1.VirtualMachineInstance, error) {
			mu.Lock()
			defer mu.Unlock()
			return vm, vmi, nil
		},
	}
	out, status := &syncBuffer{}, &syncBuffer{}
	f.out, f.status = out, status
	done := make(chan error, 1)
	go func() { done <- f.run(context.Background(), newConsoleInput(strings.NewReader(""))) }()
	eventually(t, "the boot", func() bool { return strings.Contains(out.String(), "booted") })
	mu.Lock()
	vm, vmi = vmWith(v1.RunStrategyHalted), nil
	mu.Unlock()
	_ = console.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a stopped VM ends the console without an error, got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the console did not end after the VM stopped")
	}
	if !strings.Contains(status.String(), "the VM was stopped") {
		t.Fatalf("the user was not told why the console ended: %q", status.String())
	}
}

// A console another connection took over (virt-handler keeps one per guest) ends with an
// error saying so and is not reopened, though the guest still runs: reconnecting would
// take the console back from the other user, who would take it back in turn.
func TestConsoleTakenOverEndsWithoutReconnecting(t *testing.T) {
	console := newFakeConsole("booted\n")
	opened := 0
	f := &consoleFollower{
		name: "vm", timeout: 10 * time.Second, poll: time.Millisecond,
		open: func(context.Context) (io.ReadWriteCloser, error) { opened++; return console, nil },
		get: func(context.Context) (*v1.VirtualMachine, *v1.VirtualMachineInstance, error) {
			return vmWith(v1.RunStrategyAlways), vmiWith("only", v1.Running, false), nil
		},
	}
	out, status := &syncBuffer{}, &syncBuffer{}
	f.out, f.status = out, status
	done := make(chan error, 1)
	go func() { done <- f.run(context.Background(), newConsoleInput(strings.NewReader(""))) }()
	eventually(t, "the boot", func() bool { return strings.Contains(out.String(), "booted") })
	_ = console.w.CloseWithError(stream.ErrTakenOver)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "the console of vm was taken over by another connection") {
			t.Fatalf("a taken-over console ends with an error saying so, got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the taken-over console did not end")
	}
	if opened != 1 {
		t.Fatalf("the console was opened %d times, want once", opened)
	}
}
