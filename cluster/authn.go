package cluster

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/authn"
	"github.com/gantryhq/gantry/pki"
)

// errNoCredentials is the 401 message of a request without credentials.
var errNoCredentials = errors.New("anonymous requests are not allowed: present a client certificate (see the kubeconfig in the master's data dir) or a bearer token")

// requireCredentials refuses requests its authenticator does not know
// (ok == false) with an error, which the API server answers with 401:
// apiserver.Options has no switch to turn anonymous access off, so the
// masters of this package do it here. /healthz, /livez and /readyz stay
// open (the API server's AlwaysAllowPaths); everything else, discovery,
// /version, /openapi and /metrics included, needs a certificate and is
// authorized.
type requireCredentials struct {
	apiserver.Authenticator
}

func (a requireCredentials) AuthenticateRequest(r *http.Request) (*apiserver.UserInfo, bool, error) {
	u, ok, err := a.Authenticator.AuthenticateRequest(r)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, errNoCredentials
	}
	return u, true, nil
}

// authenticate sets the authentication of a master's API server in opts:
// client certificates of the cluster CA, the static token file when
// configured, and no anonymous access.
func (m *Master) authenticate(opts *apiserver.Options, p *pki.ClusterPKI) error {
	var authenticator apiserver.Authenticator = p.Authenticator()
	if m.cfg.TokenAuthFile != "" {
		tokens, err := authn.LoadTokenFile(m.cfg.TokenAuthFile)
		if err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		opts.Logger.Info("static tokens loaded", "file", m.cfg.TokenAuthFile, "tokens", tokens.Len())
		authenticator = authn.Union(authenticator, tokens)
	}
	opts.Authenticator = requireCredentials{authenticator}
	return nil
}
