// Command virtctl is Hypernest's command line for what kubectl cannot do with VMs: start,
// stop, restart, pause and unpause them, and open their serial console and VNC. It
// takes kubectl's kubeconfig flags and works against KubeVirt clusters too.
package main

import (
	"os"

	"github.com/hypernest/hypernest/components/virtctl/cmd"
)

func main() {
	os.Exit(cmd.Execute())
}
