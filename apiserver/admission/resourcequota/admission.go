package resourcequota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/store"
)

// DefaultMaxAttempts bounds how often a charge of one quota is tried when
// other writers keep changing the quota first.
const DefaultMaxAttempts = 64

var quotasResource = corev1.Resource("resourcequotas")

// Options configure the admission plugin.
type Options struct {
	// Store is the API server's store: quotas are read from it, and
	// charged in it with compare-and-swap writes of their status. Required.
	Store store.Store
	// Objects lists the objects whose usage a quota does not know yet (a
	// new quota, or a new resource in its spec.hard); nil means
	// StoreObjects{Store}.
	Objects Objects
	// MaxAttempts bounds the compare-and-swap attempts of one charge; 0
	// means DefaultMaxAttempts.
	MaxAttempts int
	// Logger receives the failures of releasing charges after a denial;
	// nil means slog.Default().
	Logger *slog.Logger
}

// Plugin is the ResourceQuota admission plugin; see the package
// documentation. It is safe for concurrent use, also by several API
// servers sharing one store.
type Plugin struct {
	store       store.Store
	objects     Objects
	maxAttempts int
	log         *slog.Logger
}

var (
	_ apiserver.MutatingAdmission   = (*Plugin)(nil)
	_ apiserver.ValidatingAdmission = (*Plugin)(nil)
)

// New validates opts and returns the plugin.
func New(opts Options) (*Plugin, error) {
	if opts.Store == nil {
		return nil, errors.New("resourcequota: Options.Store is required")
	}
	if opts.Objects == nil {
		opts.Objects = StoreObjects{Store: opts.Store}
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Plugin{store: opts.Store, objects: opts.Objects, maxAttempts: opts.MaxAttempts, log: opts.Logger}, nil
}

// Admit fills in the status of a ResourceQuota being created or having its
// spec changed: status.hard becomes spec.hard, and the usage of resources
// the status does not know yet is computed from the namespace's objects
// (a new quota counts itself when it limits resourcequotas).
func (p *Plugin) Admit(ctx context.Context, req *apiserver.AdmissionRequest) error {
	if req.Resource.GroupResource() != quotasResource || req.Subresource != "" ||
		(req.Operation != apiserver.Create && req.Operation != apiserver.Update) {
		return nil
	}
	q, ok := req.Object.(*corev1.ResourceQuota)
	if !ok {
		return nil
	}
	used := Mask(q.Status.Used, q.Spec.Hard)
	if req.Operation == apiserver.Create || len(used) < len(q.Spec.Hard) {
		computed, err := ComputeUsed(ctx, p.objects, q)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("resource quota %q: computing usage: %w", q.Name, err))
		}
		if req.Operation == apiserver.Create && Matches(q, quotasResource, q) {
			computed = Add(computed, Mask(Usage(quotasResource, q), q.Spec.Hard))
		}
		for name, v := range computed {
			if _, known := used[name]; !known {
				used[name] = v
			}
		}
	}
	q.Status.Hard = q.Spec.Hard.DeepCopy()
	q.Status.Used = used
	return nil
}

// charge is what one request adds to one quota.
type charge struct {
	key, name string
	delta     corev1.ResourceList
}

