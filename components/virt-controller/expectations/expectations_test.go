package expectations

import (
	"testing"
	"time"
)

func TestSatisfied(t *testing.T) {
	now := time.Unix(1000, 0)
	s := New()
	s.now = func() time.Time { return now }
	inCache := map[string]bool{}
	cached := func(name string) bool { return inCache[name] }

	if !s.Satisfied("a", cached) {
		t.Fatal("an owner with no expectation must be satisfied")
	}
	s.ExpectCreation("a", "pod-1")
	if s.Satisfied("a", cached) {
		t.Fatal("a created pod the cache does not show yet must block the owner")
	}
	inCache["pod-1"] = true
	if !s.Satisfied("a", cached) {
		t.Fatal("the cache shows the pod: the expectation must be met")
	}

	s.ExpectDeletion("a", "pod-1")
	if s.Satisfied("a", cached) {
		t.Fatal("a deleted pod still in the cache must block the owner")
	}
	delete(inCache, "pod-1")
	if !s.Satisfied("a", cached) {
		t.Fatal("the pod left the cache: the expectation must be met")
	}

	s.ExpectCreation("b", "pod-2")
	now = now.Add(Timeout + time.Second)
	if !s.Satisfied("b", cached) {
		t.Fatal("an expectation older than the timeout must expire")
	}
}
