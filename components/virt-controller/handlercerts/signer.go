// Package handlercerts is virt-controller's signer of virt-handlers' certificates. Each
// virt-handler asks for a certificate of its own through a CertificateSigningRequest
// for wiring.HandlerSignerName; the signer approves and signs one only when it comes from
// virt-handler's service account, with a token bound to a pod on the node the
// certificate names, so no handler holds a key that can answer for another node.
// (kube-controller-manager does the same for kubelets' system:node:<name> certificates;
// virt-controller, like it, runs in every installation, with the operator or without.)
package handlercerts

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/go-logr/logr"
	certificatesv1 "k8s.io/api/certificates/v1"
	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/hypernest/hypernest/pkg/metrics"
	"github.com/hypernest/hypernest/pkg/pki"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// NodeNameExtra is the user information the API server adds for a service account token
// bound to a pod: the name of the pod's node (Kubernetes 1.32+, ServiceAccountTokenPodNodeInfo).
// A CertificateSigningRequest carries the requester's in spec.extra.
const NodeNameExtra = "authentication.kubernetes.io/node-name"

// Reasons on the conditions the signer writes.
const (
	ReasonApproved = "VirtHandlerOfItsNode"
	ReasonDenied   = "NotVirtHandlerOfThatNode"
	ReasonFailed   = "SignerPolicyNotMet"
)

// Signer approves, denies and signs requests for wiring.HandlerSignerName.
type Signer struct {
	Client   client.Client
	Recorder record.EventRecorder
	// Namespace is Hypernest's, where virt-handler's service account is.
	Namespace string
	// CADir holds the CA's tls.crt and tls.key (wiring.CASecretName, mounted): read at
	// each signing, so a CA virt-operator renewed applies without a restart.
	CADir string
	Now   func() time.Time
}

// SetupWithManager watches requests for this signer only (the manager's cache should
// also be limited to them, by spec.signerName).
func (s *Signer) SetupWithManager(mgr ctrl.Manager) error {
	if s.Now == nil {
		s.Now = time.Now
	}
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		csr, ok := o.(*certificatesv1.CertificateSigningRequest)
		return ok && csr.Spec.SignerName == wiring.HandlerSignerName
	})
	return ctrl.NewControllerManagedBy(mgr).Named("virt-handler-certificates").
		For(&certificatesv1.CertificateSigningRequest{}, builder.WithPredicates(ours)).
		WithOptions(controller.Options{NewQueue: metrics.Queue[reconcile.Request]("virt-controller-handler-certificates")}).
		Complete(s)
}

// Reconcile decides on one request, then signs it if it is approved.
func (s *Signer) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := s.Client.Get(ctx, req.NamespacedName, csr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if csr.Spec.SignerName != wiring.HandlerSignerName || len(csr.Status.Certificate) > 0 ||
		hasCondition(csr, certificatesv1.CertificateDenied) || hasCondition(csr, certificatesv1.CertificateFailed) {
		return ctrl.Result{}, nil
	}
	parsed, node, policyErr := Check(csr, s.Namespace)
	if !hasCondition(csr, certificatesv1.CertificateApproved) {
		cond := certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: k8sv1.ConditionTrue, Reason: ReasonApproved,
			Message:        fmt.Sprintf("virt-handler of node %s asks for its own certificate", node),
			LastUpdateTime: metav1.NewTime(s.Now()),
		}
		if policyErr != nil {
			cond.Type, cond.Reason, cond.Message = certificatesv1.CertificateDenied, ReasonDenied, policyErr.Error()
		}
		csr.Status.Conditions = append(csr.Status.Conditions, cond)
		if err := s.Client.SubResource("approval").Update(ctx, csr); err != nil {
			return ctrl.Result{}, fmt.Errorf("recording the decision on %s: %w", csr.Name, err)
		}
		if policyErr != nil {
			log.Info("denied a virt-handler certificate request", "csr", csr.Name, "requester", csr.Spec.Username, "reason", policyErr.Error())
			s.Recorder.Eventf(csr, k8sv1.EventTypeWarning, ReasonDenied, "%v", policyErr)
			return ctrl.Result{}, nil
		}
	}
	if policyErr != nil {
		// Approved by someone else: this signer still signs only what its policy allows.
		return ctrl.Result{}, s.fail(ctx, csr, "approved, but not signed: "+policyErr.Error())
	}

	caCert, err := os.ReadFile(filepath.Join(s.CADir, k8sv1.TLSCertKey))
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("reading the CA to sign %s (is Secret %s mounted?): %w", csr.Name, wiring.CASecretName, err)
	}
	caKey, err := os.ReadFile(filepath.Join(s.CADir, k8sv1.TLSPrivateKeyKey))
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("reading the CA to sign %s (is Secret %s mounted?): %w", csr.Name, wiring.CASecretName, err)
	}
	ca, err := pki.ParseCA(caCert, caKey)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("reading the CA in %s to sign %s (Secret %s, which virt-operator keeps): %w", s.CADir, csr.Name, wiring.CASecretName, err)
	}
	var lifetime time.Duration
	if csr.Spec.ExpirationSeconds != nil {
		lifetime = time.Duration(*csr.Spec.ExpirationSeconds) * time.Second
	}
	cert, err := pki.SignServingRequest(ca, parsed, lifetime, s.Now(), slices.Contains(csr.Spec.Usages, certificatesv1.UsageClientAuth))
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("signing %s: %w", csr.Name, err)
	}
	csr.Status.Certificate = cert
	if err := s.Client.Status().Update(ctx, csr); err != nil {
		return ctrl.Result{}, fmt.Errorf("storing the certificate of %s: %w", csr.Name, err)
	}
	log.Info("signed a virt-handler certificate", "csr", csr.Name, "node", node)
	return ctrl.Result{}, nil
}

