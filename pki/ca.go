package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Default validity periods, as kubeadm's.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
)

// DefaultCACommonName is the subject of a CA made without CAOptions.CommonName.
const DefaultCACommonName = "gantry-ca"

// ErrBadFile is wrapped by every error about a file that exists but cannot
// be used: it does not parse, its key does not match its certificate, it was
// signed by another CA, or it has expired (a CA). Such files are never
// replaced silently.
var ErrBadFile = errors.New("pki: unusable file")

// CAOptions configure NewCA and LoadOrCreateCA. The zero value is valid.
type CAOptions struct {
	// CommonName of a new CA; empty means DefaultCACommonName.
	CommonName string
	// KeyAlgorithm of new keys: the CA's own when it is made, and of the
	// certificates it issues without a key. An existing CA keeps its key.
	KeyAlgorithm KeyAlgorithm
	// Validity of a new CA certificate; zero means DefaultCAValidity.
	Validity time.Duration
	// Now returns the current time; nil means time.Now. Tests set it to
	// make certificates in the past or check them in the future.
	Now func() time.Time
}

func (o *CAOptions) setDefaults() error {
	if err := o.KeyAlgorithm.validate(); err != nil {
		return err
	}
	if o.Validity < 0 {
		return fmt.Errorf("pki: negative CA validity %v", o.Validity)
	}
	if o.CommonName == "" {
		o.CommonName = DefaultCACommonName
	}
	if o.Validity == 0 {
		o.Validity = DefaultCAValidity
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// CA is a certificate authority: a self-signed certificate and its key. It
// is safe for concurrent use.
type CA struct {
	cert     *x509.Certificate
	key      crypto.Signer
	certPEM  []byte
	certFile string
	keyFile  string
	opts     CAOptions
}

// NewCA makes a CA in memory (see LoadOrCreateCA to keep it in files).
func NewCA(opts CAOptions) (*CA, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	return newCA(opts, nil)
}

// newCA makes a CA certificate for key, or for a new key when key is nil.
func newCA(opts CAOptions, key crypto.Signer) (*CA, error) {
	if key == nil {
		var err error
		if key, err = NewKey(opts.KeyAlgorithm); err != nil {
			return nil, fmt.Errorf("pki: CA key: %w", err)
		}
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := opts.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName},
		NotBefore:             now.Add(-time.Minute).UTC(),
		NotAfter:              now.Add(opts.Validity).UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	return &CA{cert: cert, key: key, certPEM: EncodeCert(cert), opts: opts}, nil
}

// LoadOrCreateCA returns the CA kept in dir as ca.crt and ca.key, making it
// (and dir) when neither file exists. An existing CA is checked: both files
// must be there and parse, the key must belong to the certificate, the
// certificate must be a CA valid now; otherwise the error wraps ErrBadFile.
func LoadOrCreateCA(dir string, opts CAOptions) (*CA, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	haveCert, err := exists(certFile)
	if err != nil {
		return nil, err
	}
	haveKey, err := exists(keyFile)
	if err != nil {
		return nil, err
	}
	switch {
	case !haveCert && !haveKey:
		ca, err := newCA(opts, nil)
		if err != nil {
			return nil, err
		}
		keyPEM, err := EncodeKey(ca.key)
		if err != nil {
			return nil, err
		}
		if err := writeFile(keyFile, keyPEM, keyMode); err != nil {
			return nil, err
		}
		if err := writeFile(certFile, ca.certPEM, 0o644); err != nil {
			return nil, err
		}
		ca.certFile, ca.keyFile = certFile, keyFile
		return ca, nil
	case haveCert != haveKey:
		missing := keyFile
		if !haveCert {
			missing = certFile
		}
		return nil, fmt.Errorf("%w: CA %s: %s is missing (restore it, or remove the CA and every certificate it signed)", ErrBadFile, dir, missing)
	}

	cert, key, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA || !cert.BasicConstraintsValid || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: %s is not a CA certificate", ErrBadFile, certFile)
	}
	if now := opts.Now(); now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return nil, fmt.Errorf("%w: CA certificate %s is valid from %s to %s, not now (make a new PKI: remove %s)",
			ErrBadFile, certFile, cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339), dir)
	}
	return &CA{cert: cert, key: key, certPEM: EncodeCert(cert), certFile: certFile, keyFile: keyFile, opts: opts}, nil
}

// loadPair reads a certificate and its key and checks that they belong
// together. Errors wrap ErrBadFile, except those reading the files.
func loadPair(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v (%s)", ErrBadFile, certFile, err, removeHint)
	}
	key, err := loadKey(keyFile)
	if err != nil {
		return nil, nil, err
	}
	if !samePublicKey(key, cert.PublicKey) {
		return nil, nil, fmt.Errorf("%w: key %s does not belong to certificate %s (remove both to have a new pair made)", ErrBadFile, keyFile, certFile)
	}
	return cert, key, nil
}

func loadKey(keyFile string) (crypto.Signer, error) {
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v (%s)", ErrBadFile, keyFile, err, removeHint)
	}
	return key, nil
}

// Certificate returns the CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM returns the PEM encoding of the CA certificate, for kubeconfig
// files and clients' trust stores.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// CertFile returns the path of the CA certificate; empty for a CA made by
// NewCA.
func (ca *CA) CertFile() string { return ca.certFile }

