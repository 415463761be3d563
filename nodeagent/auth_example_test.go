package nodeagent_test

import (
	"fmt"
	"net/http/httptest"

	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/authn"
	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/pki"
)

// The authorization attributes of requests to the node agent's API, as
// the kubelet maps them.
func ExampleRequestAttributes() {
	user := &apiserver.UserInfo{Name: "kube-apiserver-kubelet-client"}
	for _, r := range []struct{ method, path string }{
		{"GET", "/containerLogs/default/web/app"},
		{"POST", "/exec/default/web/app"},
		{"GET", "/metrics"},
	} {
		a := nodeagent.RequestAttributes("node-1", user, httptest.NewRequest(r.method, r.path, nil))
		fmt.Printf("%s %s: %s %s/%s %s\n", r.method, r.path, a.Verb, a.Resource, a.Subresource, a.Name)
	}
	// Output:
	// GET /containerLogs/default/web/app: get nodes/proxy node-1
	// POST /exec/default/web/app: create nodes/proxy node-1
	// GET /metrics: get nodes/metrics node-1
}

// A node agent whose API is guarded like the kubelet's with
// --anonymous-auth=false and webhook authentication and authorization:
// client certificates of the cluster CA, or bearer tokens the API server
// accepts; what each user may do is asked of the API server.
func ExampleNewTokenReviewAuthenticator() {
	var (
		client  kubernetes.Interface // the node's client
		ca      *pki.CA              // the cluster CA
		serving *pki.Certificate     // the node's serving certificate
	)
	if client == nil || ca == nil || serving == nil {
		return // (this example shows the wiring only)
	}
	tlsConfig, err := pki.ServerTLSConfig(serving, ca.Pool())
	if err != nil {
		fmt.Println(err)
		return
	}
	tokens, err := nodeagent.NewTokenReviewAuthenticator(nodeagent.TokenReviewOptions{Client: client})
	if err != nil {
		fmt.Println(err)
		return
	}
	reviews, err := nodeagent.NewSubjectAccessReviewAuthorizer(nodeagent.SubjectAccessReviewOptions{Client: client})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = nodeagent.Options{
		TLSConfig:     tlsConfig,
		Authenticator: authn.Union(pki.NewCertAuthenticator(ca.Pool()), tokens),
		Authorizer:    reviews,
		// NodeName, Client, Runtime, ServeAddress ...
	}
}
