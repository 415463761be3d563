package noderestriction

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/store"
)

// Node agent identities.
const (
	NodeUserPrefix = "system:node:"
	NodesGroup     = "system:nodes"
	// LeaseNamespace holds the node agents' heartbeat leases.
	LeaseNamespace = corev1.NamespaceNodeLease
)

// NodeName returns the node a user is the agent of: the user is
// system:node:<name> in the group system:nodes.
func NodeName(u *apiserver.UserInfo) (string, bool) {
	if u == nil || !slices.Contains(u.Groups, NodesGroup) {
		return "", false
	}
	name, ok := strings.CutPrefix(u.Name, NodeUserPrefix)
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

// AuthorizerOptions configure the node authorizer. The zero value is
// valid.
type AuthorizerOptions struct {
	// Pods, when set, narrows a node agent's reads of secrets, config
	// maps, persistent volume claims and service accounts to those the pods
	// bound to it refer to (get only; list and watch are denied). Nil
	// leaves those reads to RBAC.
	Pods Pods
}

// Authorizer decides the node agents' requests for Node and Lease objects,
// and with AuthorizerOptions.Pods for the objects their pods refer to (see
// the package documentation). It is safe for concurrent use.
type Authorizer struct {
	pods Pods
}

var _ apiserver.Authorizer = (*Authorizer)(nil)

// NewAuthorizer returns the node authorizer.
func NewAuthorizer(opts AuthorizerOptions) *Authorizer { return &Authorizer{pods: opts.Pods} }

var _ apiserver.RuleResolver = (*Authorizer)(nil)

// RulesFor implements apiserver.RuleResolver: the node authorizer has no
// rules to list. For a node agent the answer is incomplete (its decisions
// depend on the pods bound to the node), for other users it adds nothing.
func (z *Authorizer) RulesFor(_ context.Context, user *apiserver.UserInfo, _ string) (apiserver.Rules, error) {
	if node, ok := NodeName(user); ok {
		return apiserver.Rules{Incomplete: true}, fmt.Errorf("node %q: the node authorizer does not list rules", node)
	}
	return apiserver.Rules{}, nil
}

// referencedResources are the core resources a node agent may read when
// one of its pods refers to them, and their names in messages.
var referencedResources = map[string]string{
	"secrets": "secret", "configmaps": "config map", "persistentvolumeclaims": "persistent volume claim", "serviceaccounts": "service account",
}

var readVerbs = []string{"get", "list", "watch"}

// Authorize implements apiserver.Authorizer.
func (z *Authorizer) Authorize(ctx context.Context, a apiserver.Attributes) (apiserver.Decision, string, error) {
	node, ok := NodeName(a.User)
	if !ok || !a.ResourceRequest {
		return apiserver.DecisionNoOpinion, "", nil
	}
	if a.APIGroup == "" && a.Resource == "serviceaccounts" && a.Subresource == "token" && z.pods != nil {
		if a.Verb != "create" {
			return apiserver.DecisionNoOpinion, "", nil
		}
		ref, err := z.pods.Referenced(ctx, node, "serviceaccounts", a.Namespace, a.Name)
		switch {
		case err != nil:
			return apiserver.DecisionDeny, fmt.Sprintf("node %q: could not check which service accounts its pods run as", node), err
		case ref:
			return apiserver.DecisionAllow, fmt.Sprintf("a pod bound to node %q runs as service account %q", node, a.Namespace+"/"+a.Name), nil
		}
		return apiserver.DecisionDeny, fmt.Sprintf("node %q may only request tokens of the service accounts its pods run as, and none runs as %q", node, a.Namespace+"/"+a.Name), nil
	}
	if kind, ok := referencedResources[a.Resource]; ok && a.APIGroup == "" && a.Subresource == "" && z.pods != nil {
		switch a.Verb {
		case "get":
			ref, err := z.pods.Referenced(ctx, node, a.Resource, a.Namespace, a.Name)
			if err != nil { // deny: RBAC would allow every node agent
				return apiserver.DecisionDeny, fmt.Sprintf("node %q: could not check which %ss its pods refer to", node, kind), err
			}
			if ref {
				return apiserver.DecisionAllow, fmt.Sprintf("a pod bound to node %q refers to %s %q", node, kind, a.Namespace+"/"+a.Name), nil
			}
			return apiserver.DecisionDeny, fmt.Sprintf("node %q may only read the %ss its pods refer to, and no pod bound to it refers to %q", node, kind, a.Namespace+"/"+a.Name), nil
		case "list", "watch":
			return apiserver.DecisionDeny, fmt.Sprintf("node %q may only get the %ss its pods refer to, one by one", node, kind), nil
		}
	}
	switch {
	case a.APIGroup == "" && a.Resource == "nodes":
		switch {
		case slices.Contains(readVerbs, a.Verb):
			return apiserver.DecisionNoOpinion, "", nil // RBAC decides
		case a.Verb == "create" && a.Name == "":
			return apiserver.DecisionNoOpinion, "", nil // the name is checked by Admission
		case a.Name == node && a.Verb != "deletecollection":
			return apiserver.DecisionAllow, fmt.Sprintf("node %q may change its own Node object", node), nil
		}
		return apiserver.DecisionDeny, fmt.Sprintf("node %q may only change its own Node object", node), nil
	case a.APIGroup == coordinationv1.GroupName && a.Resource == "leases":
		switch {
		case a.Namespace != LeaseNamespace:
			return apiserver.DecisionDeny, fmt.Sprintf("node %q may only use its own Lease in namespace %q", node, LeaseNamespace), nil
		case a.Verb == "create" && a.Name == "":
			return apiserver.DecisionAllow, fmt.Sprintf("node %q may create its Lease (the name is checked by admission)", node), nil
		case a.Name == node && a.Subresource == "" && a.Verb != "deletecollection" && a.Verb != "list" && a.Verb != "watch":
			return apiserver.DecisionAllow, fmt.Sprintf("node %q may use its own Lease", node), nil
		}
		return apiserver.DecisionDeny, fmt.Sprintf("node %q may only use its own Lease %q in namespace %q", node, LeaseNamespace+"/"+node, LeaseNamespace), nil
	}
	return apiserver.DecisionNoOpinion, "", nil
}

// AdmissionOptions configure the NodeRestriction plugin. The zero value is
// valid.
type AdmissionOptions struct {
	// Store, when set, lets the plugin check the pod a node agent binds a
	// service account token to (TokenRequest): it must be bound to the
	// node and run as that account. Without it node agents may not request
	// tokens at all.
	Store store.Store
}

// Admission is the NodeRestriction validating admission plugin (see the
// package documentation). It is safe for concurrent use.
type Admission struct {
	st store.Store
}

var _ apiserver.ValidatingAdmission = (*Admission)(nil)

// NewAdmission returns the NodeRestriction plugin.
func NewAdmission(opts AdmissionOptions) *Admission { return &Admission{st: opts.Store} }

// Validate implements apiserver.ValidatingAdmission; writes of users that
// are not node agents pass. Refusals are errors the API server reports as
// 403 Forbidden.
func (p *Admission) Validate(ctx context.Context, req *apiserver.AdmissionRequest) error {
	node, ok := NodeName(req.User)
	if !ok {
		return nil
	}
	gr := req.Resource.GroupResource()
	switch {
	case gr.Group == "" && gr.Resource == "serviceaccounts" && req.Subresource == "token":
		return p.admitToken(ctx, node, req)
	case gr.Group == "" && gr.Resource == "pods":
		return admitPod(node, req)
	case gr.Group == "" && gr.Resource == "nodes":
		if req.Name != node {
			return fmt.Errorf("node %q may not %s Node %q: only its own", node, strings.ToLower(string(req.Operation)), req.Name)
		}
		return admitOwnNode(node, req)
	case gr.Group == coordinationv1.GroupName && gr.Resource == "leases":
		if req.Namespace != LeaseNamespace || req.Name != node {
			return fmt.Errorf("node %q may not %s Lease %q: only %q", node, strings.ToLower(string(req.Operation)), req.Namespace+"/"+req.Name, LeaseNamespace+"/"+node)
		}
	}
	return nil
}

// RestrictedLabelPrefix marks node labels that only administrators may
// set: workloads can rely on them to pick nodes a node agent cannot claim
// for itself.
const RestrictedLabelPrefix = "node-restriction.kubernetes.io/"

// admitOwnNode: a node agent may not set restricted labels, nor change its
// taints once registered (administrators and controllers taint nodes).
func admitOwnNode(node string, req *apiserver.AdmissionRequest) error {
	obj, _ := req.Object.(*corev1.Node)
	old, _ := req.OldObject.(*corev1.Node)
	if obj == nil {
		return nil
	}
	var oldLabels map[string]string
	if old != nil {
		oldLabels = old.Labels
	}
	for k, v := range obj.Labels {
		if strings.HasPrefix(k, RestrictedLabelPrefix) && (old == nil || oldLabels[k] != v) {
			return fmt.Errorf("node %q may not set label %s on itself", node, k)
		}
	}
	for k := range oldLabels {
		if _, ok := obj.Labels[k]; !ok && strings.HasPrefix(k, RestrictedLabelPrefix) {
			return fmt.Errorf("node %q may not remove label %s from itself", node, k)
		}
	}
	if old != nil && req.Subresource == "" && !equality.Semantic.DeepEqual(obj.Spec.Taints, old.Spec.Taints) {
		return fmt.Errorf("node %q may not change its own taints", node)
	}
	return nil
}

func admitPod(node string, req *apiserver.AdmissionRequest) error {
	key := req.Namespace + "/" + req.Name
	switch req.Operation {
	case apiserver.Create:
		pod, ok := req.Object.(*corev1.Pod)
		if !ok {
			return nil
		}
		if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; !mirror {
			return fmt.Errorf("node %q may only create mirror pods (annotation %s), not pod %q", node, corev1.MirrorPodAnnotationKey, key)
		}
		if pod.Spec.NodeName != node {
			return fmt.Errorf("node %q may only create mirror pods bound to itself, not pod %q for node %q", node, key, pod.Spec.NodeName)
		}
	case apiserver.Update, apiserver.Delete:
		old, ok := req.OldObject.(*corev1.Pod)
		if !ok {
			return nil
		}
		if old.Spec.NodeName != node {
			return fmt.Errorf("node %q may not %s pod %q: it is bound to node %q", node, strings.ToLower(string(req.Operation)), key, old.Spec.NodeName)
		}
		if req.Operation == apiserver.Update && req.Subresource != "status" {
			return fmt.Errorf("node %q may only change the status of pod %q, not its spec or metadata", node, key)
		}
	}
	return nil
}

// admitToken: a node agent may request a service account token only bound
// to a pod that is bound to it and runs as that account, so the token dies
// with the pod.
func (p *Admission) admitToken(ctx context.Context, node string, req *apiserver.AdmissionRequest) error {
	tr, ok := req.Object.(*authenticationv1.TokenRequest)
	if !ok {
		return nil
	}
	account := req.Namespace + "/" + req.Name
	ref := tr.Spec.BoundObjectRef
	if ref == nil || ref.Kind != "Pod" {
		return fmt.Errorf("node %q may only request tokens of service account %q bound to one of its pods (spec.boundObjectRef)", node, account)
	}
	if p.st == nil {
		return fmt.Errorf("node %q may not request service account tokens: this server cannot check their pods", node)
	}
	kv, err := p.st.Get(ctx, store.ObjectKey("pods", req.Namespace, ref.Name))
	if err != nil {
		return fmt.Errorf("node %q requested a token bound to pod %q: %w", node, req.Namespace+"/"+ref.Name, err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(kv.Value, &pod); err != nil {
		return fmt.Errorf("noderestriction: decoding pod %s/%s: %w", req.Namespace, ref.Name, err)
	}
	switch {
	case ref.UID != "" && ref.UID != pod.UID:
		return fmt.Errorf("node %q requested a token bound to pod %q with UID %s, but the pod's is %s", node, req.Namespace+"/"+ref.Name, ref.UID, pod.UID)
	case pod.Spec.NodeName != node:
		return fmt.Errorf("node %q may not request tokens bound to pod %q, which is bound to node %q", node, req.Namespace+"/"+ref.Name, pod.Spec.NodeName)
	case pod.Spec.ServiceAccountName != req.Name:
		return fmt.Errorf("node %q may not request tokens of service account %q for pod %q, which runs as %q", node, account, req.Namespace+"/"+ref.Name, pod.Spec.ServiceAccountName)
	}
	return nil
}
