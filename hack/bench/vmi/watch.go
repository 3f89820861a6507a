package main

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// watchVMIs calls note with every VMI of namespace the API server reports, as it
// reports it (an informer: one list, then a watch). The benchmark follows VMIs this way,
// not by listing them every few hundred milliseconds: the list would be the API
// server's biggest load and count in the figures. stop ends the watch.
func watchVMIs(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, namespace string, note func(*v1.VirtualMachineInstance)) (stop func(), err error) {
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultNamespaces: map[string]cache.Config{namespace: {}}})
	if err != nil {
		return nil, err
	}
	informer, err := informers.GetInformer(ctx, &v1.VirtualMachineInstance{})
	if err != nil {
		return nil, err
	}
	handle := func(obj any) {
		if vmi, ok := obj.(*v1.VirtualMachineInstance); ok {
			note(vmi)
		}
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, obj any) { handle(obj) },
	}); err != nil {
		return nil, err
	}
	watchCtx, cancel := context.WithCancel(ctx)
	go func() { _ = informers.Start(watchCtx) }()
	if !informers.WaitForCacheSync(ctx) {
		cancel()
		return nil, fmt.Errorf("the VMI watch in %s did not sync", namespace)
	}
	return cancel, nil
}
