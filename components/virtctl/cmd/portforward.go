package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/hypernest/hypernest/pkg/stream"
)

// forwardedPort is one [protocol/]local[:remote] argument of port-forward.
type forwardedPort struct {
	local, remote int
	protocol      string
}

func newPortForwardCommand(cfg *clientConfig) *cobra.Command {
	var toStdio bool
	address := "127.0.0.1"
	cmd := &cobra.Command{
		Use:   "port-forward type/name[/namespace] [protocol/]localPort[:targetPort]...",
		Short: "Forward local ports to a virtualmachine or virtualmachineinstance.",
		Long: `Forwards local ports to ports of the guest, through the API server, virt-api and the
virt-handler on the guest's node: what reaches the guest is what a pod's connection to its
pod IP reaches. type is vmi or vm (name.namespace is accepted as in KubeVirt). protocol is
tcp (the default) or udp; each local UDP client gets its own stream to the guest, and
datagrams stay whole.`,
		Example: `  # Local port 8080 to the guest's port 80:
  virtctl port-forward vmi/testvmi 8080:80

  # The guest's DNS server on local UDP port 5353:
  virtctl port-forward vm/testvm udp/5353:53

  # SSH through it (OpenSSH's ProxyCommand):
  ssh -o 'ProxyCommand=virtctl port-forward --stdio=true vmi/testvmi.mynamespace 22' cirros@testvmi`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			resource, name, ns, err := parsePortForwardTarget(args[0])
			if err != nil {
				return err
			}
			ports, err := parseForwardedPorts(args[1:])
			if err != nil {
				return err
			}
			if ns == "" {
				if ns, err = cfg.namespace(); err != nil {
					return err
				}
			}
			restConfig, err := cfg.restConfig()
			if err != nil {
				return err
			}
			f := &portForwarder{restConfig: restConfig, namespace: ns, resource: resource, name: name}
			if toStdio {
				if len(ports) != 1 {
					return errors.New("only one port supported when forwarding to stdout")
				}
				return f.stdio(cmd.Context(), ports[0].remote, os.Stdin, os.Stdout)
			}
			return f.listen(cmd, address, ports)
		},
	}
	cmd.Flags().BoolVar(&toStdio, "stdio", false, "forward one port to stdin and stdout (for ssh's ProxyCommand)")
	cmd.Flags().StringVar(&address, "address", address, "the local address the ports listen on")
	return cmd
}

