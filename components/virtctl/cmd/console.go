package cmd

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// escapeByte (Ctrl+]) ends a console session, as in telnet and KubeVirt's virtctl.
const escapeByte = 0x1d

func newConsoleCommand(cfg *clientConfig) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:     "console VMI",
		Short:   "Connect to the serial console of a virtual machine. Ctrl+] leaves it.",
		Example: "  virtctl console myvm",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			conn, err := openStream(cmd.Context(), cfg, name, "console", time.Duration(timeout)*time.Minute)
			if err != nil {
				return fmt.Errorf("Error: can't access VMI %s: %s", name, message(err)) //nolint:staticcheck // KubeVirt's wording
			}
			defer conn.Close()
			stdin, stdout := cmd.InOrStdin(), cmd.OutOrStdout()
			fmt.Fprintf(cmd.ErrOrStderr(), "Successfully connected to %s console. The escape sequence is ^]\n", name)
			if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				state, err := term.MakeRaw(int(f.Fd()))
				if err != nil {
					return fmt.Errorf("making the terminal raw: %w", err)
				}
				defer func() { _ = term.Restore(int(f.Fd()), state) }()
			}
			return relay(conn, stdin, stdout)
		},
	}
	cmd.Flags().IntVar(&timeout, "timeout", 5, "minutes to wait for the VMI to run before giving up")
	return cmd
}

// relay copies the console to out and in to the console until the console closes, in
// ends, or the user types the escape character.
func relay(console io.ReadWriteCloser, in io.Reader, out io.Writer) error {
	done := make(chan error, 2)
	go func() {
		_, err := io.Copy(out, console)
		done <- err
	}()
	go func() {
		r := bufio.NewReader(in)
		buf := make([]byte, 1024)
		for {
			n, err := r.Read(buf)
			for i := 0; i < n; i++ {
				if buf[i] == escapeByte {
					if i > 0 {
						_, _ = console.Write(buf[:i])
					}
					done <- nil
					return
				}
			}
			if n > 0 {
				if _, werr := console.Write(buf[:n]); werr != nil {
					done <- werr
					return
				}
			}
			if err != nil {
				// Input ended (e.g. a pipe): keep showing the console until it closes.
				return
			}
		}
	}()
	err := <-done
	if err == io.EOF {
		return nil
	}
	return err
}
