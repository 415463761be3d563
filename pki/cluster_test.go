package pki_test

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/pki"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestEnsureClusterPKI(t *testing.T) {
	dir := t.TempDir()
	opts := pki.Options{
		APIServerDNSNames:     []string{"master.example"},
		APIServerIPs:          []net.IP{net.ParseIP("192.0.2.10")},
		ServiceClusterIPRange: netip.MustParsePrefix("10.96.0.0/12"),
		NodeNames:             []string{"node-a"},
		NodeIPs:               map[string][]net.IP{"node-a": {net.ParseIP("192.0.2.21")}},
		Logger:                quiet(),
	}
	p, err := pki.EnsureClusterPKI(dir, opts)
	require.NoError(t, err)
	require.Equal(t, []string{"apiserver.crt", "admin.crt", "scheduler.crt", "controller-manager.crt", "kube-proxy.crt",
		"apiserver-kubelet-client.crt", "node-node-a.crt", "serving-node-node-a.crt"}, p.Issued)

	t.Run("files", func(t *testing.T) {
		for _, name := range []string{"ca", "apiserver", "admin", "scheduler", "controller-manager", "kube-proxy",
			"apiserver-kubelet-client", "node-node-a", "serving-node-node-a"} {
			requireMode(t, filepath.Join(dir, name+".key"), 0o600)
			requireMode(t, filepath.Join(dir, name+".crt"), 0o644)
		}
		requireMode(t, p.ServiceAccountKeyFile, 0o600)
		requireMode(t, p.ServiceAccountPublicKeyFile, 0o644)
		pub, err := pki.ParsePublicKey([]byte(readString(t, dir, "sa.pub")))
		require.NoError(t, err)
		require.True(t, p.ServiceAccountKey.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub))
	})

	t.Run("serving certificate", func(t *testing.T) {
		c := p.APIServer.Cert
		require.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, c.ExtKeyUsage)
		for _, name := range []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local", "master.example"} {
			require.NoError(t, c.VerifyHostname(name), name)
		}
		for _, ip := range []string{"127.0.0.1", "10.96.0.1", "192.0.2.10"} {
			require.NoError(t, c.VerifyHostname(ip), ip)
		}
		require.Error(t, c.VerifyHostname("10.96.0.2"))
		require.NoError(t, p.CA.Verify(c, pki.ServerAuth))
	})

	t.Run("client certificates", func(t *testing.T) {
		for _, tt := range []struct {
			cert   *pki.Certificate
			user   string
			groups []string
		}{
			{p.Admin, "admin", []string{"system:masters"}},
			{p.Scheduler, "system:kube-scheduler", nil},
			{p.ControllerManager, "system:kube-controller-manager", nil},
			{p.Proxy, "system:kube-proxy", nil},
			{p.Nodes["node-a"], "system:node:node-a", []string{"system:nodes"}},
			{p.APIServerKubeletClient, "kube-apiserver-kubelet-client", nil},
		} {
			t.Run(tt.user, func(t *testing.T) {
				require.Equal(t, tt.user, tt.cert.Cert.Subject.CommonName)
				require.Equal(t, tt.groups, tt.cert.Cert.Subject.Organization)
				require.NoError(t, p.CA.Verify(tt.cert.Cert, pki.ClientAuth))
				require.Error(t, p.CA.Verify(tt.cert.Cert, pki.ServerAuth))
			})
		}
	})

	t.Run("node serving certificate", func(t *testing.T) {
		c := p.NodeServing["node-a"].Cert
		require.Equal(t, "system:node:node-a", c.Subject.CommonName)
		require.Equal(t, []string{"system:nodes"}, c.Subject.Organization)
		require.NoError(t, p.CA.Verify(c, pki.ServerAuth))
		require.Error(t, p.CA.Verify(c, pki.ClientAuth), "not usable as the node's client certificate")
		require.NoError(t, c.VerifyHostname("node-a"))
		require.NoError(t, c.VerifyHostname("192.0.2.21"))
		require.Error(t, c.VerifyHostname("node-b"))
	})

	t.Run("node client TLS configuration", func(t *testing.T) {
		tc, err := p.NodeClientTLSConfig()
		require.NoError(t, err)
		require.Len(t, tc.Certificates, 1)
		_, err = p.NodeServing["node-a"].Cert.Verify(x509.VerifyOptions{Roots: tc.RootCAs, DNSName: "node-a"})
		require.NoError(t, err)
	})

	t.Run("reused on restart", func(t *testing.T) {
		before := snapshot(t, dir)
		again, err := pki.EnsureClusterPKI(dir, opts)
		require.NoError(t, err)
		require.Empty(t, again.Issued)
		require.Equal(t, before, snapshot(t, dir))
		require.Equal(t, p.CA.CertPEM(), again.CA.CertPEM())
		require.Equal(t, p.APIServer.Cert.SerialNumber, again.APIServer.Cert.SerialNumber)
		require.Equal(t, p.Admin.CertPEM, again.Admin.CertPEM)
	})
}

