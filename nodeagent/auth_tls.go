package nodeagent

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gantryhq/gantry/pki"
)

// selfSignedValidity is how long a self-signed serving certificate is valid
// (the kubelet's: a year).
const selfSignedValidity = 365 * 24 * time.Hour

// SelfSignedTLSConfig returns a serving TLS configuration with a new
// certificate for nodeName (when it is a DNS name), localhost, nodeIP (when
// valid) and 127.0.0.1, signed by a new CA of its own that is thrown away,
// as the kubelet makes one when it has no --tls-cert-file. Clients cannot
// verify it against anything they know: the API server's
// apiserver.DefaultNodeConnection does not try. Certificates are requested
// from clients but not required.
func SelfSignedTLSConfig(nodeName string, nodeIP netip.Addr, now time.Time) (*tls.Config, error) {
	stamp := fmt.Sprintf("@%d", now.Unix())
	ca, err := pki.NewCA(pki.CAOptions{CommonName: nodeName + "-ca" + stamp, Validity: selfSignedValidity, Now: func() time.Time { return now }})
	if err != nil {
		return nil, fmt.Errorf("nodeagent: self-signed certificate: %w", err)
	}
	req := pki.CertRequest{
		CommonName:  nodeName + stamp,
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		Usage:       pki.ServerAuth,
		Validity:    selfSignedValidity,
	}
	if len(validation.IsDNS1123Subdomain(nodeName)) == 0 && nodeName != "localhost" {
		req.DNSNames = append([]string{nodeName}, req.DNSNames...)
	}
	if nodeIP.IsValid() && nodeIP.Unmap() != netip.AddrFrom4([4]byte{127, 0, 0, 1}) {
		req.IPAddresses = append(req.IPAddresses, net.IP(nodeIP.Unmap().AsSlice()))
	}
	cert, err := ca.Issue(req)
	if err != nil {
		return nil, fmt.Errorf("nodeagent: self-signed certificate: %w", err)
	}
	tc, err := cert.TLSCertificate()
	if err != nil {
		return nil, fmt.Errorf("nodeagent: self-signed certificate: %w", err)
	}
	tc.Certificate = append(tc.Certificate, ca.Certificate().Raw)
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{tc}, ClientAuth: tls.RequestClientCert}, nil
}
