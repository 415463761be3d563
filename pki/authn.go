package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gantryhq/gantry/apiserver"
)

// AuthenticatedGroup is added to the groups of every user a
// CertAuthenticator accepts, as Kubernetes does for all authenticated users.
const AuthenticatedGroup = "system:authenticated"

// CertAuthenticator authenticates requests by their TLS client certificate:
// the certificate must chain to one of its roots and allow client
// authentication; its common name is the user name, its organizations the
// groups. It is safe for concurrent use.
type CertAuthenticator struct {
	roots *x509.CertPool
	now   func() time.Time
}

var _ apiserver.Authenticator = (*CertAuthenticator)(nil)

// NewCertAuthenticator returns an authenticator trusting the CAs in roots.
// A nil roots trusts nothing: every certificate is refused.
func NewCertAuthenticator(roots *x509.CertPool) *CertAuthenticator {
	if roots == nil {
		roots = x509.NewCertPool()
	}
	return &CertAuthenticator{roots: roots, now: time.Now}
}

// AuthenticateRequest implements apiserver.Authenticator. A request without
// a client certificate (or not over TLS) is not its business: ok is false.
// A certificate that does not verify is an error, which the API server turns
// into 401 Unauthorized; the message says why (unknown authority, expired)
// but repeats nothing the client sent.
func (a *CertAuthenticator) AuthenticateRequest(r *http.Request) (*apiserver.UserInfo, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	leaf := r.TLS.PeerCertificates[0]
	intermediates := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		intermediates.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         a.roots,
		Intermediates: intermediates,
		CurrentTime:   a.now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, false, &verifyError{reason: verifyReason(err), err: err}
	}
	if leaf.Subject.CommonName == "" {
		return nil, false, errors.New("client certificate: no common name (user name)")
	}
	groups := slices.Clone(leaf.Subject.Organization)
	if !slices.Contains(groups, AuthenticatedGroup) {
		groups = append(groups, AuthenticatedGroup)
	}
	return &apiserver.UserInfo{Name: leaf.Subject.CommonName, Groups: groups}, true, nil
}

// verifyError is a failed verification: its message keeps the kind of
// failure without the names from the certificate that x509's messages
// quote (they end up in the 401 response); Unwrap gives the x509 error.
type verifyError struct {
	reason string
	err    error
}

func (e *verifyError) Error() string { return "client certificate " + e.reason }
func (e *verifyError) Unwrap() error { return e.err }

func verifyReason(err error) string {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return "signed by an unknown authority"
	case errors.As(err, &invalid):
		switch invalid.Reason {
		case x509.Expired:
			return "expired or not yet valid"
		case x509.IncompatibleUsage:
			return "not valid for client authentication"
		}
	}
	return "does not verify"
}

// ServerTLSConfig returns the TLS configuration of a server with the
// serving certificate that authenticates clients by certificate: it asks
// clients for a certificate, hinting at clientCAs, but neither requires nor
// verifies one during the handshake (tls.RequestClientCert), so that
// verification happens in a CertAuthenticator and a bad certificate gets a
// 401 response instead of a TLS alert. TLS 1.2 at least.
func ServerTLSConfig(serving *Certificate, clientCAs *x509.CertPool) (*tls.Config, error) {
	tc, err := serving.TLSCertificate()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{tc},
		ClientAuth:   tls.RequestClientCert,
		ClientCAs:    clientCAs,
	}, nil
}