// Validate charges the usage of a created object, or what an update adds,
// to every quota of the namespace that selects it, and denies the request
// if that would exceed one of them; a dry run is checked but not charged.
func (p *Plugin) Validate(ctx context.Context, req *apiserver.AdmissionRequest) error {
	if req.Subresource != "" || req.Namespace == "" || req.Object == nil ||
		(req.Operation != apiserver.Create && req.Operation != apiserver.Update) {
		return nil
	}
	gr := req.Resource.GroupResource()
	if req.Operation == apiserver.Update && gr != podsResource && req.OldObject != nil && !increases(gr, req) {
		// Most updates (leases, statuses of other kinds) use nothing
		// more: no need to read the quotas. Pods may move between scopes.
		return nil
	}
	res, err := p.store.List(ctx, store.ObjectPrefix(quotasResource.Resource, req.Namespace), store.ListOptions{})
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("listing resource quotas of namespace %q: %w", req.Namespace, err))
	}
	var charges []charge
	for _, kv := range res.Items {
		q := &corev1.ResourceQuota{}
		if err := json.Unmarshal(kv.Value, q); err != nil {
			return apierrors.NewInternalError(fmt.Errorf("decoding %s: %w", kv.Key, err))
		}
		if !Matches(q, gr, req.Object) {
			continue
		}
		if req.Operation == apiserver.Create {
			if err := constraints(q, gr, req); err != nil {
				return err
			}
		}
		if d := p.delta(q, gr, req); len(d) > 0 {
			charges = append(charges, charge{key: kv.Key, name: q.Name, delta: d})
		}
	}
	for i, c := range charges {
		if err := p.charge(ctx, c, req.DryRun); err != nil {
			if !req.DryRun {
				p.release(ctx, charges[:i])
			}
			return err
		}
	}
	return nil
}

// increases reports whether an update uses more of some quota resource
// than the object did.
func increases(gr schema.GroupResource, req *apiserver.AdmissionRequest) bool {
	for _, v := range Subtract(Usage(gr, req.Object), Usage(gr, req.OldObject)) {
		if v.Sign() > 0 {
			return true
		}
	}
	return false
}

// delta is what req adds to the resources q limits: the object's usage on
// a create, the increases on an update.
func (p *Plugin) delta(q *corev1.ResourceQuota, gr schema.GroupResource, req *apiserver.AdmissionRequest) corev1.ResourceList {
	d := Mask(Usage(gr, req.Object), q.Spec.Hard)
	if req.Operation == apiserver.Update && req.OldObject != nil && Matches(q, gr, req.OldObject) {
		d = Subtract(d, Mask(Usage(gr, req.OldObject), q.Spec.Hard))
	}
	for name, v := range d {
		if v.Sign() <= 0 {
			delete(d, name)
		}
	}
	return d
}

// constraints checks that a new pod says what a quota needs to count it:
// a quota on requests or limits of cpu or memory needs them of every
// container.
func constraints(q *corev1.ResourceQuota, gr schema.GroupResource, req *apiserver.AdmissionRequest) error {
	pod, ok := req.Object.(*corev1.Pod)
	if !ok || gr != podsResource {
		return nil
	}
	required := map[corev1.ResourceName]struct {
		name   corev1.ResourceName
		limits bool
	}{
		corev1.ResourceCPU: {corev1.ResourceCPU, false}, corev1.ResourceRequestsCPU: {corev1.ResourceCPU, false},
		corev1.ResourceMemory: {corev1.ResourceMemory, false}, corev1.ResourceRequestsMemory: {corev1.ResourceMemory, false},
		corev1.ResourceLimitsCPU: {corev1.ResourceCPU, true}, corev1.ResourceLimitsMemory: {corev1.ResourceMemory, true},
	}
	var missing []string
	for _, quotaName := range sortedNames(q.Spec.Hard) {
		r, ok := required[quotaName]
		if !ok {
			continue
		}
		var containers []string
		for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for _, c := range cs {
				l := c.Resources.Requests
				if r.limits {
					l = c.Resources.Limits
				}
				if _, ok := l[r.name]; !ok {
					containers = append(containers, c.Name)
				}
			}
		}
		if len(containers) > 0 {
			missing = append(missing, fmt.Sprintf("%s for: %s", quotaName, strings.Join(containers, ",")))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("failed quota: %s: must specify %s", q.Name, strings.Join(missing, "; "))
	}
	return nil
}

