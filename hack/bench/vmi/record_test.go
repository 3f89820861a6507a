package main

import (
	"encoding/json"
	"testing"
)

// The keys issue 17 names for make bench's JSON, which scripts compare across runs.
var stableKeys = []string{
	"vmi_create_to_running_p50_s", "vmi_create_to_running_p95_s", "vmi_count", "cpu_s_per_vmi_start",
	"overhead_mib_mean", "overhead_mib_max", "oom_kills", "kwok_vmis", "kwok_scheduled_s",
	"controller_rss_mib", "cluster_up_warm_s", "emulated", "date", "machine",
}

func TestRecordKeys(t *testing.T) {
	data, err := json.Marshal(&record{})
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(data, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range stableKeys {
		if _, ok := keys[k]; !ok {
			t.Errorf("key %s missing", k)
		}
	}
	// A figure not measured is null, not 0.
	if keys["cpu_s_per_vmi_start"] != nil || keys["kwok_vmis"] != nil {
		t.Errorf("unmeasured figures must be null: %v %v", keys["cpu_s_per_vmi_start"], keys["kwok_vmis"])
	}
}
