// Package authn has the API server's request authenticators besides client
// certificates (pki.CertAuthenticator): a static token file (kube-apiserver's
// --token-auth-file) and Union, which tries several in turn.
package authn
