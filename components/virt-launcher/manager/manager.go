// Package manager runs the launcher's one domain through libvirt: it prepares the disks,
// defines and starts the domain, pauses, shuts down and kills it, and follows its state
// through libvirt's lifecycle events, publishing every change to subscribers (the command
// server's WatchDomain streams).
package manager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-launcher/disks"
	"github.com/hypernest/hypernest/components/virt-launcher/domain"
	"github.com/hypernest/hypernest/components/virt-launcher/libvirtd"
)

// ErrNoDomain is returned by commands that need a domain before Sync created one.
var ErrNoDomain = errors.New("no domain: Sync has not created one yet")

// resyncPeriod is how often the state is read even without an event, in case libvirt
// dropped one (it does not queue events for a client that reconnects).
const resyncPeriod = 5 * time.Second

// Manager owns the launcher's domain.
type Manager struct {
	log       logr.Logger
	conn      *libvirt.Connect
	preparer  *disks.Preparer
	sockets   string
	directIO  bool
	syncMu    sync.Mutex // one Sync at a time: a retried Sync waits for the first, then finds its domain
	refreshMu sync.Mutex // one state read-and-publish at a time, so reads are published in order
	mu        sync.Mutex
	name      string // libvirt domain name, once Sync defined it
	vmiUID    string
	status    *launcherv1.DomainStatus
	// started is set once CreateWithFlags returned: only a state read begun after that
	// can show the guest's end (a read begun before it sees the defined, never-run domain).
	started bool
	// stoppedEvent is set when libvirt's lifecycle event says a started domain stopped.
	stoppedEvent bool
	subs         map[chan *launcherv1.DomainStatus]struct{}
	final        chan struct{}
	finalOnce    sync.Once
	timer        *time.Timer // destroys the domain when a shutdown's grace period ends
	closed       chan struct{}
	plumbing     []*launcherv1.InterfacePlumbing // the pod network wiring Sync was given
	agent        agentState                      // what the guest agent last said (pollAgent)
	agentWake    chan struct{}                   // wakes pollAgent when the agent (dis)connects
	// target: PrepareMigrationTarget ran; the domain arrives with a migration instead of
	// being started here (started is set once it runs).
	target bool
	// migration is the last migration this launcher ran as the source.
	migration *launcherv1.MigrationStatus
}

var eventLoopOnce sync.Once

// New connects to the launcher's libvirt daemon at uri.
func New(log logr.Logger, uri string, preparer *disks.Preparer, socketsDir string) (*Manager, error) {
	eventLoopOnce.Do(func() {
		if err := libvirt.EventRegisterDefaultImpl(); err != nil {
			log.Error(err, "registering libvirt's event loop")
			return
		}
		go func() {
			for {
				if err := libvirt.EventRunDefaultImpl(); err != nil {
					log.Error(err, "libvirt event loop")
					time.Sleep(time.Second)
				}
			}
		}()
	})
	conn, err := libvirt.NewConnect(uri)
	if err != nil {
		return nil, fmt.Errorf("connecting to libvirt at %s: %w", uri, err)
	}
	m := &Manager{
		log:       log,
		conn:      conn,
		preparer:  preparer,
		sockets:   socketsDir,
		directIO:  disks.SupportsDirectIO(preparer.PrivateDir),
		status:    &launcherv1.DomainStatus{State: launcherv1.DomainState_NO_DOMAIN},
		subs:      map[chan *launcherv1.DomainStatus]struct{}{},
		final:     make(chan struct{}),
		closed:    make(chan struct{}),
		agentWake: make(chan struct{}, 1),
	}
	if _, err := conn.DomainEventLifecycleRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, ev *libvirt.DomainEventLifecycle) {
		m.log.V(1).Info("domain event", "event", ev.String())
		if ev.Event == libvirt.DOMAIN_EVENT_STOPPED || ev.Event == libvirt.DOMAIN_EVENT_CRASHED {
			m.mu.Lock()
			// Only a domain this launcher started can stop; an event about the
			// defined domain before its start says nothing about the guest.
			if m.started {
				m.stoppedEvent = true
			}
			m.mu.Unlock()
		}
		m.refresh()
	}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("subscribing to libvirt's domain events: %w", err)
	}
	if _, err := conn.DomainEventAgentLifecycleRegister(nil, func(_ *libvirt.Connect, _ *libvirt.Domain, ev *libvirt.DomainEventAgentLifecycle) {
		m.log.V(1).Info("guest agent event", "state", ev.State)
		select {
		case m.agentWake <- struct{}{}:
		default:
		}
	}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("subscribing to libvirt's guest agent events: %w", err)
	}
	go m.pollAgent()
	go func() {
		ticker := time.NewTicker(resyncPeriod)
		defer ticker.Stop()
		for {
			select {
			case <-m.closed:
				return
			case <-ticker.C:
				m.refresh()
			}
		}
	}()
	return m, nil
}

