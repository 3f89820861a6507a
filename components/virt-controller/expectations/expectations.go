// Package expectations remembers the pods and VMIs a controller has just created or
// deleted, until its informer cache shows them. Without it, a reconcile that runs before
// the cache catches up sees "no pod" and creates a second one.
package expectations

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Timeout bounds how long an unobserved expectation blocks its owner; the same five
// minutes as Kubernetes' ControllerExpectations (ExpectationsTimeout), after which the
// cache is trusted again so a lost watch event cannot wedge an owner forever.
const Timeout = 5 * time.Minute

type expectation struct {
	name    string // the created (or deleted) object's name
	deleted bool
	at      time.Time
}

// Store holds at most one pending expectation per owner.
type Store struct {
	mu      sync.Mutex
	pending map[types.UID]expectation
	now     func() time.Time
}

// New returns an empty store.
func New() *Store { return &Store{pending: map[types.UID]expectation{}, now: time.Now} }

// ExpectCreation records that owner created an object called name.
func (s *Store) ExpectCreation(owner types.UID, name string) {
	s.set(owner, expectation{name: name, at: s.now()})
}

// ExpectDeletion records that owner deleted the object called name.
func (s *Store) ExpectDeletion(owner types.UID, name string) {
	s.set(owner, expectation{name: name, deleted: true, at: s.now()})
}

func (s *Store) set(owner types.UID, e expectation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending[owner] = e
}

// Satisfied reports whether the cache, which holds the objects named in cached, has
// caught up with owner's last creation or deletion. A satisfied or expired expectation
// is forgotten.
func (s *Store) Satisfied(owner types.UID, cached func(name string) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.pending[owner]
	if !ok {
		return true
	}
	if e.deleted != cached(e.name) || s.now().Sub(e.at) > Timeout {
		delete(s.pending, owner)
		return true
	}
	return false
}

// Forget drops owner's expectation (the owner is gone).
func (s *Store) Forget(owner types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, owner)
}
