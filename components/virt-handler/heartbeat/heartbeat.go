// Package heartbeat tells the cluster that virt-handler runs on its node: it labels the
// node kubevirt.io/schedulable=true and stamps kubevirt.io/heartbeat, and labels it
// unschedulable when it stops. VMIs are scheduled only to nodes with a live handler.
package heartbeat

import (
	"context"
	"encoding/json"
	"time"

	"github.com/go-logr/logr"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// Period between heartbeats. KubeVirt's handler beats every minute and its controller
// calls a node dead after five; 30 s halves the time a fresh node waits to be used.
const Period = 30 * time.Second

// Run beats until ctx ends, then marks the node unschedulable.
func Run(ctx context.Context, log logr.Logger, c client.Client, node string) {
	beat := func(ctx context.Context, schedulable bool) {
		patch := map[string]any{"metadata": map[string]any{
			"labels":      map[string]string{v1.NodeSchedulable: boolString(schedulable)},
			"annotations": map[string]string{v1.VirtHandlerHeartbeat: time.Now().UTC().Format(time.RFC3339)},
		}}
		data, _ := json.Marshal(patch)
		n := &k8sv1.Node{}
		n.Name = node
		if err := c.Patch(ctx, n, client.RawPatch(types.MergePatchType, data)); err != nil {
			log.Error(err, "heartbeat", "node", node)
		}
	}
	beat(ctx, true)
	ticker := time.NewTicker(Period)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			beat(stop, false)
			cancel()
			return
		case <-ticker.C:
			beat(ctx, true)
		}
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
