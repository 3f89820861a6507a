package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
)

func newMigrateCommand(cfg *clientConfig) *cobra.Command {
	var (
		dry          bool
		nodeSelector map[string]string
	)
	cmd := &cobra.Command{
		Use:   "migrate VM",
		Short: "Live-migrate a running virtual machine to another node.",
		Long: "Live-migrate a running virtual machine to another node: virt-api creates a\n" +
			"VirtualMachineInstanceMigration for it (kubectl get vmim), which virt-controller carries out.",
		Example: "  virtctl migrate myvm\n  virtctl migrate myvm --addedNodeSelector topology.kubernetes.io/zone=b",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &subresourcesv1.MigrateOptions{DryRun: dryRun(dry), AddedNodeSelector: nodeSelector}
			if err := put(cmd, cfg, "virtualmachines", args[0], "migrate", opts); err != nil {
				return fmt.Errorf("Error migrating VirtualMachine %s: %s", args[0], message(err)) //nolint:staticcheck // KubeVirt's wording
			}
			fmt.Fprintf(cmd.OutOrStdout(), "VM %s was scheduled to migrate\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "check the request without acting on it")
	cmd.Flags().StringToStringVar(&nodeSelector, "addedNodeSelector", nil,
		"node labels the target node must also carry, key=value[,key=value] (the VM's own node selector wins on a shared key)")
	return cmd
}

// newMigrateCancelCommand cancels the VM's migration in flight by deleting it, as
// KubeVirt's virtctl does: virt-controller aborts it and the VM stays on its node.
func newMigrateCancelCommand(cfg *clientConfig) *cobra.Command {
	var dry bool
	cmd := &cobra.Command{
		Use:     "migrate-cancel VM",
		Short:   "Cancel the live migration of a virtual machine in flight; it stays on its node.",
		Example: "  virtctl migrate-cancel myvm",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			ns, kv, err := cfg.kubevirtIn()
			if err != nil {
				return err
			}
			migrations := &v1.VirtualMachineInstanceMigrationList{}
			if err := kv.Get().Namespace(ns).Resource("virtualmachineinstancemigrations").
				Param("labelSelector", v1.MigrationSelectorLabel+"="+name).Do(cmd.Context()).Into(migrations); err != nil {
				return fmt.Errorf("Error listing the migrations of VirtualMachine %s: %s", name, message(err)) //nolint:staticcheck // KubeVirt's wording
			}
			// A VM has at most one migration in flight (virt-api refuses a second), and
			// any number that ended.
			for _, m := range migrations.Items {
				if m.Status.Phase.IsFinal() || m.DeletionTimestamp != nil {
					continue
				}
				del := kv.Delete().Namespace(ns).Resource("virtualmachineinstancemigrations").Name(m.Name)
				if dry {
					del = del.Param("dryRun", metav1.DryRunAll)
				}
				if err := del.Do(cmd.Context()).Error(); err != nil {
					return fmt.Errorf("Error canceling migration %s of a VirtualMachine %s: %s", m.Name, name, message(err)) //nolint:staticcheck // KubeVirt's wording
				}
				fmt.Fprintf(cmd.OutOrStdout(), "VM %s was scheduled to migrate-cancel\n", name)
				return nil
			}
			return fmt.Errorf("Found no migration to cancel for %s", name) //nolint:staticcheck // KubeVirt's wording
		},
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "check the request without acting on it")
	return cmd
}

// newEvacuateCancelCommand stops the evacuation of a VM's or VMI's guest, as KubeVirt's
// virtctl does: virt-api clears the VMI's status.evacuationNodeName, naming the node the
// VMI runs on, so that no newer evacuation from another node is cleared by mistake.
func newEvacuateCancelCommand(cfg *clientConfig) *cobra.Command {
	var dry bool
	cmd := &cobra.Command{
		Use:   "evacuate-cancel (vm NAME | vmi NAME)",
		Short: "Cancel the evacuation of a virtual machine (its VMI is no longer migrated off a drained node).",
		Long: "Cancel the evacuation of a virtual machine: virt-controller makes no new evacuation\n" +
			"migration for its VMI (one in flight goes on: virtctl migrate-cancel stops it). Stop the\n" +
			"drain and uncordon the node first, or the drain's next eviction marks the VMI again.",
		Example: "  virtctl evacuate-cancel vm myvm\n  virtctl evacuate-cancel vmi myvmi",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name := args[0], args[1]
			var resource, label string
			switch strings.ToLower(kind) {
			case "vm", "vms", "virtualmachine", "virtualmachines":
				resource, label = "virtualmachines", "VM"
			case "vmi", "vmis", "virtualmachineinstance", "virtualmachineinstances":
				resource, label = "virtualmachineinstances", "VMI"
			default:
				return fmt.Errorf("unsupported resource type %q: use vm or vmi", kind)
			}
			ns, kv, err := cfg.kubevirtIn()
			if err != nil {
				return err
			}
			vmi := &v1.VirtualMachineInstance{}
			if err := kv.Get().Namespace(ns).Resource("virtualmachineinstances").Name(name).Do(cmd.Context()).Into(vmi); err != nil {
				return fmt.Errorf("error retrieving VMI for evacuation cancel for %s %s/%s: %s", label, ns, name, message(err))
			}
			if vmi.Status.NodeName == "" {
				return fmt.Errorf("%s %s/%s doesn't report Node name", label, ns, name)
			}
			if dry {
				fmt.Fprintln(cmd.OutOrStdout(), "Dry Run execution")
			}
			opts := &subresourcesv1.EvacuateCancelOptions{DryRun: dryRun(dry), EvacuationNodeName: vmi.Status.NodeName}
			if err := put(cmd, cfg, resource, name, "evacuate/cancel", opts); err != nil {
				return fmt.Errorf("error canceling evacuation for %s %s/%s: %s", label, ns, name, message(err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s/%s was canceled evacuation\n", label, ns, name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "check the request without acting on it")
	return cmd
}
