package pki_test

import (
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/gantryhq/gantry/pki"
)

func ExampleLoadOrCreateCA() {
	dir, _ := os.MkdirTemp("", "pki-example-")
	defer os.RemoveAll(dir)

	ca, err := pki.LoadOrCreateCA(dir, pki.CAOptions{})
	if err != nil {
		log.Fatal(err)
	}
	// The second call finds the files and reuses them.
	again, err := pki.LoadOrCreateCA(dir, pki.CAOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ca.Certificate().Subject.CommonName, filepath.Base(ca.CertFile()), string(ca.CertPEM()) == string(again.CertPEM()))
	// Output: gantry-ca ca.crt true
}

func ExampleCA_Issue() {
	ca, err := pki.NewCA(pki.CAOptions{})
	if err != nil {
		log.Fatal(err)
	}
	c, err := ca.Issue(pki.CertRequest{
		CommonName:   "jane",
		Organization: []string{"developers"},
		Usage:        pki.ClientAuth,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Cert.Subject.CommonName, c.Cert.Subject.Organization, ca.Verify(c.Cert, pki.ClientAuth))
	// Output: jane [developers] <nil>
}

func ExampleEnsureClusterPKI() {
	dir, _ := os.MkdirTemp("", "pki-example-")
	defer os.RemoveAll(dir)

	p, err := pki.EnsureClusterPKI(dir, pki.Options{
		APIServerIPs: []net.IP{net.ParseIP("192.0.2.10")},
		NodeNames:    []string{"node-1"},
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.APIServer.Cert.DNSNames)
	fmt.Println(p.APIServer.Cert.IPAddresses)
	fmt.Println(p.Admin.Cert.Subject.CommonName, p.Admin.Cert.Subject.Organization)
	fmt.Println(p.Nodes["node-1"].Cert.Subject.CommonName, p.Nodes["node-1"].Cert.Subject.Organization)
	// Output:
	// [localhost kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local]
	// [127.0.0.1 10.0.0.1 192.0.2.10]
	// admin [system:masters]
	// system:node:node-1 [system:nodes]
}

func ExampleWriteKubeconfig() {
	dir, _ := os.MkdirTemp("", "pki-example-")
	defer os.RemoveAll(dir)
	p, err := pki.EnsureClusterPKI(filepath.Join(dir, "pki"), pki.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := pki.WriteKubeconfig(path, p.Kubeconfig("https://127.0.0.1:6443", p.Admin)); err != nil {
		log.Fatal(err)
	}
	fi, _ := os.Stat(path)
	fmt.Println(fi.Mode().Perm())
	// Output: -rw-------
}

func ExampleNewCertAuthenticator() {
	ca, err := pki.NewCA(pki.CAOptions{})
	if err != nil {
		log.Fatal(err)
	}
	authn := pki.NewCertAuthenticator(ca.Pool())
	// A request without a client certificate: not authenticated, no error.
	r, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1/api", nil)
	user, ok, err := authn.AuthenticateRequest(r)
	fmt.Println(user, ok, err)
	// Output: <nil> false <nil>
}

func ExampleServerTLSConfig() {
	ca, err := pki.NewCA(pki.CAOptions{})
	if err != nil {
		log.Fatal(err)
	}
	serving, err := ca.Issue(pki.CertRequest{CommonName: "api", DNSNames: []string{"localhost"}, Usage: pki.ServerAuth})
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := pki.ServerTLSConfig(serving, ca.Pool())
	if err != nil {
		log.Fatal(err)
	}
	// Serve with http.Server{TLSConfig: cfg} or apiserver.Server.Serve, and
	// authenticate with pki.NewCertAuthenticator(ca.Pool()).
	fmt.Println(cfg.ClientAuth)
	// Output: RequestClientCert
}
