package rbac

import (
	"context"
	"fmt"
	"maps"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/apiserver"
)

// Labels and annotations of the bootstrap policy.
const (
	// AutoUpdateAnnotation set to "false" on a bootstrap object keeps
	// EnsureBootstrapPolicy from changing it.
	AutoUpdateAnnotation = "rbac.authorization.kubernetes.io/autoupdate"
	// BootstrappingLabel marks the objects of the bootstrap policy.
	BootstrappingLabel = "kubernetes.io/bootstrapping"
	bootstrappingValue = "rbac-defaults"

	// AggregateToAdmin, AggregateToEdit and AggregateToView on a cluster
	// role add its rules to admin, edit and view.
	AggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	AggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	AggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"
)

// Identities the bootstrap policy grants roles to: the user names and
// groups of the control-plane components' client certificates.
const (
	SchedulerUser         = "system:kube-scheduler"
	ControllerManagerUser = "system:kube-controller-manager"
	ProxyUser             = "system:kube-proxy"
	// APIServerKubeletClientUser is the API server's identity towards
	// node agents; it gets system:kubelet-api-admin.
	APIServerKubeletClientUser = "kube-apiserver-kubelet-client"
	// MonitoringGroup may read /metrics.
	MonitoringGroup = "system:monitoring"
	NodesGroup      = "system:nodes"
	NodeUserPrefix  = "system:node:"
)

// Bootstrap is a set of cluster roles and cluster role bindings.
type Bootstrap struct {
	ClusterRoles        []rbacv1.ClusterRole
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
}

// ruleBuilder makes a PolicyRule: verbs(...).groups(...).resources(...).
type ruleBuilder struct{ r rbacv1.PolicyRule }

func verbs(v ...string) ruleBuilder                  { return ruleBuilder{rbacv1.PolicyRule{Verbs: v}} }
func (b ruleBuilder) groups(g ...string) ruleBuilder { b.r.APIGroups = g; return b }
func (b ruleBuilder) resources(r ...string) ruleBuilder {
	b.r.Resources = r
	return b
}
func (b ruleBuilder) urls(u ...string) rbacv1.PolicyRule { b.r.NonResourceURLs = u; return b.r }
func (b ruleBuilder) rule() rbacv1.PolicyRule            { return b.r }

var (
	read  = []string{"get", "list", "watch"}
	write = []string{"create", "delete", "deletecollection", "patch", "update"}
	all   = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
)

const (
	core        = ""
	apps        = "apps"
	batch       = "batch"
	coordGroup  = "coordination.k8s.io"
	discovery   = "discovery.k8s.io"
	eventsGroup = "events.k8s.io"
	policy      = "policy"
	autoscaling = "autoscaling"
	networking  = "networking.k8s.io"
	storage     = "storage.k8s.io"
	authz       = "authorization.k8s.io"
)

func viewRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		verbs(read...).groups(core).resources("pods", "pods/log", "pods/status", "configmaps", "endpoints",
			"persistentvolumeclaims", "persistentvolumeclaims/status", "replicationcontrollers",
			"replicationcontrollers/scale", "replicationcontrollers/status", "serviceaccounts", "services",
			"services/status", "bindings", "events", "limitranges", "resourcequotas", "resourcequotas/status",
			"namespaces", "namespaces/status").rule(),
		verbs(read...).groups(apps).resources("controllerrevisions", "daemonsets", "daemonsets/status",
			"deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
			"replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status").rule(),
		verbs(read...).groups(batch).resources("jobs", "jobs/status", "cronjobs", "cronjobs/status").rule(),
		verbs(read...).groups(discovery).resources("endpointslices").rule(),
		verbs(read...).groups(eventsGroup).resources("events").rule(),
		verbs(read...).groups(autoscaling).resources("horizontalpodautoscalers", "horizontalpodautoscalers/status").rule(),
		verbs(read...).groups(policy).resources("poddisruptionbudgets", "poddisruptionbudgets/status").rule(),
		verbs(read...).groups(networking).resources("ingresses", "ingresses/status", "networkpolicies").rule(),
	}
}

func editRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		verbs(write...).groups(core).resources("pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy",
			"configmaps", "endpoints", "persistentvolumeclaims", "replicationcontrollers",
			"replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy").rule(),
		// exec, attach and port-forward over WebSockets are GETs.
		verbs("get").groups(core).resources("pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "services/proxy").rule(),
		verbs(read...).groups(core).resources("secrets").rule(),
		verbs("create").groups(core).resources("pods/eviction", "serviceaccounts/token").rule(),
		verbs("impersonate").groups(core).resources("serviceaccounts").rule(),
		verbs(write...).groups(apps).resources("daemonsets", "deployments", "deployments/rollback", "deployments/scale",
			"replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale").rule(),
		verbs(write...).groups(batch).resources("jobs", "cronjobs").rule(),
		verbs(write...).groups(discovery).resources("endpointslices").rule(),
		verbs(write...).groups(autoscaling).resources("horizontalpodautoscalers").rule(),
		verbs(write...).groups(policy).resources("poddisruptionbudgets").rule(),
		verbs(write...).groups(networking).resources("ingresses", "networkpolicies").rule(),
	}
}

func adminRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		verbs(all...).groups(rbacv1.GroupName).resources("roles", "rolebindings").rule(),
		verbs("create").groups(authz).resources("localsubjectaccessreviews").rule(),
	}
}

func concat(rs ...[]rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range rs {
		out = append(out, r...)
	}
	return out
}

