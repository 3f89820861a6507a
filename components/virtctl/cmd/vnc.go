package cmd

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/hypernest/hypernest/pkg/stream"
)

// viewers are the VNC clients virtctl vnc starts, in order of preference.
var viewers = []string{"remote-viewer", "vncviewer", "gvncviewer"}

func newVNCCommand(cfg *clientConfig) *cobra.Command {
	var (
		proxyOnly bool
		port      int
		address   string
		timeout   int
	)
	cmd := &cobra.Command{
		Use:   "vnc VMI",
		Short: "Open a VNC connection to a virtual machine's screen.",
		Example: "  virtctl vnc myvm                 # starts remote-viewer or vncviewer\n" +
			"  virtctl vnc myvm --proxy-only    # prints the local port for your own viewer",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			viewer := ""
			if !proxyOnly {
				for _, v := range viewers {
					if path, err := exec.LookPath(v); err == nil {
						viewer = path
						break
					}
				}
				if viewer == "" {
					return fmt.Errorf("no VNC viewer found (looked for %v): install one, or use --proxy-only and point your viewer at the printed port", viewers)
				}
			}
			listener, err := net.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(port)))
			if err != nil {
				return fmt.Errorf("listening on %s:%d: %w", address, port, err)
			}
			defer listener.Close()
			localPort := listener.Addr().(*net.TCPAddr).Port
			if proxyOnly {
				data, _ := json.Marshal(map[string]int{"port": localPort})
				fmt.Fprintln(cmd.OutOrStdout(), string(data))
			} else {
				go func() {
					_ = exec.Command(viewer, fmt.Sprintf("vnc://127.0.0.1:%d", localPort)).Run()
				}()
			}
			// One viewer connection at a time: QEMU serves one VNC client per socket.
			for {
				client, err := listener.Accept()
				if err != nil {
					return err
				}
				vnc, err := openStream(cmd.Context(), cfg, name, "vnc", time.Duration(timeout)*time.Minute)
				if err != nil {
					_ = client.Close()
					return fmt.Errorf("can't access VMI %s: %s", name, message(err))
				}
				if err := stream.Pipe(vnc, client); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "VNC connection ended: %v\n", err)
				}
				if !proxyOnly {
					return nil
				}
			}
		},
	}
	cmd.Flags().BoolVar(&proxyOnly, "proxy-only", false, "only proxy: print the local port as JSON and wait for a viewer")
	cmd.Flags().IntVar(&port, "port", 0, "local port (default: any free port)")
	cmd.Flags().StringVar(&address, "address", "127.0.0.1", "local address to listen on")
	cmd.Flags().IntVar(&timeout, "timeout", 5, "minutes to wait for the VMI to run")
	return cmd
}
