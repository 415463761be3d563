package noderestriction

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gantryhq/gantry/apiserver"
)

var n1 = &apiserver.UserInfo{Name: "system:node:n1", Groups: []string{NodesGroup, "system:authenticated"}}

func TestNodeName(t *testing.T) {
	for _, tt := range []struct {
		user *apiserver.UserInfo
		want string
		ok   bool
	}{
		{n1, "n1", true},
		{&apiserver.UserInfo{Name: "system:node:n1"}, "", false}, // not in system:nodes
		{&apiserver.UserInfo{Name: "bob", Groups: []string{NodesGroup}}, "", false},
		{&apiserver.UserInfo{Name: "system:node:", Groups: []string{NodesGroup}}, "", false},
		{nil, "", false},
	} {
		if got, ok := NodeName(tt.user); got != tt.want || ok != tt.ok {
			t.Errorf("NodeName(%+v) = %q, %v; want %q, %v", tt.user, got, ok, tt.want, tt.ok)
		}
	}
}

// TestAuthorizerRulesFor: the node authorizer lists no rules; for node
// agents the list of a rules review is incomplete (it decides by their pods,
// not by rules), for everyone else it adds nothing and leaves the list
// complete (kubectl auth can-i --list prints no warning).
func TestAuthorizerRulesFor(t *testing.T) {
	var z apiserver.RuleResolver = NewAuthorizer(AuthorizerOptions{})
	r, err := z.RulesFor(context.Background(), &apiserver.UserInfo{Name: "jane", Groups: []string{"system:authenticated"}}, "default")
	if err != nil || r.Incomplete || len(r.Resource)+len(r.NonResource) != 0 {
		t.Errorf("RulesFor(jane) = %+v, %v; want no rules, complete", r, err)
	}
	r, err = z.RulesFor(context.Background(), n1, "default")
	if err == nil || !r.Incomplete {
		t.Errorf("RulesFor(node) = %+v, %v; want incomplete with an error", r, err)
	}
}

func TestAuthorizer(t *testing.T) {
	z := NewAuthorizer(AuthorizerOptions{})
	attrs := func(verb, group, resource, sub, ns, name string) apiserver.Attributes {
		return apiserver.Attributes{User: n1, Verb: verb, ResourceRequest: true, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
	}
	for _, tt := range []struct {
		name   string
		a      apiserver.Attributes
		want   apiserver.Decision
		reason string
	}{
		{"update own node", attrs("update", "", "nodes", "", "", "n1"), apiserver.DecisionAllow, ""},
		{"update own node status", attrs("patch", "", "nodes", "status", "", "n1"), apiserver.DecisionAllow, ""},
		{"update another node", attrs("update", "", "nodes", "", "", "n2"), apiserver.DecisionDeny, `node "n1" may only change its own Node object`},
		{"another node's status", attrs("update", "", "nodes", "status", "", "n2"), apiserver.DecisionDeny, ""},
		{"delete another node", attrs("delete", "", "nodes", "", "", "n2"), apiserver.DecisionDeny, ""},
		{"delete all nodes", attrs("deletecollection", "", "nodes", "", "", ""), apiserver.DecisionDeny, ""},
		{"read nodes: RBAC decides", attrs("get", "", "nodes", "", "", "n2"), apiserver.DecisionNoOpinion, ""},
		{"create a node: admission checks the name", attrs("create", "", "nodes", "", "", ""), apiserver.DecisionNoOpinion, ""},
		{"own lease", attrs("update", "coordination.k8s.io", "leases", "", LeaseNamespace, "n1"), apiserver.DecisionAllow, ""},
		{"get own lease", attrs("get", "coordination.k8s.io", "leases", "", LeaseNamespace, "n1"), apiserver.DecisionAllow, ""},
		{"create a lease", attrs("create", "coordination.k8s.io", "leases", "", LeaseNamespace, ""), apiserver.DecisionAllow, ""},
		{"another node's lease", attrs("update", "coordination.k8s.io", "leases", "", LeaseNamespace, "n2"), apiserver.DecisionDeny, `only use its own Lease "kube-node-lease/n1"`},
		{"list leases", attrs("list", "coordination.k8s.io", "leases", "", LeaseNamespace, ""), apiserver.DecisionDeny, ""},
		{"lease elsewhere", attrs("update", "coordination.k8s.io", "leases", "", "kube-system", "n1"), apiserver.DecisionDeny, ""},
		{"pods: RBAC and admission decide", attrs("update", "", "pods", "status", "default", "web"), apiserver.DecisionNoOpinion, ""},
		{"not a node", apiserver.Attributes{User: &apiserver.UserInfo{Name: "bob"}, Verb: "update", ResourceRequest: true, Resource: "nodes", Name: "n2"}, apiserver.DecisionNoOpinion, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, reason, err := z.Authorize(context.Background(), tt.a)
			if err != nil || d != tt.want || !strings.Contains(reason, tt.reason) {
				t.Errorf("Authorize = %v %q %v; want %v with %q", d, reason, err, tt.want, tt.reason)
			}
		})
	}
}

