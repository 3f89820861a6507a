package cmd

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
)

func newVersionCommand(cfg *clientConfig) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print virtctl's version and the cluster's.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Client Version: version.Info{GitVersion:%q, GoVersion:%q, Compiler:%q, Platform:\"%s/%s\"}\n",
				version, runtime.Version(), runtime.Compiler, runtime.GOOS, runtime.GOARCH)
			if clientOnly {
				return nil
			}
			client, err := cfg.subresources()
			if err != nil {
				return err
			}
			data, err := client.Get().AbsPath("/apis", subresourcesv1.SchemeGroupVersion.String(), "version").Do(cmd.Context()).Raw()
			if err != nil {
				return fmt.Errorf("the server's version: %s", message(err))
			}
			var info map[string]string
			if err := json.Unmarshal(data, &info); err != nil {
				return fmt.Errorf("the server's version: %w", err)
			}
			fmt.Fprintf(out, "Server Version: version.Info{GitVersion:%q, GoVersion:%q, Compiler:%q, Platform:%q}\n",
				info["gitVersion"], info["goVersion"], info["compiler"], info["platform"])
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "only virtctl's own version")
	return cmd
}
