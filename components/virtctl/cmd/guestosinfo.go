package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

func newGuestOSInfoCommand(cfg *clientConfig) *cobra.Command {
	return &cobra.Command{
		Use:     "guestosinfo VMI",
		Short:   "Show what the guest agent reports about a running guest: OS, host name, time zone, users, file systems.",
		Example: "  virtctl guestosinfo myvm",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, client, err := cfg.subresourcesIn()
			if err != nil {
				return err
			}
			// Do, not DoRaw: Error() decodes virt-api's Status, so its message reaches the user.
			res := client.Get().Namespace(ns).Resource("virtualmachineinstances").Name(args[0]).SubResource("guestosinfo").Do(cmd.Context())
			data, _ := res.Raw()
			if err := res.Error(); err != nil {
				return fmt.Errorf("Error getting guestosinfo of VMI %s: %s", args[0], message(err)) //nolint:staticcheck // KubeVirt's wording
			}
			var out bytes.Buffer
			if err := json.Indent(&out, data, "", "  "); err != nil {
				return fmt.Errorf("the guest agent's answer is not JSON: %w", err)
			}
			out.WriteByte('\n')
			_, err = cmd.OutOrStdout().Write(out.Bytes())
			return err
		},
	}
}
