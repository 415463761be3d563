package noderestriction_test

import (
	"context"
	"fmt"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/noderestriction"
)

// The node authorizer goes before RBAC; NodeRestriction is an admission
// plugin.
func ExampleNewAuthorizer() {
	n1 := &apiserver.UserInfo{Name: "system:node:n1", Groups: []string{noderestriction.NodesGroup}}
	z := noderestriction.NewAuthorizer(noderestriction.AuthorizerOptions{})
	for _, name := range []string{"n1", "n2"} {
		d, reason, _ := z.Authorize(context.Background(), apiserver.Attributes{
			User: n1, Verb: "update", ResourceRequest: true, Resource: "nodes", Subresource: "status", Name: name,
		})
		fmt.Println(name, d == apiserver.DecisionAllow, reason)
	}
	opts := apiserver.Options{
		Authorizer: apiserver.Union{z /* , RBAC */},
		Admission:  []any{noderestriction.NewAdmission(noderestriction.AdmissionOptions{})},
	}
	_ = opts
	// Output:
	// n1 true node "n1" may change its own Node object
	// n2 false node "n1" may only change its own Node object
}
