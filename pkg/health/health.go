// Package health holds the readiness checks the components serve on /readyz (virt-api on
// /healthz, which its readiness probe reads): a component is ready when it can do its
// job, not merely when its process answers.
package health

import (
	"context"
	"errors"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// cacheSyncWait bounds how long one probe waits for the informers: kubelet's default probe
// timeout is 1 s.
const cacheSyncWait = 500 * time.Millisecond

// CacheSynced is ready once the manager's informers have listed what they watch: until
// then a cached read fails or waits, and a webhook or reconcile would act on nothing.
func CacheSynced(c cache.Cache) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), cacheSyncWait)
		defer cancel()
		if !c.WaitForCacheSync(ctx) {
			return errors.New("the informer caches have not synced yet")
		}
		return nil
	}
}

// Handler serves checks as one endpoint: 200 "ok" when all pass, 500 naming the first
// that fails.
func Handler(checks map[string]healthz.Checker) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		for name, check := range checks {
			if err := check(req); err != nil {
				http.Error(w, name+": "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		_, _ = w.Write([]byte("ok"))
	})
}
