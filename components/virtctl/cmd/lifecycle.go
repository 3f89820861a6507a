package cmd

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
)

// put calls PUT <resource>/<name>/<subresource> with a JSON options body.
func put(cmd *cobra.Command, cfg *clientConfig, resource, name, subresource string, body any) error {
	ns, client, err := cfg.subresourcesIn()
	if err != nil {
		return err
	}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	// A nested subresource (evacuate/cancel) goes as its segments: client-go refuses a
	// segment holding '/'.
	return client.Put().Namespace(ns).Resource(resource).Name(name).SubResource(strings.Split(subresource, "/")...).
		Body(data).SetHeader("Content-Type", "application/json").Do(cmd.Context()).Error()
}

func dryRun(enabled bool) []string {
	if enabled {
		return []string{metav1.DryRunAll}
	}
	return nil
}

func newStartCommand(cfg *clientConfig) *cobra.Command {
	var paused, dry bool
	cmd := &cobra.Command{
		Use:     "start VM",
		Short:   "Start a virtual machine.",
		Example: "  virtctl start myvm\n  virtctl start myvm --paused",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := put(cmd, cfg, "virtualmachines", args[0], "start", &subresourcesv1.StartOptions{Paused: paused, DryRun: dryRun(dry)})
			if err != nil {
				return fmt.Errorf("Error starting VirtualMachine %s: %s", args[0], message(err)) //nolint:staticcheck // KubeVirt's wording
			}
			fmt.Fprintf(cmd.OutOrStdout(), "VM %s was scheduled to start\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&paused, "paused", false, "start the guest paused (unpause it with virtctl unpause)")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "check the request without acting on it")
	return cmd
}

func newStopCommand(cfg *clientConfig) *cobra.Command {
	var (
		gracePeriod int64
		force, dry  bool
	)
	cmd := &cobra.Command{
		Use:     "stop VM",
		Short:   "Stop a virtual machine: ACPI power-off, then off after the grace period.",
		Example: "  virtctl stop myvm\n  virtctl stop myvm --force --grace-period=0   # off at once",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &subresourcesv1.StopOptions{DryRun: dryRun(dry)}
			if cmd.Flags().Changed("grace-period") {
				if !force {
					return fmt.Errorf("--grace-period needs --force: it overrides the VM's terminationGracePeriodSeconds")
				}
				if gracePeriod < 0 {
					return fmt.Errorf("--grace-period: must be 0 or more seconds, not %d", gracePeriod)
				}
				opts.GracePeriod = &gracePeriod
			} else if force {
				return fmt.Errorf("--force needs --grace-period, e.g. --force --grace-period=0")
			}
			if err := put(cmd, cfg, "virtualmachines", args[0], "stop", opts); err != nil {
				return fmt.Errorf("Error stopping VirtualMachine %s: %s", args[0], message(err)) //nolint:staticcheck // KubeVirt's wording
			}
			fmt.Fprintf(cmd.OutOrStdout(), "VM %s was scheduled to stop\n", args[0])
			return nil
		},
	}
	cmd.Flags().Int64Var(&gracePeriod, "grace-period", -1, "seconds the guest gets to shut down (with --force); 0 turns it off at once")
	cmd.Flags().BoolVar(&force, "force", false, "override the grace period (with --grace-period)")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "check the request without acting on it")
	return cmd
}

func newRestartCommand(cfg *clientConfig) *cobra.Command {
	var (
		gracePeriod int64
		force, dry  bool
	)
	cmd := &cobra.Command{
		Use:   "restart VM",
		Short: "Restart a virtual machine: stop its VMI and start a new one.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &subresourcesv1.RestartOptions{DryRun: dryRun(dry)}
			if cmd.Flags().Changed("grace-period") {
				if !force {
					return fmt.Errorf("--grace-period needs --force: it overrides the VM's terminationGracePeriodSeconds")
				}
				opts.GracePeriodSeconds = &gracePeriod
			}
			if err := put(cmd, cfg, "virtualmachines", args[0], "restart", opts); err != nil {
				return fmt.Errorf("Error restarting VirtualMachine %s: %s", args[0], message(err)) //nolint:staticcheck // KubeVirt's wording
			}
			fmt.Fprintf(cmd.OutOrStdout(), "VM %s was scheduled to restart\n", args[0])
			return nil
		},
	}
	cmd.Flags().Int64Var(&gracePeriod, "grace-period", -1, "seconds the guest gets to shut down (with --force)")
	cmd.Flags().BoolVar(&force, "force", false, "override the grace period (with --grace-period)")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "check the request without acting on it")
	return cmd
}

// newPauseCommand is pause (or unpause) vm|vmi NAME; a VM's guest is its VMI's.
func newPauseCommand(cfg *clientConfig, pause bool) *cobra.Command {
	verb := "unpause"
	if pause {
		verb = "pause"
	}
	var dry bool
	cmd := &cobra.Command{
		Use:       verb + " (vm|vmi) NAME",
		Short:     map[bool]string{true: "Pause a running guest: its vCPUs stop, its memory stays.", false: "Let a paused guest run again."}[pause],
		Example:   "  virtctl " + verb + " vm myvm\n  virtctl " + verb + " vmi myvmi",
		Args:      cobra.ExactArgs(2),
		ValidArgs: []string{"vm", "vmi"},
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name := args[0], args[1]
			if kind != "vm" && kind != "vmi" {
				return fmt.Errorf("unknown kind %q: use %s vm NAME or %s vmi NAME", kind, verb, verb)
			}
			var body any = &subresourcesv1.UnpauseOptions{DryRun: dryRun(dry)}
			if pause {
				body = &subresourcesv1.PauseOptions{DryRun: dryRun(dry)}
			}
			if err := put(cmd, cfg, "virtualmachineinstances", name, verb, body); err != nil {
				return fmt.Errorf("Error %sing VirtualMachineInstance %s: %s", verb, name, message(err)) //nolint:staticcheck // KubeVirt's wording
			}
			kindName := map[string]string{"vm": "VM", "vmi": "VMI"}[kind]
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s was scheduled to %s\n", kindName, name, verb)
			return nil
		},
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "check the request without acting on it")
	return cmd
}