// Close releases the libvirt connection.
func (m *Manager) Close() {
	close(m.closed)
	m.conn.Close()
}

// Sync creates and starts the domain for vmi, or does nothing when it already exists.
func (m *Manager) Sync(ctx context.Context, vmi *v1.VirtualMachineInstance, ifaces []*launcherv1.InterfacePlumbing, opts *launcherv1.LaunchOptions) error {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	if done, err := m.claimed(vmi, false); done || err != nil {
		return err
	}

	began := time.Now()
	dom, prepared, err := m.convert(ctx, vmi, ifaces, opts)
	if err != nil {
		return err
	}
	xml, err := dom.Marshal()
	if err != nil {
		return err
	}
	m.log.V(1).Info("defining domain", "xml", xml)
	d, err := m.conn.DomainDefineXML(xml)
	if err != nil {
		return fmt.Errorf("libvirt refused the domain: %w", err)
	}
	defer d.Free()
	flags := libvirt.DOMAIN_NONE
	if vmi.Spec.StartStrategy != nil && *vmi.Spec.StartStrategy == v1.StartStrategyPaused {
		flags = libvirt.DOMAIN_START_PAUSED
	}
	m.mu.Lock()
	m.name, m.vmiUID, m.plumbing = dom.Name, string(vmi.UID), ifaces
	m.mu.Unlock()
	if err := d.CreateWithFlags(flags); err != nil {
		m.mu.Lock()
		m.name = "" // the next Sync tries again
		m.mu.Unlock()
		return fmt.Errorf("starting the domain: %w", err)
	}
	// Only now: until it started, the defined domain is shut off, which is not an end.
	m.mu.Lock()
	m.started = true
	m.mu.Unlock()
	m.log.Info("domain started", "domain", dom.Name, "paused", flags == libvirt.DOMAIN_START_PAUSED,
		"prepareDisks", prepared.String(), "total", time.Since(began).String())
	m.refresh()
	return nil
}

// claimed tells whether this launcher already took vmi on, the way asked (asTarget:
// PrepareMigrationTarget, else Sync), so a repeated call does nothing; it fails when the
// launcher holds another VMI, or this one the other way. Callers hold syncMu.
func (m *Manager) claimed(vmi *v1.VirtualMachineInstance, asTarget bool) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.name == "":
		return false, nil
	case m.vmiUID != string(vmi.UID):
		return true, fmt.Errorf("this launcher runs the domain of VMI %s, not %s", m.vmiUID, vmi.UID)
	case m.target && !asTarget:
		return true, errors.New("this launcher is a migration target: its domain comes from the source, it does not start one")
	case !m.target && asTarget:
		return true, errors.New("this launcher started its domain itself; it cannot receive a migration")
	}
	return true, nil
}

// seedCapabilities fills libvirt's QEMU capabilities cache before the first define:
// libvirt looks the emulator up there, and probes QEMU (about 0.2 CPU-s and 2 s on a TCG
// node) unless its cache holds a valid entry.
func (m *Manager) seedCapabilities(dom *libvirtxml.Domain, opts *launcherv1.LaunchOptions) {
	capabilities := opts.GetQemuCapabilities()
	if domain.GuestCPUReadByFeatureWords(dom) {
		capabilities = libvirtd.WithFeatureWordsCPURead(capabilities)
	}
	if n, err := libvirtd.SeedQEMUCapabilities(m.preparer.PrivateDir, capabilities); err != nil {
		m.log.Error(err, "seeding libvirt's QEMU capabilities cache; libvirt probes QEMU itself")
	} else if n > 0 {
		m.log.V(1).Info("seeded libvirt's QEMU capabilities cache", "files", n)
	}
}

func (m *Manager) lookup() (*libvirt.Domain, error) {
	m.mu.Lock()
	name := m.name
	m.mu.Unlock()
	if name == "" {
		return nil, ErrNoDomain
	}
	return m.conn.LookupDomainByName(name)
}

// Pause suspends the guest.
func (m *Manager) Pause() error {
	return m.withDomain(func(d *libvirt.Domain) error { return d.Suspend() })
}

// Unpause resumes the guest.
func (m *Manager) Unpause() error {
	return m.withDomain(func(d *libvirt.Domain) error { return d.Resume() })
}

