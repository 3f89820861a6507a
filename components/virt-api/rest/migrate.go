package rest

import (
	"context"
	"errors"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
)

// migrationGenerateName prefixes the names of the migrations the migrate subresource
// creates: KubeVirt's, which users and tools (kubectl get vmim) recognise.
const migrationGenerateName = "kubevirt-migrate-vm-"

// migrate asks for a live migration of a running VM: like start and stop it acts on
// nothing itself, it creates a VirtualMachineInstanceMigration for the VM's VMI, which
// the migration webhooks admit (or refuse, with their reason) and virt-controller
// carries out. virt-api creates it as itself; the caller's right to ask is the
// virtualmachines/migrate RBAC checked before this runs, as in KubeVirt.
func (a *API) migrate(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
	opts := &subresourcesv1.MigrateOptions{}
	a.vmCall(w, r, name, opts, func(ctx context.Context, _ *v1.VirtualMachine, vmi *v1.VirtualMachineInstance) error {
		if vmi == nil || vmi.Status.Phase != v1.Running {
			return apierrors.NewConflict(vmResource, name.Name, errors.New("VM is not running"))
		}
		migration := &v1.VirtualMachineInstanceMigration{
			ObjectMeta: metav1.ObjectMeta{Namespace: name.Namespace, GenerateName: migrationGenerateName},
			Spec:       v1.VirtualMachineInstanceMigrationSpec{VMIName: vmi.Name, AddedNodeSelector: opts.AddedNodeSelector},
		}
		var createOpts []client.CreateOption
		if isDryRun(opts.DryRun) {
			createOpts = append(createOpts, client.DryRunAll)
		}
		// The API server's answer is passed on as it is (KubeVirt wraps it in a 500): a
		// webhook's refusal keeps its code and its reason, which virtctl prints.
		return a.Client.Create(ctx, migration, createOpts...)
	})
}
