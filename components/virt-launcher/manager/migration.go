package manager

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-launcher/domain"
)

// The migration monitor's pace: KubeVirt's launcher reads the job's progress every
// 400 ms and logs it every 4 s.
const (
	monitorInterval = 400 * time.Millisecond
	monitorLogEvery = 10
)

// abortTimeout bounds how long an abort may take before it is reported failed: KubeVirt
// gives libvirt 30 s to abort a migration job.
const abortTimeout = 30 * time.Second

// failureAborted is KubeVirt's failure reason for a cancelled migration.
const failureAborted = "Live migration has been aborted"

// PrepareMigrationTarget readies this launcher for an incoming migration of vmi: the
// disks' files exist where the source's domain XML says (the same paths in every launcher
// pod), the guest's network service runs, libvirt's QEMU capabilities are seeded. The
// domain itself comes with the migration.
func (m *Manager) PrepareMigrationTarget(ctx context.Context, vmi *v1.VirtualMachineInstance, ifaces []*launcherv1.InterfacePlumbing, opts *launcherv1.LaunchOptions) error {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	if done, err := m.claimed(vmi, true); done || err != nil {
		return err
	}
	dom, _, err := m.convert(ctx, vmi, ifaces, opts)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.name, m.vmiUID, m.plumbing, m.target = dom.Name, string(vmi.UID), ifaces, true
	m.mu.Unlock()
	m.log.Info("ready to receive the domain", "domain", dom.Name)
	m.refresh()
	return nil
}

// Migrate starts the live migration of the domain to the launcher joined to this pod's
// migration sockets. It returns once the migration runs; its end is published in the
// domain status. Asked again for the same migration, it does nothing: a migration UID
// runs once (KubeVirt's "one shot"), so a retried call cannot start a second copy.
func (m *Manager) Migrate(req *launcherv1.MigrateRequest) error {
	if req.GetUid() == "" {
		return errors.New("the migration request has no uid")
	}
	m.mu.Lock()
	switch {
	case m.migration != nil && m.migration.Uid == req.Uid:
		m.mu.Unlock()
		return nil
	case m.migration != nil && !m.migration.Completed:
		uid := m.migration.Uid
		m.mu.Unlock()
		return fmt.Errorf("migration %s is still running", uid)
	case m.target && !m.started:
		// Once the incoming guest runs here, it is this launcher's to send on.
		m.mu.Unlock()
		return errors.New("this launcher is a migration target still waiting for its domain; it has none to send")
	case !m.started:
		m.mu.Unlock()
		return ErrNoDomain
	}
	m.mu.Unlock()

	d, err := m.lookup()
	if err != nil {
		return err
	}
	state, _, err := d.GetState()
	if err != nil {
		d.Free()
		return err
	}
	if state != libvirt.DOMAIN_RUNNING && state != libvirt.DOMAIN_PAUSED {
		d.Free()
		return fmt.Errorf("the domain is not running (libvirt state %d); only a running guest migrates", state)
	}
	xml, err := d.GetXMLDesc(libvirt.DOMAIN_XML_MIGRATABLE)
	if err != nil {
		d.Free()
		return fmt.Errorf("reading the domain's migratable XML: %w", err)
	}
	copied, err := m.localDisks(xml)
	if err != nil {
		d.Free()
		return err
	}
	flags := libvirt.MIGRATE_LIVE | libvirt.MIGRATE_PEER2PEER | libvirt.MIGRATE_PERSIST_DEST
	if len(copied) > 0 {
		// Only the overlays' own clusters travel: the images under them are the same
		// containerDisk images on the target.
		flags |= libvirt.MIGRATE_NON_SHARED_INC
	}
	if req.AutoConverge {
		flags |= libvirt.MIGRATE_AUTO_CONVERGE
	}
	if state == libvirt.DOMAIN_PAUSED {
		flags |= libvirt.MIGRATE_PAUSED // a guest paused here stays paused there
	}
	m.mu.Lock()
	name := m.name
	m.migration = &launcherv1.MigrationStatus{
		Uid:            req.Uid,
		StartTimestamp: timestamp(time.Now()),
		Mode:           string(v1.MigrationPreCopy),
		CopiedDisks:    copied,
	}
	m.mu.Unlock()
	params := &libvirt.DomainMigrateParameters{
		URISet: true, URI: "unix://" + filepath.Join(m.sockets, launcherv1.MigrationMemorySocket),
		DestNameSet: true, DestName: name,
		DestXMLSet: true, DestXML: xml,
		PersistXMLSet: true, PersistXML: xml,
	}
	if req.BandwidthMibPerSecond > 0 {
		params.BandwidthSet, params.Bandwidth = true, req.BandwidthMibPerSecond
	}
	if len(copied) > 0 {
		params.MigrateDisksSet, params.MigrateDisks = true, copied
		params.DisksURISet, params.DisksURI = true, "unix://"+filepath.Join(m.sockets, launcherv1.MigrationDisksSocket)
	}
	destination := "qemu+unix:///session?socket=" + filepath.Join(m.sockets, launcherv1.MigrationLibvirtSocket)
	m.log.Info("migrating the domain", "migration", req.Uid, "destination", destination, "copiedDisks", copied, "flags", uint(flags))
	m.refresh()

	done := make(chan struct{})
	go m.monitorMigration(d, req, done)
	go func() {
		err := d.MigrateToURI3(destination, params, flags)
		var downtime *uint64
		if err == nil {
			downtime = completedDowntime(d)
		}
		close(done) // the monitor frees d
		m.finishMigration(req.Uid, err, downtime)
	}()
	return nil
}