// charge adds c.delta to the quota's status.used with compare-and-swap,
// or only checks that it fits when dryRun is set. A quota that is gone no
// longer limits anything.
func (p *Plugin) charge(ctx context.Context, c charge, dryRun bool) error {
	for attempt := 0; attempt < p.maxAttempts; attempt++ {
		kv, err := p.store.Get(ctx, c.key)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("reading resource quota %q: %w", c.name, err))
		}
		q := &corev1.ResourceQuota{}
		if err := json.Unmarshal(kv.Value, q); err != nil {
			return apierrors.NewInternalError(fmt.Errorf("decoding %s: %w", c.key, err))
		}
		used := Mask(q.Status.Used, q.Spec.Hard)
		if len(Mask(used, c.delta)) < len(c.delta) {
			computed, err := ComputeUsed(ctx, p.objects, q)
			if err != nil {
				return apierrors.NewInternalError(fmt.Errorf("resource quota %q: computing usage: %w", c.name, err))
			}
			for name := range c.delta {
				if _, known := used[name]; !known {
					used[name] = computed[name]
				}
			}
		}
		next := Add(used, c.delta)
		if err := exceeded(q, c.delta, used, next); err != nil {
			return err
		}
		if dryRun {
			return nil
		}
		q.Status.Hard = q.Spec.Hard.DeepCopy()
		q.Status.Used = next
		retry, err := p.write(ctx, c.key, kv.ModRevision, q)
		if retry {
			continue
		}
		return err
	}
	return apierrors.NewConflict(quotasResource, c.name, fmt.Errorf("could not charge the quota after %d attempts: too many concurrent changes", p.maxAttempts))
}

// write stores q at key if it is still at revision rev; retry reports
// that another writer came first.
func (p *Plugin) write(ctx context.Context, key string, rev int64, q *corev1.ResourceQuota) (retry bool, err error) {
	q.APIVersion, q.Kind = "v1", "ResourceQuota"
	q.ResourceVersion = ""
	value, err := json.Marshal(q)
	if err != nil {
		return false, apierrors.NewInternalError(fmt.Errorf("encoding resource quota %q: %w", q.Name, err))
	}
	_, err = p.store.Update(ctx, key, value, rev, store.WriteOptions{})
	switch {
	case errors.Is(err, store.ErrConflict):
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, apierrors.NewInternalError(fmt.Errorf("updating resource quota %q: %w", q.Name, err))
	}
	return false, nil
}

// release takes back charges made for a request that was then denied.
// Failures are logged: the quota controller repairs the usage.
func (p *Plugin) release(ctx context.Context, charges []charge) {
	for _, c := range charges {
		var err error
		for attempt := 0; attempt < p.maxAttempts; attempt++ {
			var kv *store.KeyValue
			if kv, err = p.store.Get(ctx, c.key); err != nil {
				break
			}
			q := &corev1.ResourceQuota{}
			if err = json.Unmarshal(kv.Value, q); err != nil {
				break
			}
			next := Subtract(q.Status.Used, Mask(c.delta, q.Status.Used))
			for name, v := range next {
				if v.Sign() < 0 {
					v.Set(0)
					next[name] = v
				}
			}
			q.Status.Used = next
			var retry bool
			if retry, err = p.write(ctx, c.key, kv.ModRevision, q); !retry {
				break
			}
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			p.log.WarnContext(ctx, "resourcequota: releasing a charge", "quota", c.name, "err", err)
		}
	}
}

// exceeded returns the denial when next exceeds the quota's hard limits
// for a resource the request asks for.
func exceeded(q *corev1.ResourceQuota, requested, used, next corev1.ResourceList) error {
	var over []corev1.ResourceName
	for name := range requested {
		hard, ok := q.Spec.Hard[name]
		if v := next[name]; ok && v.Cmp(hard) > 0 {
			over = append(over, name)
		}
	}
	if len(over) == 0 {
		return nil
	}
	slices.Sort(over)
	return fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s",
		q.Name, format(requested, over), format(used, over), format(q.Spec.Hard, over))
}

// format prints the named entries of l as name=amount, comma-separated.
func format(l corev1.ResourceList, names []corev1.ResourceName) string {
	parts := make([]string, 0, len(names))
	for _, name := range names {
		v := l[name]
		parts = append(parts, fmt.Sprintf("%s=%s", name, v.String()))
	}
	return strings.Join(parts, ",")
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for name := range l {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}
