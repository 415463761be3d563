package cluster

import (
	"crypto"
	"errors"
	"fmt"
	"net/http"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/authn"
	"github.com/gantryhq/gantry/apiserver/serviceaccount"
	"github.com/gantryhq/gantry/pki"
	"github.com/gantryhq/gantry/store"
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
// client certificates of the cluster CA, service account tokens signed by
// the cluster's service account key (which also signs the TokenRequest
// API's tokens), the static token file when configured, and no anonymous
// access.
func (m *Master) authenticate(opts *apiserver.Options, p *pki.ClusterPKI) error {
	issuer, tokens, err := serviceAccountTokens(opts.Store, p.ServiceAccountKey, m.cfg.ServiceAccountIssuer, m.cfg.APIAudiences)
	if err != nil {
		return err
	}
	opts.TokenIssuer = issuer
	opts.APIAudiences = m.cfg.APIAudiences
	if len(opts.APIAudiences) == 0 {
		opts.APIAudiences = []string{issuer.Issuer()}
	}
	opts.MaxTokenExpiration = m.cfg.ServiceAccountMaxTokenExpiration
	authenticators := []apiserver.Authenticator{p.Authenticator(), tokens}
	if m.cfg.TokenAuthFile != "" {
		tokens, err := authn.LoadTokenFile(m.cfg.TokenAuthFile)
		if err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		opts.Logger.Info("static tokens loaded", "file", m.cfg.TokenAuthFile, "tokens", tokens.Len())
		authenticators = append(authenticators, tokens)
	}
	opts.Authenticator = requireCredentials{authn.Union(authenticators...)}
	return nil
}

// serviceAccountTokens returns the signer of service account tokens and
// their authenticator (legacy secret tokens included), both on key; iss
// and audiences may be empty (the defaults).
func serviceAccountTokens(st store.Store, key crypto.Signer, iss string, audiences []string) (*serviceaccount.Issuer, *serviceaccount.Authenticator, error) {
	issuer, err := serviceaccount.NewIssuer(serviceaccount.IssuerOptions{Key: key, Issuer: iss})
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: %w", err)
	}
	tokens, err := serviceaccount.NewAuthenticator(serviceaccount.AuthenticatorOptions{
		Keys: []crypto.PublicKey{key.Public()}, Issuers: []string{issuer.Issuer()}, Audiences: audiences,
		Legacy: true, Lookup: serviceaccount.StoreLookup(st),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: %w", err)
	}
	return issuer, tokens, nil
}