// localDisks are the targets of the domain's writable disks in the pod's private folder
// (containerDisk overlays, emptyDisks): they exist only here, so they travel with the
// memory. Read-only disks (cloud-init) are made anew on the target, claims are shared.
func (m *Manager) localDisks(xml string) ([]string, error) {
	dom := &libvirtxml.Domain{}
	if err := dom.Unmarshal(xml); err != nil {
		return nil, fmt.Errorf("reading the domain XML: %w", err)
	}
	private := filepath.Clean(m.preparer.PrivateDir) + string(filepath.Separator)
	var targets []string
	if dom.Devices == nil {
		return nil, nil
	}
	for _, disk := range dom.Devices.Disks {
		if disk.ReadOnly != nil || disk.Target == nil || disk.Source == nil || disk.Source.File == nil {
			continue
		}
		if strings.HasPrefix(filepath.Clean(disk.Source.File.File), private) {
			targets = append(targets, disk.Target.Dev)
		}
	}
	return targets, nil
}

// monitorMigration watches the job until done: it aborts a migration that stopped
// making progress for progress_timeout_seconds or runs past completion_timeout_seconds
// (KubeVirt's monitor, without post-copy, which Hypernest does not offer yet).
func (m *Manager) monitorMigration(d *libvirt.Domain, req *launcherv1.MigrateRequest, done <-chan struct{}) {
	defer d.Free()
	began := time.Now()
	lastProgress, lowest := began, uint64(0)
	ticker := time.NewTicker(monitorInterval)
	defer ticker.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-done:
			return
		case <-ticker.C:
		}
		info, err := d.GetJobInfo()
		if err != nil || info.Type == libvirt.DOMAIN_JOB_NONE {
			continue
		}
		now := time.Now()
		if remaining := info.DataRemaining; lowest == 0 || remaining < lowest {
			lowest, lastProgress = remaining, now
		}
		if tick%monitorLogEvery == 0 {
			m.log.Info("migration progress", "migration", req.Uid, "elapsed", now.Sub(began).Round(time.Second).String(),
				"dataProcessed", info.DataProcessed, "dataRemaining", info.DataRemaining, "memoryRemaining", info.MemRemaining)
		}
		reason := ""
		switch {
		case req.ProgressTimeoutSeconds > 0 && now.Sub(lastProgress) > time.Duration(req.ProgressTimeoutSeconds)*time.Second:
			reason = fmt.Sprintf("Live migration stuck for %d seconds and has been aborted", int64(now.Sub(lastProgress).Seconds()))
		case req.CompletionTimeoutSeconds > 0 && now.Sub(began) > time.Duration(req.CompletionTimeoutSeconds)*time.Second:
			reason = fmt.Sprintf("Live migration is not completed after %d seconds and has been aborted", req.CompletionTimeoutSeconds)
		}
		if reason != "" {
			m.log.Info("aborting the migration", "migration", req.Uid, "reason", reason)
			m.mu.Lock()
			if m.migration != nil && m.migration.Uid == req.Uid {
				m.migration.FailureReason = reason
			}
			m.mu.Unlock()
			if err := d.AbortJob(); err != nil {
				m.log.Error(err, "aborting the migration job")
			}
			return
		}
	}
}

// completedDowntime reads the guest's pause at the switch-over from the statistics
// libvirt keeps of the migration job that just completed; nil when it kept none.
func completedDowntime(d *libvirt.Domain) *uint64 {
	info, err := d.GetJobStats(libvirt.DOMAIN_JOB_STATS_COMPLETED)
	if err != nil || !info.DowntimeSet {
		return nil
	}
	return &info.Downtime
}

