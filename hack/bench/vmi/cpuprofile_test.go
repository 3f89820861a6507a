package main

import "testing"

func TestParseStat(t *testing.T) {
	line := "4242 (qemu-system-x86) S 4200 4242 4242 0 -1 4194560 1 0 0 0 250 50 30 20 20 0 3 0 987654 1 1 18446744073709551615"
	key, got, ok := parseStat(line)
	if !ok {
		t.Fatal("parseStat refused a valid line")
	}
	if key.pid != 4242 || key.start != 987654 {
		t.Errorf("key = %+v, want pid 4242 start 987654", key)
	}
	if got.group != "QEMU (the guests)" || got.self != 3 || got.children != 0.5 {
		t.Errorf("parsed %+v, want QEMU with 3 s own and 0.5 s children's time", got)
	}
	// A comm with a parenthesis and a space, as /proc allows: it ends at the last ')'.
	if _, odd, ok := parseStat("7 (a) b) S 1 7 7 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 1 1"); !ok || odd.group != "other" {
		t.Errorf("a comm holding ') ' = %+v, %v", odd, ok)
	}

	before := processTimes{{1, 10}: {group: "kubelet", self: 5, children: 1}}
	after := processTimes{
		{1, 10}:  {group: "kubelet", self: 6, children: 1.5},
		{1, 11}:  {group: "kubelet", self: 0.25}, // pid 1 reused: another process
		{9, 100}: {group: "virt-launcher", self: 0.75},
	}
	by := cpuByGroup(before, after)
	if by["kubelet"] != 1.75 || by["virt-launcher"] != 0.75 {
		t.Errorf("cpuByGroup = %v, want kubelet 1.75, virt-launcher 0.75", by)
	}
}