// TestEnsureClusterPKIReissue: certificates that no longer fit are issued
// again for the same key; the others and the CA stay.
func TestEnsureClusterPKIReissue(t *testing.T) {
	base := pki.Options{APIServerIPs: []net.IP{net.ParseIP("192.0.2.10")}, Logger: quiet(), CertValidity: 48 * time.Hour}
	later := func(d time.Duration) func() time.Time {
		return func() time.Time { return time.Now().Add(d) }
	}
	allClients := []string{"admin.crt", "scheduler.crt", "controller-manager.crt", "kube-proxy.crt", "apiserver-kubelet-client.crt"}
	tests := []struct {
		name       string
		change     func(o *pki.Options)
		wantIssued []string
	}{
		{
			name:       "advertise address changed",
			change:     func(o *pki.Options) { o.APIServerIPs = []net.IP{net.ParseIP("192.0.2.11")} },
			wantIssued: []string{"apiserver.crt"},
		},
		{
			name:       "DNS name added",
			change:     func(o *pki.Options) { o.APIServerDNSNames = []string{"api.example"} },
			wantIssued: []string{"apiserver.crt"},
		},
		{
			name:       "service range changed",
			change:     func(o *pki.Options) { o.ServiceClusterIPRange = netip.MustParsePrefix("10.32.0.0/16") },
			wantIssued: []string{"apiserver.crt"},
		},
		{
			name:       "same names, other order",
			change:     func(o *pki.Options) { o.APIServerIPs = []net.IP{net.ParseIP("192.0.2.10"), net.ParseIP("127.0.0.1")} },
			wantIssued: nil,
		},
		{
			name:       "expired",
			change:     func(o *pki.Options) { o.Now = later(49 * time.Hour) },
			wantIssued: append([]string{"apiserver.crt"}, allClients...),
		},
		{
			name:       "expires within RenewBefore",
			change:     func(o *pki.Options) { o.Now = later(46 * time.Hour) },
			wantIssued: append([]string{"apiserver.crt"}, allClients...),
		},
		{
			name:       "still fresh",
			change:     func(o *pki.Options) { o.Now = later(24 * time.Hour) },
			wantIssued: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first, err := pki.EnsureClusterPKI(dir, base)
			require.NoError(t, err)
			before := snapshot(t, dir)

			opts := base
			tt.change(&opts)
			p, err := pki.EnsureClusterPKI(dir, opts)
			require.NoError(t, err)
			require.Equal(t, tt.wantIssued, p.Issued)
			after := snapshot(t, dir)
			for name := range before {
				if slices.Contains(tt.wantIssued, name) {
					require.NotEqual(t, before[name], after[name], name)
				} else {
					require.Equal(t, before[name], after[name], name+" kept")
				}
			}
			require.Equal(t, first.APIServer.Key, p.APIServer.Key, "the key is kept")
			now := time.Now
			if opts.Now != nil {
				now = opts.Now
			}
			_, err = p.APIServer.Cert.Verify(x509.VerifyOptions{Roots: p.CA.Pool(), CurrentTime: now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			require.NoError(t, err)
		})
	}
}

func TestEnsureClusterPKIBadFiles(t *testing.T) {
	other, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	foreign := must(other.Issue(pki.CertRequest{CommonName: "admin", Organization: []string{"system:masters"}, Usage: pki.ClientAuth}))
	otherKey := must(pki.NewKey(pki.ECDSAP256))
	otherPub := must(pki.EncodePublicKey(otherKey.Public()))

	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"corrupt certificate", func(t *testing.T, dir string) {
			writeString(t, dir, "apiserver.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
		}},
		{"empty key", func(t *testing.T, dir string) { writeString(t, dir, "admin.key", "") }},
		{"key of another certificate", func(t *testing.T, dir string) { writeString(t, dir, "admin.key", readString(t, dir, "scheduler.key")) }},
		{"signed by another CA", func(t *testing.T, dir string) {
			writeString(t, dir, "admin.crt", string(foreign.CertPEM))
			writeString(t, dir, "admin.key", string(foreign.KeyPEM))
		}},
		{"certificate without key", func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "kube-proxy.key"))) }},
		{"corrupt service-account key", func(t *testing.T, dir string) { writeString(t, dir, "sa.key", "nope") }},
		{"service-account public key of another key", func(t *testing.T, dir string) { writeString(t, dir, "sa.pub", string(otherPub)) }},
		{"service-account public key without private key", func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "sa.key"))) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := pki.EnsureClusterPKI(dir, pki.Options{Logger: quiet()})
			require.NoError(t, err)
			tt.damage(t, dir)
			before := snapshot(t, dir)
			_, err = pki.EnsureClusterPKI(dir, pki.Options{Logger: quiet()})
			require.ErrorIs(t, err, pki.ErrBadFile)
			t.Log(err)
			require.Equal(t, before, snapshot(t, dir), "nothing replaced")
		})
	}
}

