package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/pkg/stream"
)

// escapeByte (Ctrl+]) ends a console session, as in telnet and KubeVirt's virtctl.
const escapeByte = 0x1d

// followPollInterval is how often virtctl looks at the VM and its VMI while the console
// is between two instances (a restart takes seconds; polling faster only loads the API).
const followPollInterval = time.Second

func newConsoleCommand(cfg *clientConfig) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   "console VMI",
		Short: "Connect to the serial console of a virtual machine. Ctrl+] leaves it.",
		Long: `Connect to the serial console of a virtual machine instance.

While the VMI is not running yet, virtctl waits for it (--timeout). When the VMI belongs to
a VirtualMachine and the VM restarts (virtctl restart, a crash under RerunOnFailure, a
shutdown under runStrategy Always), the console follows it to its new instance; it ends
when the VM is stopped or deleted, or when you type Ctrl+].`,
		Example: "  virtctl console myvm",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, kv, err := cfg.kubevirtIn()
			if err != nil {
				return err
			}
			stdin, stdout, stderr := cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				state, err := term.MakeRaw(int(f.Fd()))
				if err != nil {
					return fmt.Errorf("making the terminal raw: %w", err)
				}
				defer func() { _ = term.Restore(int(f.Fd()), state) }()
			}
			f := &consoleFollower{
				name:    args[0],
				timeout: time.Duration(timeout) * time.Minute,
				open: func(ctx context.Context) (io.ReadWriteCloser, error) {
					return openStream(ctx, cfg, args[0], "console", time.Duration(timeout)*time.Minute)
				},
				get: func(ctx context.Context) (*v1.VirtualMachine, *v1.VirtualMachineInstance, error) {
					return getVMAndVMI(ctx, kv, ns, args[0])
				},
				out:    stdout,
				status: stderr,
			}
			return f.run(cmd.Context(), newConsoleInput(stdin))
		},
	}
	cmd.Flags().IntVar(&timeout, "timeout", 5, "minutes to wait for the VMI (or, after a restart, its new instance) to run before giving up")
	return cmd
}

// consoleFollower keeps a user on a VM's serial console across the VM's restarts: each
// instance (VMI) has its own console, so when one ends virtctl looks at the VM and waits
// for the next instance instead of leaving the user at a dead connection.
type consoleFollower struct {
	name    string
	timeout time.Duration
	open    func(context.Context) (io.ReadWriteCloser, error)
	get     func(context.Context) (*v1.VirtualMachine, *v1.VirtualMachineInstance, error)
	out     io.Writer
	status  io.Writer
	// poll is how often the VM is read between instances (followPollInterval when zero).
	poll time.Duration
}

func (f *consoleFollower) run(ctx context.Context, in *consoleInput) error {
	poll := f.poll
	if poll == 0 {
		poll = followPollInterval
	}
	var previous types.UID
	for attempt := 0; ; attempt++ {
		// The instance this connection reaches: the VMI of that name when we dial. A VMI
		// being deleted still answers until its guest is gone, so it counts as "old".
		var uid types.UID
		if _, vmi, err := f.get(ctx); err == nil && vmi != nil && vmi.DeletionTimestamp == nil {
			uid = vmi.UID
		}
		conn, err := f.open(ctx)
		if err != nil {
			if attempt == 0 {
				return fmt.Errorf("Error: can't access VMI %s: %s", f.name, message(err)) //nolint:staticcheck // KubeVirt's wording
			}
			return fmt.Errorf("Error: the console of %s ended and its new instance can't be reached: %s", f.name, message(err)) //nolint:staticcheck // KubeVirt's wording
		}
		switch {
		case attempt == 0:
			fmt.Fprintf(f.status, "Successfully connected to %s console. The escape sequence is ^]\n", f.name)
		case uid != "" && uid == previous:
			fmt.Fprintf(f.status, "\r\nReconnected to the console of %s. The escape sequence is ^]\n", f.name)
		default:
			fmt.Fprintf(f.status, "\r\nReconnected to the console of %s (a new instance of the VM). The escape sequence is ^]\n", f.name)
		}
		previous = uid
		escaped, relayErr := relay(conn, in, f.out)
		_ = conn.Close()
		if escaped {
			return nil
		}
		if errors.Is(relayErr, stream.ErrTakenOver) {
			// Another console of this VMI connected (QEMU serves one at a time): following
			// the VM here would take it back, and the two would take turns forever.
			return fmt.Errorf("Error: the console of %s was taken over by another connection; only one console per VMI can be open at a time", f.name) //nolint:staticcheck // KubeVirt's wording
		}
		step, reason, err := f.awaitNext(ctx, uid, poll)
		switch {
		case err != nil:
			return err
		case step == consoleEnd:
			fmt.Fprintf(f.status, "\r\nThe console of %s ended: %s.\n", f.name, reason)
			return nil
		case step == consoleLost:
			if relayErr != nil {
				reason += " (" + relayErr.Error() + ")"
			}
			return fmt.Errorf("Error: the console of %s was lost: %s", f.name, reason) //nolint:staticcheck // KubeVirt's wording
		}
		// consoleReconnect: same instance after a dropped connection, or a new one.
		if uid != "" {
			fmt.Fprintf(f.status, "\r\nThe console of %s closed (%s); reconnecting.\n", f.name, reason)
		}
	}
}

