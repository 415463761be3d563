package pki_test

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/pki"
)

func TestIssue(t *testing.T) {
	for _, alg := range []pki.KeyAlgorithm{pki.ECDSAP256, pki.RSA2048} {
		t.Run(alg.String(), func(t *testing.T) {
			ca, err := pki.NewCA(pki.CAOptions{KeyAlgorithm: alg})
			require.NoError(t, err)
			caCert := ca.Certificate()
			require.True(t, caCert.IsCA)
			require.Equal(t, pki.DefaultCACommonName, caCert.Subject.CommonName)
			require.WithinDuration(t, time.Now().Add(pki.DefaultCAValidity), caCert.NotAfter, time.Minute)

			tests := []struct {
				name     string
				req      pki.CertRequest
				wantEKU  []x509.ExtKeyUsage
				validFor time.Duration
			}{
				{
					name:     "server",
					req:      pki.CertRequest{CommonName: "kube-apiserver", DNSNames: []string{"api.example"}, IPAddresses: []net.IP{net.ParseIP("10.1.2.3")}, Usage: pki.ServerAuth},
					wantEKU:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
					validFor: pki.DefaultCertValidity,
				},
				{
					name:     "client",
					req:      pki.CertRequest{CommonName: "alice", Organization: []string{"dev", "ops"}, Usage: pki.ClientAuth, Validity: time.Hour},
					wantEKU:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
					validFor: time.Hour,
				},
				{
					name:     "both",
					req:      pki.CertRequest{CommonName: "peer", Usage: pki.ServerAuth | pki.ClientAuth},
					wantEKU:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
					validFor: pki.DefaultCertValidity,
				},
				{
					name:     "clamped to the CA",
					req:      pki.CertRequest{CommonName: "long", Usage: pki.ClientAuth, Validity: 20 * pki.DefaultCAValidity},
					wantEKU:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
					validFor: pki.DefaultCAValidity,
				},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c, err := ca.Issue(tt.req)
					require.NoError(t, err)
					require.Equal(t, tt.req.CommonName, c.Cert.Subject.CommonName)
					require.Equal(t, tt.req.Organization, c.Cert.Subject.Organization)
					require.Equal(t, tt.req.DNSNames, c.Cert.DNSNames)
					require.Len(t, c.Cert.IPAddresses, len(tt.req.IPAddresses))
					for i, ip := range tt.req.IPAddresses {
						require.True(t, ip.Equal(c.Cert.IPAddresses[i]))
					}
					require.Equal(t, tt.wantEKU, c.Cert.ExtKeyUsage)
					require.False(t, c.Cert.IsCA)
					require.WithinDuration(t, time.Now().Add(tt.validFor), c.Cert.NotAfter, 2*time.Minute)
					require.False(t, c.Cert.NotAfter.After(caCert.NotAfter))
					require.NoError(t, ca.Verify(c.Cert, tt.req.Usage))
					switch alg {
					case pki.ECDSAP256:
						require.IsType(t, &ecdsa.PrivateKey{}, c.Key)
					case pki.RSA2048:
						require.IsType(t, &rsa.PrivateKey{}, c.Key)
					}
					_, err = c.TLSCertificate()
					require.NoError(t, err)
				})
			}
		})
	}
}

func TestIssueErrors(t *testing.T) {
	ca, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	for name, req := range map[string]pki.CertRequest{
		"no common name":   {Usage: pki.ClientAuth},
		"no usage":         {CommonName: "x"},
		"unknown usage":    {CommonName: "x", Usage: 8},
		"negative validty": {CommonName: "x", Usage: pki.ClientAuth, Validity: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ca.Issue(req)
			require.Error(t, err)
		})
	}
	_, err = pki.NewCA(pki.CAOptions{KeyAlgorithm: 7})
	require.Error(t, err)
}

func TestIssueWithKey(t *testing.T) {
	ca, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	key, err := pki.NewKey(pki.RSA2048)
	require.NoError(t, err)
	c, err := ca.Issue(pki.CertRequest{CommonName: "x", Usage: pki.ClientAuth, Key: key})
	require.NoError(t, err)
	require.Same(t, key, c.Key)
	require.Equal(t, x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment, c.Cert.KeyUsage)
}

func TestVerifyOtherCA(t *testing.T) {
	ca1, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	ca2, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	c, err := ca2.Issue(pki.CertRequest{CommonName: "x", Usage: pki.ClientAuth})
	require.NoError(t, err)
	require.Error(t, ca1.Verify(c.Cert, pki.ClientAuth))
	require.Error(t, ca2.Verify(c.Cert, pki.ServerAuth), "usage")
}

func TestLoadOrCreateCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	ca, err := pki.LoadOrCreateCA(dir, pki.CAOptions{})
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "ca.crt"), ca.CertFile())
	requireMode(t, ca.KeyFile(), 0o600)
	requireMode(t, ca.CertFile(), 0o644)

	again, err := pki.LoadOrCreateCA(dir, pki.CAOptions{KeyAlgorithm: pki.RSA2048})
	require.NoError(t, err)
	require.Equal(t, ca.CertPEM(), again.CertPEM(), "an existing CA is reused, whatever the options")
	c, err := again.Issue(pki.CertRequest{CommonName: "x", Usage: pki.ClientAuth})
	require.NoError(t, err)
	require.NoError(t, ca.Verify(c.Cert, pki.ClientAuth))
}

func TestLoadOrCreateCABadFiles(t *testing.T) {
	other, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	otherKey, err := pki.EncodeKey(must(other.Issue(pki.CertRequest{CommonName: "x", Usage: pki.ClientAuth})).Key)
	require.NoError(t, err)
	leaf := must(other.Issue(pki.CertRequest{CommonName: "x", Usage: pki.ClientAuth}))

	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		opts   pki.CAOptions
	}{
		{name: "corrupt certificate", damage: func(t *testing.T, dir string) { writeString(t, dir, "ca.crt", "garbage") }},
		{name: "truncated certificate", damage: func(t *testing.T, dir string) {
			data := readString(t, dir, "ca.crt")
			writeString(t, dir, "ca.crt", data[:len(data)/2])
		}},
		{name: "corrupt key", damage: func(t *testing.T, dir string) {
			writeString(t, dir, "ca.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
		}},
		{name: "mismatched key", damage: func(t *testing.T, dir string) { writeString(t, dir, "ca.key", string(otherKey)) }},
		{name: "key missing", damage: func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "ca.key"))) }},
		{name: "certificate missing", damage: func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "ca.crt"))) }},
		{name: "not a CA", damage: func(t *testing.T, dir string) {
			writeString(t, dir, "ca.crt", string(leaf.CertPEM))
			writeString(t, dir, "ca.key", string(leaf.KeyPEM))
		}},
		{name: "expired", damage: func(t *testing.T, dir string) {}, opts: pki.CAOptions{Now: func() time.Time { return time.Now().Add(11 * 365 * 24 * time.Hour) }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := pki.LoadOrCreateCA(dir, pki.CAOptions{})
			require.NoError(t, err)
			tt.damage(t, dir)
			before := snapshot(t, dir)
			_, err = pki.LoadOrCreateCA(dir, tt.opts)
			require.ErrorIs(t, err, pki.ErrBadFile)
			require.Equal(t, before, snapshot(t, dir), "nothing replaced")
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func requireMode(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, mode, fi.Mode().Perm(), path)
}

func writeString(t *testing.T, dir, name, data string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600))
}

func readString(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return string(data)
}

// snapshot returns the contents of the files in dir by name.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range entries {
		out[e.Name()] = readString(t, dir, e.Name())
	}
	return out
}