// BootstrapPolicy returns the default cluster roles and bindings (see the
// package documentation). Each call returns new values.
func BootstrapPolicy() Bootstrap {
	role := func(name string, labels map[string]string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
		l := map[string]string{BootstrappingLabel: bootstrappingValue}
		maps.Copy(l, labels)
		return rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l, Annotations: map[string]string{AutoUpdateAnnotation: "true"}},
			Rules:      rules,
		}
	}
	aggregated := func(r rbacv1.ClusterRole, label string) rbacv1.ClusterRole {
		r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{label: "true"}}}}
		return r
	}
	var b Bootstrap
	b.ClusterRoles = []rbacv1.ClusterRole{
		role("cluster-admin", nil,
			verbs("*").groups("*").resources("*").rule(),
			verbs("*").urls("*")),
		// admin, edit and view list their rules (for kubectl describe) and
		// also aggregate those of cluster roles labelled for them.
		aggregated(role("admin", nil, concat(adminRules(), editRules(), viewRules())...), AggregateToAdmin),
		aggregated(role("edit", map[string]string{AggregateToAdmin: "true"}, concat(editRules(), viewRules())...), AggregateToEdit),
		aggregated(role("view", map[string]string{AggregateToEdit: "true"}, viewRules()...), AggregateToView),
		role("system:aggregate-to-admin", map[string]string{AggregateToAdmin: "true"}, adminRules()...),
		role("system:aggregate-to-edit", map[string]string{AggregateToEdit: "true"}, editRules()...),
		role("system:aggregate-to-view", map[string]string{AggregateToView: "true"}, viewRules()...),
		role("system:basic-user", nil,
			verbs("create").groups(authz).resources("selfsubjectaccessreviews", "selfsubjectrulesreviews").rule(),
			verbs("create").groups("authentication.k8s.io").resources("selfsubjectreviews").rule()),
		role("system:discovery", nil,
			verbs("get").urls("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/openapi", "/openapi/*", "/version", "/version/")),
		role("system:public-info-viewer", nil,
			verbs("get").urls("/healthz", "/livez", "/readyz", "/version", "/version/")),
		role("system:monitoring", nil,
			verbs("get").urls("/metrics", "/metrics/*", "/healthz", "/healthz/*", "/livez", "/livez/*", "/readyz", "/readyz/*")),
		role("system:kube-scheduler", nil,
			verbs("create", "patch", "update").groups(core, eventsGroup).resources("events").rule(),
			verbs("create", "get", "list", "watch", "update").groups(coordGroup).resources("leases").rule(),
			verbs(read...).groups(core).resources("nodes", "namespaces", "services", "replicationcontrollers",
				"persistentvolumeclaims", "persistentvolumes").rule(),
			verbs("get", "list", "watch", "delete").groups(core).resources("pods").rule(),
			verbs("create").groups(core).resources("bindings", "pods/binding").rule(),
			verbs("patch", "update").groups(core).resources("pods/status").rule(),
			verbs(read...).groups(apps).resources("replicasets", "statefulsets").rule(),
			verbs(read...).groups(policy).resources("poddisruptionbudgets").rule(),
			verbs(read...).groups(storage).resources("storageclasses", "csinodes", "csidrivers", "csistoragecapacities").rule()),
		// gantry's controller manager runs every controller under its own
		// identity (Kubernetes' --use-service-account-credentials=false):
		// the garbage collector and the namespace controller read and
		// delete objects of every resource.
		role("system:kube-controller-manager", nil,
			verbs("get", "list", "watch", "patch", "update", "delete", "deletecollection").groups("*").resources("*").rule(),
			verbs("create").groups(core).resources("pods", "events", "endpoints", "serviceaccounts", "serviceaccounts/token",
				"secrets", "configmaps", "pods/eviction").rule(),
			verbs("create").groups(apps).resources("replicasets", "controllerrevisions").rule(),
			verbs("create").groups(batch).resources("jobs").rule(),
			verbs("create").groups(discovery).resources("endpointslices").rule(),
			verbs("create").groups(coordGroup).resources("leases").rule(),
			verbs("create").groups(eventsGroup).resources("events").rule()),
		// Node agents: the Node authorizer and the NodeRestriction admission
		// plugin narrow these to the agent's own node, lease and pods.
		role("system:node", nil,
			verbs("get", "list", "watch", "create", "update", "patch").groups(core).resources("nodes").rule(),
			verbs("patch", "update").groups(core).resources("nodes/status").rule(),
			verbs("get", "list", "watch", "create", "delete").groups(core).resources("pods").rule(),
			verbs("patch", "update").groups(core).resources("pods/status").rule(),
			verbs("get", "create", "update", "patch", "delete").groups(coordGroup).resources("leases").rule(),
			verbs("create", "patch", "update").groups(core, eventsGroup).resources("events").rule(),
			verbs(read...).groups(core).resources("services", "endpoints").rule(),
			// The node authorizer narrows these to what the node's pods
			// refer to.
			verbs("get").groups(core).resources("configmaps", "secrets", "persistentvolumeclaims", "persistentvolumes", "serviceaccounts").rule(),
			verbs("create").groups(core).resources("serviceaccounts/token").rule(),
			verbs(read...).groups(discovery).resources("endpointslices").rule(),
			// The node agent's API delegates authentication and
			// authorization to the API server.
			verbs("create").groups("authentication.k8s.io").resources("tokenreviews").rule(),
			verbs("create").groups(authz).resources("subjectaccessreviews").rule()),
		// Full use of node agents' APIs (logs, exec, metrics, stats), for
		// the API server's own client certificate.
		role("system:kubelet-api-admin", nil,
			verbs("get", "list", "watch", "proxy").groups(core).resources("nodes").rule(),
			verbs("*").groups(core).resources("nodes/proxy", "nodes/log", "nodes/metrics", "nodes/stats", "nodes/spec").rule()),
		role("system:node-proxier", nil,
			verbs("list", "watch").groups(core).resources("services", "endpoints").rule(),
			verbs(read...).groups(core).resources("nodes").rule(),
			verbs("list", "watch").groups(discovery).resources("endpointslices").rule(),
			verbs("create", "patch", "update").groups(core, eventsGroup).resources("events").rule()),
	}
	bind := func(name, role string, subjects ...rbacv1.Subject) rbacv1.ClusterRoleBinding {
		return rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{BootstrappingLabel: bootstrappingValue},
				Annotations: map[string]string{AutoUpdateAnnotation: "true"}},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects: subjects,
		}
	}
	user := func(n string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: n}
	}
	group := func(n string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: n}
	}
	b.ClusterRoleBindings = []rbacv1.ClusterRoleBinding{
		bind("cluster-admin", "cluster-admin", group(apiserver.MastersGroup)),
		bind("system:basic-user", "system:basic-user", group(AuthenticatedGroup)),
		bind("system:discovery", "system:discovery", group(AuthenticatedGroup)),
		bind("system:public-info-viewer", "system:public-info-viewer", group(AuthenticatedGroup), group(UnauthenticatedGroup)),
		bind("system:monitoring", "system:monitoring", group(MonitoringGroup)),
		bind("system:kube-scheduler", "system:kube-scheduler", user(SchedulerUser)),
		bind("system:kube-controller-manager", "system:kube-controller-manager", user(ControllerManagerUser)),
		bind("system:node", "system:node", group(NodesGroup)),
		bind("system:kube-apiserver-kubelet-client", "system:kubelet-api-admin", user(APIServerKubeletClientUser)),
		bind("system:node-proxier", "system:node-proxier", user(ProxyUser)),
	}
	return b
}

