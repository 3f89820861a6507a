package cmd

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
	"github.com/hypernest/hypernest/pkg/version"
)

func newVersionCommand(cfg *clientConfig) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print virtctl's version and the cluster's.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Client Version: %s\n", formatInfo(version.Get()))
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
			var info version.Info
			if err := json.Unmarshal(data, &info); err != nil {
				return fmt.Errorf("the server's version: %w", err)
			}
			fmt.Fprintf(out, "Server Version: %s\n", formatInfo(info))
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "only virtctl's own version")
	return cmd
}

// formatInfo prints a version as KubeVirt's virtctl does (Go's %#v of its version.Info).
func formatInfo(i version.Info) string {
	return fmt.Sprintf("version.Info{GitVersion:%q, GitCommit:%q, GitTreeState:%q, BuildDate:%q, GoVersion:%q, Compiler:%q, Platform:%q}",
		i.GitVersion, i.GitCommit, i.GitTreeState, i.BuildDate, i.GoVersion, i.Compiler, i.Platform)
}
