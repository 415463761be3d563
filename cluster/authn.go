package cluster

import (
	"errors"
	"net/http"

	"github.com/gantryhq/gantry/apiserver"
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