func (s *Signer) fail(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, message string) error {
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateFailed, Status: k8sv1.ConditionTrue, Reason: ReasonFailed,
		Message: message, LastUpdateTime: metav1.NewTime(s.Now()),
	})
	return s.Client.Status().Update(ctx, csr)
}

// Check applies the signer's policy: the request comes from virt-handler's service
// account in namespace with a token bound to a pod on a node, and asks for exactly that
// node's server certificate. It returns the parsed request and the node.
func Check(csr *certificatesv1.CertificateSigningRequest, namespace string) (*x509.CertificateRequest, string, error) {
	handlerUser := "system:serviceaccount:" + namespace + ":" + wiring.HandlerName
	if csr.Spec.Username != handlerUser {
		return nil, "", fmt.Errorf("requested by %q: only virt-handler's service account (%s) may ask signer %s", csr.Spec.Username, handlerUser, wiring.HandlerSignerName)
	}
	nodes := csr.Spec.Extra[NodeNameExtra]
	if len(nodes) != 1 || nodes[0] == "" {
		return nil, "", fmt.Errorf("the requester's token names no node (user extra %s): only a token bound to virt-handler's pod may ask signer %s", NodeNameExtra, wiring.HandlerSignerName)
	}
	node := nodes[0]
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, node, fmt.Errorf("spec.request holds no PEM CERTIFICATE REQUEST")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, node, fmt.Errorf("spec.request: %w", err)
	}
	if err := req.CheckSignature(); err != nil {
		return nil, node, fmt.Errorf("spec.request: the request is not signed by its own key: %w", err)
	}
	if want := wiring.HandlerCommonName(node); req.Subject.CommonName != want {
		return nil, node, fmt.Errorf("the request names %q, but the requester runs on node %q: it may ask only for %q", req.Subject.CommonName, node, want)
	}
	if s := req.Subject; len(s.Organization)+len(s.OrganizationalUnit)+len(s.Country)+len(s.Province)+len(s.Locality)+len(s.StreetAddress)+len(s.PostalCode) > 0 || s.SerialNumber != "" {
		return nil, node, fmt.Errorf("the request's subject has more than a common name (%s): ask for the common name alone", s)
	}
	if !slices.Equal(req.DNSNames, []string{wiring.HandlerServerName}) || len(req.IPAddresses)+len(req.EmailAddresses)+len(req.URIs) > 0 {
		return nil, node, fmt.Errorf("the request's alternative names must be the DNS name %s alone (it asks for DNS %v, IP %v, email %v, URI %v)",
			wiring.HandlerServerName, req.DNSNames, req.IPAddresses, req.EmailAddresses, req.URIs)
	}
	// Client auth: a handler presents the same certificate to the target node's handler
	// of a live migration, which accepts only the source node's.
	allowed := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth, certificatesv1.UsageClientAuth}
	for _, u := range csr.Spec.Usages {
		if !slices.Contains(allowed, u) {
			return nil, node, fmt.Errorf("spec.usages: %q is not allowed: a virt-handler certificate serves TLS and authenticates the node to another (%v)", u, allowed)
		}
	}
	if !slices.Contains(csr.Spec.Usages, certificatesv1.UsageServerAuth) {
		return nil, node, fmt.Errorf("spec.usages must include %q", certificatesv1.UsageServerAuth)
	}
	if err := strongEnough(req.PublicKey); err != nil {
		return nil, node, err
	}
	return req, node, nil
}

// strongEnough accepts the keys Kubernetes' own signers accept for serving certificates.
func strongEnough(key any) error {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			return fmt.Errorf("spec.request: an ECDSA key of %d bits is too weak: use P-256 or larger", k.Curve.Params().BitSize)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("spec.request: an RSA key of %d bits is too weak: use 2048 bits or more", k.N.BitLen())
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("spec.request: key type %T is not supported: use ECDSA, RSA or Ed25519", key)
	}
	return nil
}

func hasCondition(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) bool {
	return slices.ContainsFunc(csr.Status.Conditions, func(c certificatesv1.CertificateSigningRequestCondition) bool {
		return c.Type == t && c.Status == k8sv1.ConditionTrue
	})
}
