package bootstrap

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// WithSSHUser adds (or replaces) the "capk" user with the cluster's public key in
// cloud-config bootstrap data, so the SSH check can log in, as CAPK does. Data that is
// not cloud-config (a shell script, Ignition) is returned unchanged with added false:
// the SSH check cannot work there. Comments and ordering of the document are kept.
func WithSSHUser(userdata, authorizedKey []byte) (out []byte, added bool, err error) {
	if !isCloudConfig(userdata) {
		return userdata, false, nil
	}
	doc := &yaml.Node{}
	if err := yaml.Unmarshal(userdata, doc); err != nil {
		return nil, false, fmt.Errorf("the bootstrap data says #cloud-config but is not YAML: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return userdata, false, nil
	}
	root := doc.Content[0]
	user := capkUser(strings.TrimSpace(string(authorizedKey)))
	var users *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "users" && root.Content[i+1].Kind == yaml.SequenceNode {
			users = root.Content[i+1]
		}
	}
	if users == nil {
		root.Content = append(root.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "users"},
			&yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{user}})
	} else {
		replaced := false
		for i, u := range users.Content {
			if userName(u) == SSHUser {
				users.Content[i], replaced = user, true
			}
		}
		if !replaced {
			users.Content = append(users.Content, user)
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, false, err
	}
	_ = enc.Close()
	out = buf.Bytes()
	// cloud-init recognises the format by the first line; keep it first.
	if !bytes.HasPrefix(out, []byte("#cloud-config")) {
		out = append([]byte("#cloud-config\n"), out...)
	}
	return out, true, nil
}

func isCloudConfig(data []byte) bool {
	first, _, _ := bytes.Cut(bytes.TrimLeft(data, " \t\r\n"), []byte("\n"))
	return strings.TrimSpace(string(first)) == "#cloud-config"
}

func userName(u *yaml.Node) string {
	if u.Kind == yaml.ScalarNode {
		return u.Value // "default" and plain names
	}
	for i := 0; i+1 < len(u.Content); i += 2 {
		if u.Content[i].Value == "name" {
			return u.Content[i+1].Value
		}
	}
	return ""
}

// capkUser is the cloud-config user the SSH check logs in as: a plain user that only
// needs to read the sentinel file, which is world-readable.
func capkUser(authorizedKey string) *yaml.Node {
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	return &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		str("name"), str(SSHUser),
		str("lock_passwd"), {Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"},
		str("ssh_authorized_keys"), {Kind: yaml.SequenceNode, Content: []*yaml.Node{str(authorizedKey)}},
	}}
}