// EnsureBootstrapPolicy writes the bootstrap policy through cs (a client
// allowed to manage RBAC objects, e.g. in system:masters): missing objects
// are created; existing ones get the rules, aggregation rule, labels,
// annotations and subjects they lack (nothing is removed, so permissions
// users added stay); a binding whose roleRef differs is made again.
// Objects annotated rbac.authorization.kubernetes.io/autoupdate=false are
// left alone. It is idempotent and safe to run from several API servers at
// once (conflicts are retried). It blocks until done or ctx is done.
func EnsureBootstrapPolicy(ctx context.Context, cs kubernetes.Interface, b Bootstrap) error {
	for i := range b.ClusterRoles {
		if err := retryConflicts(func() error { return ensureClusterRole(ctx, cs, &b.ClusterRoles[i]) }); err != nil {
			return fmt.Errorf("rbac: bootstrap clusterrole %q: %w", b.ClusterRoles[i].Name, err)
		}
	}
	for i := range b.ClusterRoleBindings {
		if err := retryConflicts(func() error { return ensureClusterRoleBinding(ctx, cs, &b.ClusterRoleBindings[i]) }); err != nil {
			return fmt.Errorf("rbac: bootstrap clusterrolebinding %q: %w", b.ClusterRoleBindings[i].Name, err)
		}
	}
	return nil
}

