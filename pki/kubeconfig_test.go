package pki_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/pki"
	"github.com/gantryhq/gantry/store/memory"
)

func TestWriteKubeconfig(t *testing.T) {
	p, err := pki.EnsureClusterPKI(t.TempDir(), pki.Options{Logger: quiet()})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "sub", "kubeconfig")
	k := p.Kubeconfig("https://127.0.0.1:6443", p.Admin)
	require.NoError(t, pki.WriteKubeconfig(path, k))
	requireMode(t, path, 0o600)

	cfg, err := clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	require.Equal(t, "admin@gantry", cfg.CurrentContext)
	require.Equal(t, "https://127.0.0.1:6443", cfg.Clusters["gantry"].Server)
	require.Equal(t, p.CA.CertPEM(), cfg.Clusters["gantry"].CertificateAuthorityData)
	require.Equal(t, p.Admin.CertPEM, cfg.AuthInfos["admin"].ClientCertificateData)
	require.Equal(t, p.Admin.KeyPEM, cfg.AuthInfos["admin"].ClientKeyData)

	rc, err := clientcmd.BuildConfigFromFlags("", path)
	require.NoError(t, err)
	require.Equal(t, "https://127.0.0.1:6443", rc.Host)

	// Written again with another server: replaced.
	k.Server, k.Cluster = "https://10.0.0.1:443", "prod"
	require.NoError(t, pki.WriteKubeconfig(path, k))
	cfg, err = clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	require.Equal(t, "admin@prod", cfg.CurrentContext)
	require.Len(t, cfg.Clusters, 1)
}

func TestKubeconfigValidation(t *testing.T) {
	good := pki.Kubeconfig{Server: "https://x", CA: []byte("ca"), ClientCert: []byte("c"), ClientKey: []byte("k"), User: "u"}
	for name, change := range map[string]func(*pki.Kubeconfig){
		"no server": func(k *pki.Kubeconfig) { k.Server = "" },
		"no CA":     func(k *pki.Kubeconfig) { k.CA = nil },
		"no cert":   func(k *pki.Kubeconfig) { k.ClientCert = nil },
		"no key":    func(k *pki.Kubeconfig) { k.ClientKey = nil },
		"no user":   func(k *pki.Kubeconfig) { k.User = "" },
	} {
		t.Run(name, func(t *testing.T) {
			k := good
			change(&k)
			path := filepath.Join(t.TempDir(), "kubeconfig")
			require.Error(t, pki.WriteKubeconfig(path, k))
			require.NoFileExists(t, path)
			_, err := k.RESTConfig()
			require.Error(t, err)
		})
	}
}

// TestKubeconfigClient: a client built from a written kubeconfig talks to a
// server with the cluster's certificates.
func TestKubeconfigClient(t *testing.T) {
	p, err := pki.EnsureClusterPKI(t.TempDir(), pki.Options{Logger: quiet()})
	require.NoError(t, err)
	st := memory.New(memory.Options{})
	t.Cleanup(func() { st.Close() })
	srv, err := apiserver.New(apiserver.Options{Store: st, Authenticator: p.Authenticator(), Logger: quiet()})
	require.NoError(t, err)
	require.NoError(t, srv.EnsureSystemObjects(context.Background()))
	hs := tlsServer(t, p, srv)

	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, pki.WriteKubeconfig(path, p.Kubeconfig(hs.URL, p.Admin)))
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(rc)
	require.NoError(t, err)
	ns, err := cs.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, ns.Items)
}