// awaitNext decides, after a console connection ended, whether to reconnect: it reads the
// VM and its VMI until nextConsoleStep has an answer other than "wait", or the timeout.
func (f *consoleFollower) awaitNext(ctx context.Context, oldUID types.UID, poll time.Duration) (consoleStep, string, error) {
	deadline := time.Now().Add(f.timeout)
	for {
		vm, vmi, err := f.get(ctx)
		if err == nil {
			step, reason := nextConsoleStep(oldUID, vm, vmi)
			if step != consoleWait {
				return step, reason, nil
			}
			if time.Now().After(deadline) {
				return consoleLost, fmt.Sprintf("no new instance of the VM ran within %s (%s)", f.timeout, reason), nil
			}
		} else if time.Now().After(deadline) {
			return consoleLost, "", fmt.Errorf("Error: the console of %s ended and reading the VM failed: %s", f.name, message(err)) //nolint:staticcheck // KubeVirt's wording
		}
		select {
		case <-ctx.Done():
			return consoleEnd, "interrupted", nil
		case <-time.After(poll):
		}
	}
}

// consoleStep is what a console does after its connection ended.
type consoleStep int

const (
	consoleWait      consoleStep = iota // the VM is between instances: look again soon
	consoleReconnect                    // an instance runs (or is starting): connect to it
	consoleEnd                          // the VM or VMI ended for good: leave, successfully
	consoleLost                         // something is wrong: leave with an error
)

// nextConsoleStep decides from the VM (nil when the VMI has none) and the VMI of the
// console's name (nil when there is none) what to do after the console of the instance
// oldUID ended. The reason says why, for the user.
func nextConsoleStep(oldUID types.UID, vm *v1.VirtualMachine, vmi *v1.VirtualMachineInstance) (consoleStep, string) {
	live := vmi != nil && vmi.DeletionTimestamp == nil && !vmi.Status.Phase.IsFinal()
	if live && vmi.UID != oldUID {
		return consoleReconnect, "a new instance started"
	}
	if live && vmi.Status.Phase == v1.Running {
		// The same guest still runs: the connection dropped (a network blip, a restarted
		// virt-api or virt-handler).
		return consoleReconnect, "the connection dropped while the guest runs"
	}
	if vm == nil {
		switch {
		case vmi == nil:
			return consoleEnd, "the VMI was deleted"
		case vmi.Status.Phase.IsFinal():
			return consoleEnd, fmt.Sprintf("the VMI finished (phase %s)", vmi.Status.Phase)
		}
		return consoleWait, "the VMI is going away"
	}
	if vm.DeletionTimestamp != nil {
		return consoleEnd, "the VM is being deleted"
	}
	startPending := false
	for _, r := range vm.Status.StateChangeRequests {
		if r.Action == v1.StartRequest {
			startPending = true
		}
	}
	ended := vmi == nil || vmi.Status.Phase.IsFinal()
	switch strategy := vm.EffectiveRunStrategy(); {
	case !ended || startPending:
		return consoleWait, "the VM is between instances"
	case strategy == v1.RunStrategyAlways:
		return consoleWait, "the VM is starting a new instance"
	case strategy == v1.RunStrategyRerunOnFailure && vmi != nil && vmi.Status.Phase == v1.Failed:
		return consoleWait, "the VM restarts its failed instance"
	case strategy == v1.RunStrategyHalted:
		return consoleEnd, "the VM was stopped"
	default:
		return consoleEnd, fmt.Sprintf("the guest stopped and runStrategy %s does not restart it", strategy)
	}
}

// consoleInput reads the user's input once, for every connection of the session: the
// bytes typed while virtctl reconnects go to the next instance.
type consoleInput struct {
	chunks  chan []byte
	escaped chan struct{}
}

func newConsoleInput(r io.Reader) *consoleInput {
	in := &consoleInput{chunks: make(chan []byte, 16), escaped: make(chan struct{})}
	go func() {
		defer close(in.chunks)
		for {
			buf := make([]byte, 1024)
			n, err := r.Read(buf)
			for i := 0; i < n; i++ {
				if buf[i] == escapeByte {
					if i > 0 {
						in.chunks <- buf[:i]
					}
					close(in.escaped)
					return
				}
			}
			if n > 0 {
				in.chunks <- buf[:n]
			}
			if err != nil {
				// Input ended (e.g. a pipe or /dev/null): keep showing the console.
				return
			}
		}
	}()
	return in
}

// relay copies the console to out and the input to the console until the console closes
// or the user types the escape character (escaped is then true).
func relay(console io.ReadWriteCloser, in *consoleInput, out io.Writer) (escaped bool, err error) {
	outDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(out, console)
		outDone <- err
	}()
	chunks := in.chunks
	for {
		select {
		case err := <-outDone:
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return false, err
		case <-in.escaped:
			// Whatever was typed before the escape character goes first.
		drain:
			for {
				select {
				case b, ok := <-chunks:
					if !ok {
						break drain
					}
					_, _ = console.Write(b)
				default:
					break drain
				}
			}
			return true, nil
		case b, ok := <-chunks:
			if !ok {
				chunks = nil // input ended: only show the console from now on
				continue
			}
			// A write to a closing console fails; the read side reports the end.
			_, _ = console.Write(b)
		}
	}
}

// getVMAndVMI reads the VM and the VMI called name; either is nil when it does not exist
// (or, for the VM, when the caller may not read VMs: the console then follows only the VMI).
func getVMAndVMI(ctx context.Context, kv restGetter, ns, name string) (*v1.VirtualMachine, *v1.VirtualMachineInstance, error) {
	vmi := &v1.VirtualMachineInstance{}
	if err := kv.Get().Namespace(ns).Resource("virtualmachineinstances").Name(name).Do(ctx).Into(vmi); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, nil, err
		}
		vmi = nil
	}
	vm := &v1.VirtualMachine{}
	if err := kv.Get().Namespace(ns).Resource("virtualmachines").Name(name).Do(ctx).Into(vm); err != nil {
		if !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) {
			return nil, nil, err
		}
		vm = nil
	}
	return vm, vmi, nil
}