// KeyFile returns the path of the CA key; empty for a CA made by NewCA.
func (ca *CA) KeyFile() string { return ca.keyFile }

// Pool returns a new pool holding the CA certificate: the roots to verify
// certificates the CA issued.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Verify checks that cert was signed by the CA and is valid now (the CA's
// Now) for usage.
func (ca *CA) Verify(cert *x509.Certificate, usage Usage) error {
	_, err := cert.Verify(x509.VerifyOptions{
		Roots:       ca.Pool(),
		CurrentTime: ca.opts.Now(),
		KeyUsages:   usage.extKeyUsages(),
	})
	return err
}

// signedBy reports whether cert carries a valid signature of the CA, at any
// time.
func (ca *CA) signedBy(cert *x509.Certificate) bool {
	return cert.CheckSignatureFrom(ca.cert) == nil
}

// Usage says what a certificate is for; combine with |.
type Usage int

const (
	// ServerAuth: a TLS server's certificate.
	ServerAuth Usage = 1 << iota
	// ClientAuth: a TLS client's certificate.
	ClientAuth
)

func (u Usage) extKeyUsages() []x509.ExtKeyUsage {
	var out []x509.ExtKeyUsage
	if u&ServerAuth != 0 {
		out = append(out, x509.ExtKeyUsageServerAuth)
	}
	if u&ClientAuth != 0 {
		out = append(out, x509.ExtKeyUsageClientAuth)
	}
	return out
}

// CertRequest describes a certificate for CA.Issue.
type CertRequest struct {
	// CommonName is the subject's CN: the user name of a client
	// certificate. Required.
	CommonName string
	// Organization is the subject's O: the groups of a client certificate.
	Organization []string
	// DNSNames and IPAddresses are the subject alternative names of a
	// serving certificate.
	DNSNames    []string
	IPAddresses []net.IP
	// Usage is what the certificate is for; at least one of ServerAuth and
	// ClientAuth.
	Usage Usage
	// Validity is how long the certificate is valid from now; zero means
	// DefaultCertValidity. It never outlives the CA.
	Validity time.Duration
	// Key is the key to certify; nil means a new key of the CA's
	// KeyAlgorithm.
	Key crypto.Signer
}

// Certificate is an issued certificate with its key. CertFile and KeyFile
// are where it is kept, empty when it lives only in memory.
type Certificate struct {
	Cert              *x509.Certificate
	Key               crypto.Signer
	CertPEM, KeyPEM   []byte
	CertFile, KeyFile string
}

// TLSCertificate returns the certificate and key for a tls.Config.
func (c *Certificate) TLSCertificate() (tls.Certificate, error) {
	tc, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: certificate %q: %w", c.Cert.Subject.CommonName, err)
	}
	return tc, nil
}

// Issue signs a new certificate. It is safe for concurrent use.
func (ca *CA) Issue(req CertRequest) (*Certificate, error) {
	if req.CommonName == "" {
		return nil, errors.New("pki: CertRequest.CommonName is required")
	}
	if req.Usage&(ServerAuth|ClientAuth) == 0 || req.Usage&^(ServerAuth|ClientAuth) != 0 {
		return nil, fmt.Errorf("pki: certificate %q: Usage must be ServerAuth, ClientAuth or both", req.CommonName)
	}
	if req.Validity < 0 {
		return nil, fmt.Errorf("pki: certificate %q: negative Validity %v", req.CommonName, req.Validity)
	}
	if req.Validity == 0 {
		req.Validity = DefaultCertValidity
	}
	key := req.Key
	if key == nil {
		var err error
		if key, err = NewKey(ca.opts.KeyAlgorithm); err != nil {
			return nil, fmt.Errorf("pki: certificate %q: %w", req.CommonName, err)
		}
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := ca.opts.Now()
	notAfter := now.Add(req.Validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	keyUsage := x509.KeyUsageDigitalSignature
	if _, ok := key.(*rsa.PrivateKey); ok {
		keyUsage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.CommonName, Organization: req.Organization},
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPAddresses,
		NotBefore:             now.Add(-time.Minute).UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              keyUsage,
		ExtKeyUsage:           req.Usage.extKeyUsages(),
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: certificate %q: %w", req.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: certificate %q: %w", req.CommonName, err)
	}
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return nil, err
	}
	return &Certificate{Cert: cert, Key: key, CertPEM: EncodeCert(cert), KeyPEM: keyPEM}, nil
}

// LoadCertificate reads a certificate and its key from PEM files and checks
// that the key belongs to the certificate (errors wrap ErrBadFile). It does
// not check who signed it or whether it is valid now.
func LoadCertificate(certFile, keyFile string) (*Certificate, error) {
	cert, key, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return nil, err
	}
	return &Certificate{Cert: cert, Key: key, CertPEM: EncodeCert(cert), KeyPEM: keyPEM, CertFile: certFile, KeyFile: keyFile}, nil
}

// WriteFiles writes the certificate (mode 0644) and key (mode 0600) to
// the given paths, key first, and records them in c.
func (c *Certificate) WriteFiles(certFile, keyFile string) error {
	if err := writeFile(keyFile, c.KeyPEM, keyMode); err != nil {
		return err
	}
	if err := writeFile(certFile, c.CertPEM, 0o644); err != nil {
		return err
	}
	c.CertFile, c.KeyFile = certFile, keyFile
	return nil
}

// newSerial returns a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}