// TestEnsureClusterPKIRecovers: files a run interrupted between two writes
// leaves behind are completed.
func TestEnsureClusterPKIRecovers(t *testing.T) {
	tests := []struct {
		name       string
		remove     string
		wantIssued []string
	}{
		{"key without certificate", "apiserver.crt", []string{"apiserver.crt"}},
		{"service-account key without public key", "sa.pub", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first, err := pki.EnsureClusterPKI(dir, pki.Options{Logger: quiet()})
			require.NoError(t, err)
			require.NoError(t, os.Remove(filepath.Join(dir, tt.remove)))
			p, err := pki.EnsureClusterPKI(dir, pki.Options{Logger: quiet()})
			require.NoError(t, err)
			require.Equal(t, tt.wantIssued, p.Issued)
			require.FileExists(t, filepath.Join(dir, tt.remove))
			require.Equal(t, first.APIServer.Key, p.APIServer.Key)
			require.Equal(t, first.ServiceAccountKey, p.ServiceAccountKey)
		})
	}
}

func TestEnsureClusterPKIOptions(t *testing.T) {
	for name, opts := range map[string]pki.Options{
		"bad algorithm":          {KeyAlgorithm: 9},
		"renew before validity":  {CertValidity: time.Hour, RenewBefore: time.Hour},
		"negative validity":      {CertValidity: -time.Hour},
		"node name with a slash": {NodeNames: []string{"a/b"}},
		"empty node name":        {NodeNames: []string{""}},
		"IPs of an unknown node": {NodeNames: []string{"a"}, NodeIPs: map[string][]net.IP{"b": {net.ParseIP("192.0.2.1")}}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := pki.EnsureClusterPKI(dir, opts)
			require.Error(t, err)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Empty(t, entries, "nothing written")
		})
	}
}

func TestAPIServerSANs(t *testing.T) {
	dns, ips, err := pki.APIServerSANs(pki.Options{APIServerDNSNames: []string{"localhost", "x"}, ClusterDomain: "corp"})
	require.NoError(t, err)
	require.Equal(t, []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.corp", "x"}, dns)
	require.Equal(t, "[127.0.0.1 10.0.0.1]", fmt.Sprint(ips))
}
