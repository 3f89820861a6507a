// Package cmd holds virtctl's commands.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	corev1 "github.com/hypernest/hypernest/api/core/v1"
	hnscheme "github.com/hypernest/hypernest/api/scheme"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
)

// clientConfig is the kubeconfig and its overrides, from kubectl's flags.
type clientConfig struct {
	loader clientcmd.ClientConfig
}

func (c *clientConfig) namespace() (string, error) {
	ns, _, err := c.loader.Namespace()
	return ns, err
}

func (c *clientConfig) restConfig() (*rest.Config, error) {
	cfg, err := c.loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no usable kubeconfig (%w): pass --kubeconfig or set KUBECONFIG", err)
	}
	return cfg, nil
}

// subresources is a REST client of subresources.kubevirt.io/v1.
func (c *clientConfig) subresources() (*rest.RESTClient, error) {
	cfg, err := c.restConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.APIPath = "/apis"
	cfg.GroupVersion = &subresourcesv1.SchemeGroupVersion
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return rest.RESTClientFor(cfg)
}

// kubevirtIn is the namespace a command acts in and a kubevirt.io/v1 client.
func (c *clientConfig) kubevirtIn() (string, *rest.RESTClient, error) {
	ns, err := c.namespace()
	if err != nil {
		return "", nil, err
	}
	kv, err := c.kubevirt()
	return ns, kv, err
}

// subresourcesIn is the namespace a command acts in and a subresources.kubevirt.io/v1 client.
func (c *clientConfig) subresourcesIn() (string, *rest.RESTClient, error) {
	ns, err := c.namespace()
	if err != nil {
		return "", nil, err
	}
	client, err := c.subresources()
	return ns, client, err
}

// restGetter is the part of a REST client virtctl reads objects with.
type restGetter interface {
	Get() *rest.Request
}

// kubevirt is a REST client of kubevirt.io/v1 (VMs and VMIs).
func (c *clientConfig) kubevirt() (*rest.RESTClient, error) {
	cfg, err := c.restConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.APIPath = "/apis"
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(hnscheme.Scheme).WithoutConversion()
	return rest.RESTClientFor(cfg)
}

// NewRootCommand is virtctl with all its commands.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "virtctl",
		Short:         "virtctl controls virtual machines on Hypernest (and KubeVirt) clusters.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	overrides := &clientcmd.ConfigOverrides{}
	root.PersistentFlags().StringVar(&rules.ExplicitPath, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	clientcmd.BindOverrideFlags(overrides, root.PersistentFlags(), clientcmd.RecommendedConfigOverrideFlags(""))
	cfg := &clientConfig{loader: clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)}

	root.AddCommand(
		newStartCommand(cfg), newStopCommand(cfg), newRestartCommand(cfg),
		newPauseCommand(cfg, true), newPauseCommand(cfg, false),
		newMigrateCommand(cfg), newMigrateCancelCommand(cfg), newEvacuateCancelCommand(cfg),
		newConsoleCommand(cfg), newVNCCommand(cfg), newGuestOSInfoCommand(cfg), newVersionCommand(cfg), newCreateCommand(cfg), newExposeCommand(cfg), newPortForwardCommand(cfg),
	)
	return root
}

// Execute runs virtctl and returns its exit code.
func Execute() int {
	if err := NewRootCommand().ExecuteContext(context.Background()); err != nil {
		msg := message(err)
		if !strings.HasPrefix(msg, "Error") {
			msg = "Error: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		return 1
	}
	return 0
}

// message is an error as the user should read it: the API server's message, not Go's
// wrapping of it.
func message(err error) string {
	var status *apierrors.StatusError
	if errors.As(err, &status) && status.ErrStatus.Message != "" {
		return status.ErrStatus.Message
	}
	return err.Error()
}
