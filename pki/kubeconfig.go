package pki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// DefaultClusterName names the cluster in kubeconfig files when
// Kubeconfig.Cluster is empty.
const DefaultClusterName = "gantry"

// Kubeconfig is a kubeconfig file with one cluster, one user
// authenticating by client certificate, and one context joining them
// ("<User>@<Cluster>"), which is current. Certificates and key are embedded
// as PEM data.
type Kubeconfig struct {
	// Server is the API server's URL, https://host:port. Required.
	Server string
	// CA is the PEM certificate of the CA that signed the serving
	// certificate. Required.
	CA []byte
	// ClientCert and ClientKey are the user's PEM certificate and key.
	// Both required.
	ClientCert, ClientKey []byte
	// User names the user entry; required (use the certificate's CN).
	User string
	// Cluster names the cluster entry; empty means DefaultClusterName.
	Cluster string
}

func (k Kubeconfig) validate() error {
	switch {
	case k.Server == "":
		return errors.New("pki: Kubeconfig.Server is required")
	case len(k.CA) == 0:
		return errors.New("pki: Kubeconfig.CA is required")
	case len(k.ClientCert) == 0 || len(k.ClientKey) == 0:
		return errors.New("pki: Kubeconfig.ClientCert and ClientKey are required")
	case k.User == "":
		return errors.New("pki: Kubeconfig.User is required")
	}
	return nil
}

// Config returns the kubeconfig as client-go's clientcmd API value.
func (k Kubeconfig) Config() (*clientcmdapi.Config, error) {
	if err := k.validate(); err != nil {
		return nil, err
	}
	cluster := k.Cluster
	if cluster == "" {
		cluster = DefaultClusterName
	}
	ctxName := k.User + "@" + cluster
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: k.Server, CertificateAuthorityData: k.CA}
	cfg.AuthInfos[k.User] = &clientcmdapi.AuthInfo{ClientCertificateData: k.ClientCert, ClientKeyData: k.ClientKey}
	cfg.Contexts[ctxName] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: k.User}
	cfg.CurrentContext = ctxName
	return cfg, nil
}

// RESTConfig returns a client-go configuration equivalent to the file.
func (k Kubeconfig) RESTConfig() (*rest.Config, error) {
	if err := k.validate(); err != nil {
		return nil, err
	}
	return &rest.Config{
		Host: k.Server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   k.CA,
			CertData: k.ClientCert,
			KeyData:  k.ClientKey,
		},
	}, nil
}

// WriteKubeconfig writes k to path (mode 0600: it holds a private key),
// atomically, replacing any file there; it makes the parent directory.
func WriteKubeconfig(path string, k Kubeconfig) error {
	cfg, err := k.Config()
	if err != nil {
		return err
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("pki: kubeconfig %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("pki: kubeconfig %s: %w", path, err)
	}
	return writeFile(path, data, keyMode)
}
