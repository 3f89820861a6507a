package bootstrap

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOk0 capk"

func TestWithSSHUserAddsTheUser(t *testing.T) {
	in := "#cloud-config\n# kubeadm's data\nwrite_files:\n  - path: /etc/x\n    content: y\nruncmd:\n  - kubeadm init\n"
	out, added, err := WithSSHUser([]byte(in), []byte(key+"\n"))
	if err != nil || !added {
		t.Fatalf("added=%v err=%v", added, err)
	}
	s := string(out)
	if !strings.HasPrefix(s, "#cloud-config\n") {
		t.Fatalf("cloud-init needs #cloud-config first:\n%s", s)
	}
	var doc struct {
		WriteFiles []map[string]string `yaml:"write_files"`
		Runcmd     []string            `yaml:"runcmd"`
		Users      []struct {
			Name string   `yaml:"name"`
			Keys []string `yaml:"ssh_authorized_keys"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.WriteFiles) != 1 || len(doc.Runcmd) != 1 || doc.Runcmd[0] != "kubeadm init" {
		t.Fatalf("the original data changed:\n%s", s)
	}
	if len(doc.Users) != 1 || doc.Users[0].Name != "capk" || len(doc.Users[0].Keys) != 1 || doc.Users[0].Keys[0] != key {
		t.Fatalf("no capk user with the key:\n%s", s)
	}
	if !strings.Contains(s, "# kubeadm's data") {
		t.Fatalf("comments are kept:\n%s", s)
	}
}

func TestWithSSHUserKeepsOtherUsersAndReplacesCapk(t *testing.T) {
	in := "#cloud-config\nusers:\n  - default\n  - name: capk\n    ssh_authorized_keys: [old]\n  - name: ops\n"
	out, added, err := WithSSHUser([]byte(in), []byte(key))
	if err != nil || !added {
		t.Fatalf("added=%v err=%v", added, err)
	}
	var doc struct {
		Users []any `yaml:"users"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Users) != 3 || strings.Contains(string(out), "old") || !strings.Contains(string(out), key) {
		t.Fatalf("want default, the new capk and ops:\n%s", out)
	}
}

func TestWithSSHUserLeavesNonCloudConfigAlone(t *testing.T) {
	for _, in := range []string{"#!/bin/sh\necho hi\n", `{"ignition":{"version":"3.3.0"}}`, ""} {
		out, added, err := WithSSHUser([]byte(in), []byte(key))
		if err != nil || added || string(out) != in {
			t.Fatalf("%q: want unchanged, got added=%v err=%v out=%q", in, added, err, out)
		}
	}
	if _, _, err := WithSSHUser([]byte("#cloud-config\nusers: [\n"), []byte(key)); err == nil {
		t.Fatal("broken cloud-config must be an error, not silently passed on")
	}
}

func TestNewSSHKeyPair(t *testing.T) {
	pub, priv, err := NewSSHKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(pub), "ssh-ed25519 ") || !strings.Contains(string(priv), "BEGIN OPENSSH PRIVATE KEY") {
		t.Fatalf("pub %q", pub)
	}
}