// migrationJobStats are the running migration job's figures for the metrics.
func migrationJobStats(d *libvirt.Domain) (*launcherv1.MigrationJobStats, error) {
	info, err := d.GetJobStats(0)
	if err != nil {
		return nil, err
	}
	if info.Type == libvirt.DOMAIN_JOB_NONE {
		return nil, nil
	}
	set := func(ok bool, v uint64) *uint64 {
		if !ok {
			return nil
		}
		return &v
	}
	stats := &launcherv1.MigrationJobStats{
		DataTotalBytes:       set(info.DataTotalSet, info.DataTotal),
		DataProcessedBytes:   set(info.DataProcessedSet, info.DataProcessed),
		DataRemainingBytes:   set(info.DataRemainingSet, info.DataRemaining),
		MemoryBytesPerSecond: set(info.MemBpsSet, info.MemBps),
	}
	// libvirt counts dirtied pages; the metric is in bytes.
	if info.MemDirtyRateSet && info.MemPageSizeSet {
		stats.DirtyRateBytesPerSecond = set(true, info.MemDirtyRate*info.MemPageSize)
	}
	return stats, nil
}

// finishMigration records how MigrateToURI3 returned.
func (m *Manager) finishMigration(uid string, err error, downtime *uint64) {
	m.mu.Lock()
	mig := m.migration
	if mig == nil || mig.Uid != uid {
		m.mu.Unlock()
		return
	}
	mig.Completed, mig.EndTimestamp, mig.DowntimeMilliseconds = true, timestamp(time.Now()), downtime
	if err != nil {
		mig.Failed = true
		switch {
		case mig.AbortStatus == string(v1.MigrationAbortInProgress):
			mig.AbortStatus, mig.FailureReason = string(v1.MigrationAbortSucceeded), failureAborted
		case mig.FailureReason == "":
			mig.FailureReason = err.Error()
		}
	} else if mig.AbortStatus == string(v1.MigrationAbortInProgress) {
		mig.AbortStatus = string(v1.MigrationAbortFailed) // too late: the guest moved
	}
	m.mu.Unlock()
	m.log.Info("migration ended", "migration", uid, "failed", mig.Failed, "reason", mig.FailureReason)
	m.refresh()
}

// CancelMigration aborts the migration in flight.
func (m *Manager) CancelMigration() error {
	m.mu.Lock()
	mig := m.migration
	if mig == nil || mig.Completed {
		m.mu.Unlock()
		return errors.New("no migration is in flight")
	}
	if mig.AbortStatus == string(v1.MigrationAbortInProgress) {
		m.mu.Unlock()
		return nil
	}
	mig.AbortStatus = string(v1.MigrationAbortInProgress)
	uid := mig.Uid
	m.mu.Unlock()
	m.refresh()
	d, err := m.lookup()
	if err != nil {
		return err
	}
	defer d.Free()
	aborted := make(chan error, 1)
	go func() { aborted <- d.AbortJob() }()
	select {
	case err = <-aborted:
	case <-time.After(abortTimeout):
		err = fmt.Errorf("libvirt did not abort the migration within %s", abortTimeout)
	}
	if err != nil {
		m.mu.Lock()
		if m.migration != nil && m.migration.Uid == uid && !m.migration.Completed {
			m.migration.AbortStatus = string(v1.MigrationAbortFailed)
		}
		m.mu.Unlock()
		m.refresh()
		return fmt.Errorf("aborting the migration: %w", err)
	}
	m.log.Info("migration abort requested", "migration", uid)
	return nil
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// convert prepares the disks and builds the domain of vmi, seeding libvirt's QEMU
// capabilities cache before anything is defined: what Sync and PrepareMigrationTarget
// share.
func (m *Manager) convert(ctx context.Context, vmi *v1.VirtualMachineInstance, ifaces []*launcherv1.InterfacePlumbing, opts *launcherv1.LaunchOptions) (*libvirtxml.Domain, time.Duration, error) {
	began := time.Now()
	sources, err := m.preparer.Prepare(ctx, vmi)
	if err != nil {
		return nil, 0, err
	}
	prepared := time.Since(began)
	byName := map[string]*launcherv1.InterfacePlumbing{}
	for _, p := range ifaces {
		byName[p.Name] = p
	}
	dom, err := domain.Convert(vmi, domain.Options{
		UseEmulation:     opts.GetUseEmulation(),
		Disks:            sources,
		Interfaces:       byName,
		SocketsDir:       m.sockets,
		DirectIO:         m.directIO,
		GuestAgentSocket: filepath.Join(m.preparer.PrivateDir, "qga.sock"),
	})
	if err != nil {
		return nil, 0, err
	}
	m.seedCapabilities(dom, opts)
	return dom, prepared, nil
}