func retryConflicts(f func() error) error {
	var err error
	for range 5 {
		err = f()
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return err
}

func ensureClusterRole(ctx context.Context, cs kubernetes.Interface, want *rbacv1.ClusterRole) error {
	client := cs.RbacV1().ClusterRoles()
	cur, err := client.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = client.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	if cur.Annotations[AutoUpdateAnnotation] == "false" {
		return nil
	}
	changed := mergeMeta(&cur.ObjectMeta, &want.ObjectMeta)
	for _, r := range want.Rules {
		if !Covers(cur.Rules, r) {
			cur.Rules = append(cur.Rules, r)
			changed = true
		}
	}
	if want.AggregationRule != nil && cur.AggregationRule == nil {
		cur.AggregationRule = want.AggregationRule.DeepCopy()
		changed = true
	}
	if !changed {
		return nil
	}
	_, err = client.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

func ensureClusterRoleBinding(ctx context.Context, cs kubernetes.Interface, want *rbacv1.ClusterRoleBinding) error {
	client := cs.RbacV1().ClusterRoleBindings()
	cur, err := client.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = client.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	if cur.Annotations[AutoUpdateAnnotation] == "false" {
		return nil
	}
	if cur.RoleRef != want.RoleRef {
		// roleRef is immutable: make the binding again, keeping its
		// subjects.
		nb := want.DeepCopy()
		for _, s := range cur.Subjects {
			if !containsSubject(nb.Subjects, s) {
				nb.Subjects = append(nb.Subjects, s)
			}
		}
		uid := cur.UID
		if err := client.Delete(ctx, cur.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil {
			return err
		}
		_, err = client.Create(ctx, nb, metav1.CreateOptions{})
		return err
	}
	changed := mergeMeta(&cur.ObjectMeta, &want.ObjectMeta)
	for _, s := range want.Subjects {
		if !containsSubject(cur.Subjects, s) {
			cur.Subjects = append(cur.Subjects, s)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	_, err = client.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

// mergeMeta adds want's labels and annotations that cur lacks.
func mergeMeta(cur, want *metav1.ObjectMeta) bool {
	changed := false
	for _, m := range []struct {
		dst *map[string]string
		src map[string]string
	}{{&cur.Labels, want.Labels}, {&cur.Annotations, want.Annotations}} {
		for k, v := range m.src {
			if _, ok := (*m.dst)[k]; ok {
				continue
			}
			if *m.dst == nil {
				*m.dst = map[string]string{}
			}
			(*m.dst)[k] = v
			changed = true
		}
	}
	return changed
}

func containsSubject(ss []rbacv1.Subject, s rbacv1.Subject) bool {
	for _, x := range ss {
		if x.Kind == s.Kind && x.Name == s.Name && x.Namespace == s.Namespace {
			return true
		}
	}
	return false
}

// Covers reports whether rules allow everything rule allows: every
// combination of its verbs, API groups, resources and resource names (or
// verbs and non-resource URLs) is allowed by one of rules. A "*" in rule is
// covered only by a "*".
func Covers(rules []rbacv1.PolicyRule, rule rbacv1.PolicyRule) bool {
	allowed := func(a apiserver.Attributes) bool { return matchingRule(rules, a) >= 0 }
	for _, v := range rule.Verbs {
		if len(rule.NonResourceURLs) > 0 {
			for _, u := range rule.NonResourceURLs {
				if !coveredURL(rules, v, u) {
					return false
				}
			}
			continue
		}
		names := rule.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range rule.APIGroups {
			for _, r := range rule.Resources {
				res, sub := splitResource(r)
				for _, n := range names {
					a := apiserver.Attributes{Verb: v, ResourceRequest: true, APIGroup: g, Resource: res, Subresource: sub, Name: n}
					if !allowed(a) { // with n == "", only a rule without names allows a
						return false
					}
				}
			}
		}
	}
	return true
}

// coveredURL: a URL pattern ending in "*" is covered only by a pattern that
// matches its prefix and ends in "*" itself (or "*").
func coveredURL(rules []rbacv1.PolicyRule, verb, url string) bool {
	for i := range rules {
		r := &rules[i]
		if !VerbMatches(r, verb) {
			continue
		}
		for _, u := range r.NonResourceURLs {
			if u == "*" || u == url {
				return true
			}
			if len(u) > 0 && u[len(u)-1] == '*' && NonResourceURLMatches(&rbacv1.PolicyRule{NonResourceURLs: []string{u}}, url) {
				return true
			}
		}
	}
	return false
}

func splitResource(r string) (string, string) {
	for i := 0; i < len(r); i++ {
		if r[i] == '/' {
			return r[:i], r[i+1:]
		}
	}
	return r, ""
}

// WaitForPolicy blocks until p has every cluster role and cluster role
// binding of b (a cache catching up with EnsureBootstrapPolicy), or ctx is
// done. It polls every few milliseconds.
func WaitForPolicy(ctx context.Context, p Policy, b Bootstrap) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		missing := ""
		for i := range b.ClusterRoles {
			if _, ok := p.ClusterRole(b.ClusterRoles[i].Name); !ok {
				missing = "clusterrole " + b.ClusterRoles[i].Name
				break
			}
		}
		if missing == "" {
			have := map[string]bool{}
			for _, crb := range p.ClusterRoleBindings() {
				have[crb.Name] = true
			}
			for i := range b.ClusterRoleBindings {
				if !have[b.ClusterRoleBindings[i].Name] {
					missing = "clusterrolebinding " + b.ClusterRoleBindings[i].Name
					break
				}
			}
		}
		if missing == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rbac: waiting for the bootstrap policy (%s): %w", missing, ctx.Err())
		case <-t.C:
		}
	}
}