func TestAdmission(t *testing.T) {
	pod := func(node string, mirror bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}, Spec: corev1.PodSpec{NodeName: node}}
		if mirror {
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
		}
		return p
	}
	node := func(labels map[string]string, taint string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: labels}}
		if taint != "" {
			n.Spec.Taints = []corev1.Taint{{Key: taint, Effect: corev1.TaintEffectNoSchedule}}
		}
		return n
	}
	req := func(op apiserver.Operation, resource, sub, ns, name string, obj, old runtime.Object) *apiserver.AdmissionRequest {
		r := &apiserver.AdmissionRequest{Operation: op, Subresource: sub, Namespace: ns, Name: name, Object: obj, OldObject: old, User: n1}
		r.Resource.Version, r.Resource.Resource = "v1", resource
		if resource == "leases" {
			r.Resource.Group = "coordination.k8s.io"
		}
		return r
	}
	for _, tt := range []struct {
		name string
		req  *apiserver.AdmissionRequest
		err  string // "" for admitted
	}{
		{"status of own pod", req(apiserver.Update, "pods", "status", "default", "web", pod("n1", false), pod("n1", false)), ""},
		{"status of another node's pod", req(apiserver.Update, "pods", "status", "default", "web", pod("n2", false), pod("n2", false)), `node "n1" may not update pod "default/web": it is bound to node "n2"`},
		{"moving a pod to itself", req(apiserver.Update, "pods", "status", "default", "web", pod("n1", false), pod("n2", false)), "bound to node"},
		{"spec of own pod", req(apiserver.Update, "pods", "", "default", "web", pod("n1", false), pod("n1", false)), "only change the status"},
		{"delete own pod", req(apiserver.Delete, "pods", "", "default", "web", nil, pod("n1", false)), ""},
		{"delete another node's pod", req(apiserver.Delete, "pods", "", "default", "web", nil, pod("n2", false)), `may not delete pod "default/web"`},
		{"create a mirror pod", req(apiserver.Create, "pods", "", "default", "web", pod("n1", true), nil), ""},
		{"create a plain pod", req(apiserver.Create, "pods", "", "default", "web", pod("n1", false), nil), "only create mirror pods"},
		{"create a mirror pod for another node", req(apiserver.Create, "pods", "", "default", "web", pod("n2", true), nil), "bound to itself"},
		{"create own node", req(apiserver.Create, "nodes", "", "", "n1", &corev1.Node{}, nil), ""},
		{"create own node with taints", req(apiserver.Create, "nodes", "", "", "n1", node(map[string]string{"a": "b"}, "t"), nil), ""},
		{"restricted label", req(apiserver.Create, "nodes", "", "", "n1", node(map[string]string{RestrictedLabelPrefix + "pool": "gpu"}, ""), nil), "may not set label node-restriction.kubernetes.io/pool"},
		{"own labels", req(apiserver.Update, "nodes", "", "", "n1", node(map[string]string{"a": "c", RestrictedLabelPrefix + "pool": "gpu"}, "t"), node(map[string]string{"a": "b", RestrictedLabelPrefix + "pool": "gpu"}, "t")), ""},
		{"change a restricted label", req(apiserver.Update, "nodes", "", "", "n1", node(map[string]string{RestrictedLabelPrefix + "pool": "cpu"}, ""), node(map[string]string{RestrictedLabelPrefix + "pool": "gpu"}, "")), "may not set label"},
		{"remove a restricted label", req(apiserver.Update, "nodes", "", "", "n1", node(nil, ""), node(map[string]string{RestrictedLabelPrefix + "pool": "gpu"}, "")), "may not remove label"},
		{"untaint itself", req(apiserver.Update, "nodes", "", "", "n1", node(nil, ""), node(nil, "t")), "may not change its own taints"},
		{"status keeps taints", req(apiserver.Update, "nodes", "status", "", "n1", node(nil, "t"), node(nil, "t")), ""},
		{"create another node", req(apiserver.Create, "nodes", "", "", "n2", &corev1.Node{}, nil), `may not create Node "n2"`},
		{"own lease", req(apiserver.Create, "leases", "", LeaseNamespace, "n1", nil, nil), ""},
		{"another lease", req(apiserver.Create, "leases", "", LeaseNamespace, "n2", nil, nil), "only \"kube-node-lease/n1\""},
		{"configmaps pass", req(apiserver.Create, "configmaps", "", "default", "x", &corev1.ConfigMap{}, nil), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := NewAdmission(AdmissionOptions{}).Validate(context.Background(), tt.req)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("Validate: %v, want admitted", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("Validate: %v, want an error containing %q", err, tt.err)
			}
		})
	}
	other := *NewAdmission(AdmissionOptions{})
	bob := req(apiserver.Update, "pods", "", "default", "web", pod("n2", false), pod("n2", false))
	bob.User = &apiserver.UserInfo{Name: "bob"}
	if err := other.Validate(context.Background(), bob); err != nil {
		t.Errorf("a user that is not a node: %v", err)
	}
}
