package manager

import (
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// statsGroups are the libvirt statistics virt-handler's metrics are made of (KubeVirt
// asks for the same groups, and the dirty rate, which Hypernest does not report).
const statsGroups = libvirt.DOMAIN_STATS_CPU_TOTAL | libvirt.DOMAIN_STATS_BALLOON | libvirt.DOMAIN_STATS_VCPU |
	libvirt.DOMAIN_STATS_INTERFACE | libvirt.DOMAIN_STATS_BLOCK

// Stats reports the domain's resource use. NOWAIT: a scrape must not queue behind a
// long job (a guest shutdown) holding the domain; libvirt then returns what it can
// read without the job.
func (m *Manager) Stats() (*launcherv1.DomainStats, error) {
	d, err := m.lookup()
	if err != nil {
		return nil, err
	}
	defer d.Free()
	all, err := m.conn.GetAllDomainStats([]*libvirt.Domain{d}, statsGroups, libvirt.CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range all {
			_ = s.Domain.Free()
		}
	}()
	var aliases map[string]string
	if xml, err := d.GetXMLDesc(0); err == nil {
		aliases = deviceAliases(xml)
	}
	stats := &launcherv1.DomainStats{}
	if len(all) > 0 {
		stats = convertStats(&all[0], aliases)
	}
	// The RSS of QEMU: from the balloon group when libvirt could read it there, else
	// asked for alone (a call that waits for the domain's job, so only when needed).
	if rss := stats.GetMemory().RssKib; rss != nil {
		stats.MemoryRssKib = *rss
	} else if mem, err := d.MemoryStats(uint32(libvirt.DOMAIN_MEMORY_STAT_NR), 0); err == nil {
		for _, s := range mem {
			if s.Tag == int32(libvirt.DOMAIN_MEMORY_STAT_RSS) {
				stats.MemoryRssKib = s.Val
			}
		}
	}
	m.mu.Lock()
	migrating := m.migration != nil && !m.migration.Completed
	m.mu.Unlock()
	if migrating {
		if stats.Migration, err = migrationJobStats(d); err != nil {
			m.log.V(1).Info("no statistics of the migration job", "error", err.Error())
		}
	}
	return stats, nil
}

// deviceAliases maps the domain's disks' and NICs' target devices ("vda", "tap0") to
// the VMI's names of them, which the converter writes as aliases "ua-NAME".
func deviceAliases(xml string) map[string]string {
	dom := &libvirtxml.Domain{}
	if err := dom.Unmarshal(xml); err != nil || dom.Devices == nil {
		return nil
	}
	aliases := map[string]string{}
	name := func(a *libvirtxml.DomainAlias) (string, bool) {
		if a == nil || !strings.HasPrefix(a.Name, "ua-") {
			return "", false
		}
		return strings.TrimPrefix(a.Name, "ua-"), true
	}
	for _, disk := range dom.Devices.Disks {
		if n, ok := name(disk.Alias); ok && disk.Target != nil {
			aliases[disk.Target.Dev] = n
		}
	}
	for _, nic := range dom.Devices.Interfaces {
		if n, ok := name(nic.Alias); ok && nic.Target != nil {
			aliases[nic.Target.Dev] = n
		}
	}
	return aliases
}

// convertStats keeps what libvirt set, in libvirt's units.
func convertStats(s *libvirt.DomainStats, aliases map[string]string) *launcherv1.DomainStats {
	out := &launcherv1.DomainStats{}
	set := func(ok bool, v uint64) *uint64 {
		if !ok {
			return nil
		}
		return &v
	}
	if c := s.Cpu; c != nil {
		out.CpuTimeNanoseconds = c.Time
		out.CpuUserNanoseconds = set(c.UserSet, c.User)
		out.CpuSystemNanoseconds = set(c.SystemSet, c.System)
	}
	if b := s.Balloon; b != nil {
		out.MemoryActualKib = b.Current
		out.Memory = &launcherv1.DomainMemoryStats{
			AvailableKib:     set(b.AvailableSet, b.Available),
			UnusedKib:        set(b.UnusedSet, b.Unused),
			UsableKib:        set(b.UsableSet, b.Usable),
			DiskCachesKib:    set(b.DiskCachesSet, b.DiskCaches),
			SwapInKib:        set(b.SwapInSet, b.SwapIn),
			SwapOutKib:       set(b.SwapOutSet, b.SwapOut),
			MajorFaults:      set(b.MajorFaultSet, b.MajorFault),
			MinorFaults:      set(b.MinorFaultSet, b.MinorFault),
			ActualBalloonKib: set(b.CurrentSet, b.Current),
			RssKib:           set(b.RssSet, b.Rss),
			DomainKib:        set(b.CurrentSet, b.Current),
		}
	}
	for i, v := range s.Vcpu {
		vcpu := &launcherv1.VCPUStats{
			Id:               uint32(i),
			TimeNanoseconds:  set(v.TimeSet, v.Time),
			WaitNanoseconds:  set(v.WaitSet, v.Wait),
			DelayNanoseconds: set(v.DelaySet, v.Delay),
		}
		if v.StateSet {
			state := int32(v.State)
			vcpu.State = &state
		}
		out.Vcpus = append(out.Vcpus, vcpu)
	}
	named := func(ok bool, dev string) (string, bool) {
		if !ok || dev == "" {
			return "", false
		}
		if n, found := aliases[dev]; found {
			return n, true
		}
		return dev, true
	}
	for _, n := range s.Net {
		name, ok := named(n.NameSet, n.Name)
		if !ok {
			continue
		}
		out.Interfaces = append(out.Interfaces, &launcherv1.InterfaceStats{
			Name:    name,
			RxBytes: set(n.RxBytesSet, n.RxBytes), RxPackets: set(n.RxPktsSet, n.RxPkts),
			RxErrors: set(n.RxErrsSet, n.RxErrs), RxDropped: set(n.RxDropSet, n.RxDrop),
			TxBytes: set(n.TxBytesSet, n.TxBytes), TxPackets: set(n.TxPktsSet, n.TxPkts),
			TxErrors: set(n.TxErrsSet, n.TxErrs), TxDropped: set(n.TxDropSet, n.TxDrop),
		})
	}
	for _, b := range s.Block {
		name, ok := named(b.NameSet, b.Name)
		if !ok {
			continue
		}
		out.Blocks = append(out.Blocks, &launcherv1.BlockStats{
			Name:         name,
			ReadRequests: set(b.RdReqsSet, b.RdReqs), ReadBytes: set(b.RdBytesSet, b.RdBytes),
			ReadTimeNanoseconds: set(b.RdTimesSet, b.RdTimes),
			WriteRequests:       set(b.WrReqsSet, b.WrReqs), WriteBytes: set(b.WrBytesSet, b.WrBytes),
			WriteTimeNanoseconds: set(b.WrTimesSet, b.WrTimes),
			FlushRequests:        set(b.FlReqsSet, b.FlReqs), FlushTimeNanoseconds: set(b.FlTimesSet, b.FlTimes),
		})
	}
	return out
}