// Kill destroys the domain at once.
func (m *Manager) Kill() error {
	return m.withDomain(func(d *libvirt.Domain) error {
		if active, _ := d.IsActive(); !active {
			return nil
		}
		return d.Destroy()
	})
}

// Shutdown presses the guest's ACPI power button and destroys the domain if it still runs
// after grace. A grace of 0 destroys it at once.
func (m *Manager) Shutdown(grace time.Duration) error {
	if grace <= 0 {
		return m.Kill()
	}
	err := m.withDomain(func(d *libvirt.Domain) error {
		if active, _ := d.IsActive(); !active {
			return nil
		}
		return d.ShutdownFlags(libvirt.DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.timer == nil {
		m.log.Info("shutting down the guest", "gracePeriod", grace)
		m.timer = time.AfterFunc(grace, func() {
			m.log.Info("the guest did not shut down within its grace period; destroying it", "gracePeriod", grace)
			if err := m.Kill(); err != nil {
				m.log.Error(err, "destroying the domain")
			}
		})
	}
	m.mu.Unlock()
	return nil
}

func (m *Manager) withDomain(op func(*libvirt.Domain) error) error {
	d, err := m.lookup()
	if err != nil {
		return err
	}
	defer d.Free()
	if err := op(d); err != nil {
		return err
	}
	m.refresh()
	return nil
}

// Status returns the domain's current status.
func (m *Manager) Status() *launcherv1.DomainStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return cloneStatus(m.status)
}

// Subscribe returns a channel receiving the current status and every change after it,
// and a function to stop.
func (m *Manager) Subscribe() (<-chan *launcherv1.DomainStatus, func()) {
	ch := make(chan *launcherv1.DomainStatus, 16)
	m.mu.Lock()
	m.subs[ch] = struct{}{}
	ch <- cloneStatus(m.status)
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		delete(m.subs, ch)
		m.mu.Unlock()
	}
}

// Final is closed once the domain stopped for good (shut off or crashed after it ran).
func (m *Manager) Final() <-chan struct{} { return m.final }

// refresh reads the domain's state and publishes it when it changed.
//
// It runs from libvirt's event loop, the resync ticker and after every command, so reads
// race with Sync's start. Two rules keep a just-started guest from being taken for a
// finished one (issue: a burst of launchers on 2 cores showed SHUTOFF published after
// "domain started", and the pod completed): refreshes run one at a time, so a stale read
// is never published after a newer one; and a read counts only for the start state it
// was taken under, so a read begun before the start returned cannot end the guest.
func (m *Manager) refresh() {
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	m.mu.Lock()
	startedBeforeRead := m.started
	m.mu.Unlock()

	status := &launcherv1.DomainStatus{State: launcherv1.DomainState_NO_DOMAIN}
	if d, err := m.lookup(); err == nil {
		state, reason, err := d.GetState()
		if err == nil {
			status.State, status.Reason = mapState(state, reason)
		}
		if xml, err := d.GetXMLDesc(0); err == nil {
			status.Interfaces = interfacesFromXML(xml)
			status.Machine = machineFromXML(xml)
			if status.State == launcherv1.DomainState_PAUSED && status.Reason == launcherv1.ReasonPausedIOError {
				if errs, err := d.GetDiskErrors(0); err == nil {
					status.DiskErrors = diskErrors(xml, errs)
				}
			}
		}
		d.Free()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.target && !m.started && (status.State == launcherv1.DomainState_RUNNING ||
		(status.State == launcherv1.DomainState_PAUSED && status.Reason != launcherv1.ReasonPausedMigration && status.Reason != "StartingUp")) {
		// The incoming migration finished: the domain is this launcher's now, and
		// whatever stops it from here on is the guest's end.
		m.started, startedBeforeRead = true, true
	}
	if !startedBeforeRead && status.State == launcherv1.DomainState_SHUTOFF {
		// Defined, not started when the read began (Sync is between define and start):
		// there is no running domain to report, and nothing ended.
		status.State, status.Reason = launcherv1.DomainState_NO_DOMAIN, ""
	}
	if status.State == launcherv1.DomainState_SHUTOFF && status.Reason == "" && !m.stoppedEvent {
		// Shut off for an unknown reason and no stop event: libvirt gives a domain that ran
		// and stopped a reason (shutdown, destroyed, crashed, failed, ...) and sends
		// STOPPED; without either this is not evidence that the guest ended. Keep the last
		// state until there is.
		status.State, status.Reason = m.status.State, m.status.Reason
	}
	status.VmiUid = m.vmiUID
	status.Plumbing = m.plumbing
	status.MigrationTarget = m.target
	if m.migration != nil {
		status.Migration = cloneMessage(m.migration)
	}
	applyAgent(status, m.agent)
	status.StartedAt = m.status.StartedAt
	if status.State == launcherv1.DomainState_RUNNING && status.StartedAt == "" {
		status.StartedAt = time.Now().UTC().Format(time.RFC3339)
	}
	changed := status.State != m.status.State || status.Reason != m.status.Reason ||
		status.MigrationTarget != m.status.MigrationTarget || !proto.Equal(status.Migration, m.status.Migration) ||
		status.AgentConnected != m.status.AgentConnected || !proto.Equal(status.GuestOs, m.status.GuestOs) ||
		!messagesEqual(status.Interfaces, m.status.Interfaces) || !messagesEqual(status.DiskErrors, m.status.DiskErrors)
	m.status = status
	if changed {
		m.log.Info("domain state", "state", status.State.String(), "reason", status.Reason)
		for ch := range m.subs {
			select {
			case ch <- cloneStatus(status):
			default: // a slow subscriber gets the next change; it always has the latest via Status
			}
		}
	}
	if startedBeforeRead && (status.State == launcherv1.DomainState_SHUTOFF || status.State == launcherv1.DomainState_CRASHED) {
		if m.timer != nil {
			m.timer.Stop()
		}
		m.finalOnce.Do(func() { close(m.final) })
	}
}

func cloneStatus(s *launcherv1.DomainStatus) *launcherv1.DomainStatus {
	return cloneMessage(s)
}

func cloneMessage[M proto.Message](s M) M {
	return proto.Clone(s).(M)
}

// messagesEqual compares element by element, so a changed disk error or address is
// published, not only a changed count.
func messagesEqual[M proto.Message](a, b []M) bool {
	return slices.EqualFunc(a, b, func(x, y M) bool { return proto.Equal(x, y) })
}

// mapState turns libvirt's state and reason into the launcher API's.
func mapState(state libvirt.DomainState, reason int) (launcherv1.DomainState, string) {
	switch state {
	case libvirt.DOMAIN_RUNNING:
		return launcherv1.DomainState_RUNNING, runningReasons[libvirt.DomainRunningReason(reason)]
	case libvirt.DOMAIN_PAUSED:
		return launcherv1.DomainState_PAUSED, pausedReasons[libvirt.DomainPausedReason(reason)]
	case libvirt.DOMAIN_SHUTDOWN:
		return launcherv1.DomainState_SHUTTING_DOWN, "Shutdown"
	case libvirt.DOMAIN_SHUTOFF:
		return launcherv1.DomainState_SHUTOFF, shutoffReasons[libvirt.DomainShutoffReason(reason)]
	case libvirt.DOMAIN_CRASHED:
		return launcherv1.DomainState_CRASHED, "Crashed"
	}
	return launcherv1.DomainState_DOMAIN_STATE_UNSPECIFIED, ""
}

var runningReasons = map[libvirt.DomainRunningReason]string{
	libvirt.DOMAIN_RUNNING_BOOTED:   "Booted",
	libvirt.DOMAIN_RUNNING_UNPAUSED: "Unpaused",
	libvirt.DOMAIN_RUNNING_MIGRATED: "Migrated",
}

var pausedReasons = map[libvirt.DomainPausedReason]string{
	libvirt.DOMAIN_PAUSED_USER:          launcherv1.ReasonPausedUser,
	libvirt.DOMAIN_PAUSED_IOERROR:       launcherv1.ReasonPausedIOError,
	libvirt.DOMAIN_PAUSED_STARTING_UP:   "StartingUp",
	libvirt.DOMAIN_PAUSED_SHUTTING_DOWN: "ShuttingDown",
	libvirt.DOMAIN_PAUSED_CRASHED:       "Crashed",
	libvirt.DOMAIN_PAUSED_MIGRATION:     launcherv1.ReasonPausedMigration,
	libvirt.DOMAIN_PAUSED_POSTCOPY:      launcherv1.ReasonPausedMigration,
}

var shutoffReasons = map[libvirt.DomainShutoffReason]string{
	libvirt.DOMAIN_SHUTOFF_SHUTDOWN:  "Shutdown",
	libvirt.DOMAIN_SHUTOFF_DESTROYED: "Destroyed",
	libvirt.DOMAIN_SHUTOFF_CRASHED:   "Crashed",
	libvirt.DOMAIN_SHUTOFF_FAILED:    "Failed",
	libvirt.DOMAIN_SHUTOFF_SAVED:     "Saved",
	libvirt.DOMAIN_SHUTOFF_MIGRATED:  launcherv1.ReasonShutoffMigrated,
}
