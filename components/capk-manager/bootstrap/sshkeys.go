// Package bootstrap gets a machine's bootstrap data into its VM and checks that it ran:
// the SSH key pair of a cluster, the "capk" user added to cloud-config data (CAPK's
// SSH check), and the check strategies none, ssh and guest-agent.
package bootstrap

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// Keys of the cluster's SSH key Secret, CAPK's.
const (
	SSHPublicKeyKey  = "pub"
	SSHPrivateKeyKey = "key"
	// SSHKeysSecretSuffix names the Secret: <KubevirtCluster name>-ssh-keys.
	SSHKeysSecretSuffix = "-ssh-keys"
	// SSHUser is the user the SSH check logs in as, CAPK's.
	SSHUser = "capk"
)

// NewSSHKeyPair makes an Ed25519 key pair: the public key in authorized_keys form, the
// private key as an OpenSSH PEM block.
func NewSSHKeyPair() (public, private []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "capk")
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the SSH private key: %w", err)
	}
	return ssh.MarshalAuthorizedKey(sshPub), pem.EncodeToMemory(block), nil
}