// parsePortForwardTarget reads type/name[/namespace] or type/name.namespace.
func parsePortForwardTarget(arg string) (resource, name, namespace string, err error) {
	parts := strings.Split(arg, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[1] == "" {
		return "", "", "", fmt.Errorf("target %q: expected type/name[/namespace], e.g. vmi/testvmi", arg)
	}
	switch strings.ToLower(parts[0]) {
	case "vmi", "vmis", "virtualmachineinstance", "virtualmachineinstances":
		resource = "virtualmachineinstances"
	case "vm", "vms", "virtualmachine", "virtualmachines":
		resource = "virtualmachines"
	default:
		return "", "", "", errors.New("unsupported resource type " + parts[0])
	}
	name = parts[1]
	if len(parts) == 3 {
		namespace = parts[2]
	} else if before, after, found := strings.Cut(name, "."); found {
		name, namespace = before, after
	}
	return resource, name, namespace, nil
}

// parseForwardedPorts reads [protocol/]local[:remote] arguments.
func parseForwardedPorts(args []string) ([]forwardedPort, error) {
	var out []forwardedPort
	for _, arg := range args {
		p := forwardedPort{protocol: "tcp"}
		if proto, rest, found := strings.Cut(arg, "/"); found {
			p.protocol, arg = strings.ToLower(proto), rest
		}
		if p.protocol != "tcp" && p.protocol != "udp" {
			return nil, fmt.Errorf("port %q: protocol %q must be tcp or udp", arg, p.protocol)
		}
		local, remote, hasRemote := strings.Cut(arg, ":")
		var err error
		if p.local, err = strconv.Atoi(local); err != nil || p.local < 0 || p.local > 65535 {
			return nil, fmt.Errorf("invalid port %q: expected [tcp/|udp/]localPort[:targetPort]", arg)
		}
		p.remote = p.local
		if hasRemote {
			if p.remote, err = strconv.Atoi(remote); err != nil || p.remote < 1 || p.remote > 65535 {
				return nil, fmt.Errorf("invalid port %q: expected [tcp/|udp/]localPort[:targetPort]", arg)
			}
		}
		if p.remote == 0 {
			return nil, fmt.Errorf("invalid port %q: the target port cannot be 0", arg)
		}
		out = append(out, p)
	}
	return out, nil
}

type portForwarder struct {
	restConfig                *rest.Config
	namespace, resource, name string
}

func (f *portForwarder) dial(ctx context.Context, port int, protocol string) (io.ReadWriteCloser, error) {
	return dialSubresource(ctx, f.restConfig, f.namespace, f.resource, f.name, fmt.Sprintf("portforward/%d/%s", port, protocol))
}

// stdio forwards one connection to the guest's port over stdin and stdout.
func (f *portForwarder) stdio(ctx context.Context, port int, in io.Reader, out io.Writer) error {
	conn, err := f.dial(ctx, port, "tcp")
	if err != nil {
		return err
	}
	return stream.Pipe(conn, struct {
		io.Reader
		io.Writer
		io.Closer
	}{in, out, io.NopCloser(nil)})
}

// listen opens the local ports and forwards each connection, until interrupted.
func (f *portForwarder) listen(cmd *cobra.Command, address string, ports []forwardedPort) error {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	ctx := cmd.Context()
	var wg sync.WaitGroup
	for _, p := range ports {
		local := net.JoinHostPort(address, strconv.Itoa(p.local))
		if p.protocol == "udp" {
			pc, err := net.ListenPacket("udp", local)
			if err != nil {
				return fmt.Errorf("listening on udp %s: %w", local, err)
			}
			closers = append(closers, pc)
			fmt.Fprintf(cmd.OutOrStdout(), "Forwarding from %s (udp) -> %d\n", pc.LocalAddr(), p.remote)
			wg.Add(1)
			go func(remote int) {
				defer wg.Done()
				f.forwardDatagrams(ctx, cmd.ErrOrStderr(), pc, remote)
			}(p.remote)
			continue
		}
		l, err := net.Listen("tcp", local)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", local, err)
		}
		closers = append(closers, l)
		fmt.Fprintf(cmd.OutOrStdout(), "Forwarding from %s -> %d\n", l.Addr(), p.remote)
		wg.Add(1)
		go func(remote int) {
			defer wg.Done()
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				go f.forward(ctx, cmd.ErrOrStderr(), conn, remote)
			}
		}(p.remote)
	}
	<-ctx.Done()
	for _, c := range closers {
		_ = c.Close()
	}
	wg.Wait()
	return nil
}

// forwardDatagrams serves one local UDP port: each client address gets its own stream to
// the guest's port, which answers to that address; a stream that ends is opened again by
// the client's next datagram.
func (f *portForwarder) forwardDatagrams(ctx context.Context, errOut io.Writer, pc net.PacketConn, remote int) {
	var mu sync.Mutex
	streams := map[string]io.ReadWriteCloser{}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range streams {
			_ = s.Close()
		}
	}()
	buf := make([]byte, 65535)
	for {
		n, client, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		mu.Lock()
		s, ok := streams[client.String()]
		mu.Unlock()
		if !ok {
			if s, err = f.dial(ctx, remote, "udp"); err != nil {
				fmt.Fprintf(errOut, "error forwarding udp to %s/%s port %d: %s\n", f.resource, f.name, remote, message(err))
				continue
			}
			mu.Lock()
			streams[client.String()] = s
			mu.Unlock()
			go func(s io.ReadWriteCloser, client net.Addr) {
				reply := make([]byte, 65535)
				for {
					datagram, err := stream.ReadDatagram(s, reply)
					if err != nil {
						break
					}
					if _, err := pc.WriteTo(datagram, client); err != nil {
						break
					}
				}
				mu.Lock()
				delete(streams, client.String())
				mu.Unlock()
				_ = s.Close()
			}(s, client)
		}
		if _, err := s.Write(buf[:n]); err != nil {
			fmt.Fprintf(errOut, "udp to %s/%s port %d: %v\n", f.resource, f.name, remote, err)
		}
	}
}

func (f *portForwarder) forward(ctx context.Context, errOut io.Writer, local net.Conn, remote int) {
	defer local.Close()
	conn, err := f.dial(ctx, remote, "tcp")
	if err != nil {
		fmt.Fprintf(errOut, "error forwarding to %s/%s port %d: %s\n", f.resource, f.name, remote, message(err))
		return
	}
	if err := stream.Pipe(conn, local); err != nil {
		fmt.Fprintf(errOut, "connection to %s/%s port %d ended: %v\n", f.resource, f.name, remote, err)
	}
}
