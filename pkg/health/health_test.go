package health

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

func TestHandlerNamesTheFailingCheck(t *testing.T) {
	h := Handler(map[string]healthz.Checker{
		"informers": func(*http.Request) error { return errors.New("not synced") },
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "informers: not synced") {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}

	rec = httptest.NewRecorder()
	Handler(map[string]healthz.Checker{"ping": healthz.Ping}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "ok" {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
}

func TestCacheSyncedIsNotReadyBeforeTheCacheStarts(t *testing.T) {
	c, err := cache.New(&rest.Config{Host: "https://127.0.0.1:1"}, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := CacheSynced(c)(httptest.NewRequest(http.MethodGet, "/readyz", nil)); err == nil {
		t.Fatal("a cache that never started is ready")
	}
}
