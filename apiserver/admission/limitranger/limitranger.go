package limitranger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/store"
)

// Lister returns the LimitRanges of a namespace. Implementations are safe
// for concurrent use.
type Lister interface {
	LimitRanges(ctx context.Context, namespace string) ([]*corev1.LimitRange, error)
}

// ListerFunc adapts a function to Lister.
type ListerFunc func(ctx context.Context, namespace string) ([]*corev1.LimitRange, error)

// LimitRanges calls f.
func (f ListerFunc) LimitRanges(ctx context.Context, namespace string) ([]*corev1.LimitRange, error) {
	return f(ctx, namespace)
}

// StoreLister reads the LimitRanges from the API server's store (JSON under
// /registry/limitranges/<namespace>/) on every call, so a LimitRange
// applies from the moment it is created.
type StoreLister struct {
	Store store.Store
}

var _ Lister = StoreLister{}

// LimitRanges implements Lister.
func (s StoreLister) LimitRanges(ctx context.Context, namespace string) ([]*corev1.LimitRange, error) {
	res, err := s.Store.List(ctx, store.ObjectPrefix("limitranges", namespace), store.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing limit ranges of namespace %q: %w", namespace, err)
	}
	out := make([]*corev1.LimitRange, 0, len(res.Items))
	for _, kv := range res.Items {
		lr := &corev1.LimitRange{}
		if err := json.Unmarshal(kv.Value, lr); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", kv.Key, err)
		}
		out = append(out, lr)
	}
	return out, nil
}

// Options configure the plugin.
type Options struct {
	// Lister finds a namespace's LimitRanges. Required; StoreLister
	// reads them from the API server's store.
	Lister Lister
}

// Plugin is the LimitRanger admission plugin; see the package
// documentation. It is safe for concurrent use.
type Plugin struct {
	lister Lister
}

var (
	_ apiserver.MutatingAdmission   = (*Plugin)(nil)
	_ apiserver.ValidatingAdmission = (*Plugin)(nil)
)

// New validates opts and returns the plugin.
func New(opts Options) (*Plugin, error) {
	if opts.Lister == nil {
		return nil, errors.New("limitranger: Options.Lister is required")
	}
	return &Plugin{lister: opts.Lister}, nil
}

// pod returns the pod of a request the plugin handles: a pod create.
func pod(req *apiserver.AdmissionRequest) (*corev1.Pod, bool) {
	if req.Operation != apiserver.Create || req.Subresource != "" || req.Resource.GroupResource() != corev1.Resource("pods") {
		return nil, false
	}
	p, ok := req.Object.(*corev1.Pod)
	return p, ok
}

// Admit applies the defaults of the namespace's LimitRanges to a pod
// being created.
func (p *Plugin) Admit(ctx context.Context, req *apiserver.AdmissionRequest) error {
	pod, ok := pod(req)
	if !ok {
		return nil
	}
	ranges, err := p.lister.LimitRanges(ctx, req.Namespace)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	for _, lr := range ranges {
		Default(pod, lr)
	}
	return nil
}

// Validate checks a pod being created against the bounds of the
// namespace's LimitRanges.
func (p *Plugin) Validate(ctx context.Context, req *apiserver.AdmissionRequest) error {
	pod, ok := pod(req)
	if !ok {
		return nil
	}
	ranges, err := p.lister.LimitRanges(ctx, req.Namespace)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	var msgs []string
	for _, lr := range ranges {
		if err := Check(pod, lr); err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// Default sets, in each container and init container of pod, the limits
// and requests it does not specify to the default and defaultRequest of
// lr's Container item. A request defaulted this way is never above the
// container's limit: it then becomes the limit.
func Default(pod *corev1.Pod, lr *corev1.LimitRange) {
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for i := range cs {
				r := &cs[i].Resources
				for name, q := range item.Default {
					if _, ok := r.Limits[name]; !ok {
						if r.Limits == nil {
							r.Limits = corev1.ResourceList{}
						}
						r.Limits[name] = q.DeepCopy()
					}
				}
				for name, q := range item.DefaultRequest {
					if _, ok := r.Requests[name]; !ok {
						if r.Requests == nil {
							r.Requests = corev1.ResourceList{}
						}
						if l, ok := r.Limits[name]; ok && q.Cmp(l) > 0 {
							q = l
						}
						r.Requests[name] = q.DeepCopy()
					}
				}
			}
		}
	}
}

// Check returns an error listing how pod breaks the bounds of lr: min,
// max and maxLimitRequestRatio of each container (Container items) and of
// the pod as a whole (Pod items, where a pod's amount is the sum over its
// containers, or its largest init container if that is more).
func Check(pod *corev1.Pod, lr *corev1.LimitRange) error {
	var msgs []string
	for _, item := range lr.Spec.Limits {
		switch item.Type {
		case corev1.LimitTypeContainer:
			for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
				for _, c := range cs {
					for _, m := range bounds(item, c.Resources.Requests, c.Resources.Limits) {
						msgs = append(msgs, fmt.Sprintf("%s (container %q, LimitRange %q)", m, c.Name, lr.Name))
					}
				}
			}
		case corev1.LimitTypePod:
			requests, limits := podTotals(pod)
			for _, m := range bounds(item, requests, limits) {
				msgs = append(msgs, fmt.Sprintf("%s (LimitRange %q)", m, lr.Name))
			}
		}
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// bounds returns what is wrong with requests and limits under item.
func bounds(item corev1.LimitRangeItem, requests, limits corev1.ResourceList) []string {
	var msgs []string
	kind := item.Type
	for _, name := range sorted(item.Min) {
		min := item.Min[name]
		req, hasReq := requests[name]
		lim, hasLim := limits[name]
		switch {
		case !hasReq:
			msgs = append(msgs, fmt.Sprintf("minimum %s usage per %s is %s, but no request is specified", name, kind, min.String()))
		case req.Cmp(min) < 0:
			msgs = append(msgs, fmt.Sprintf("minimum %s usage per %s is %s, but request is %s", name, kind, min.String(), req.String()))
		}
		if hasLim && lim.Cmp(min) < 0 {
			msgs = append(msgs, fmt.Sprintf("minimum %s usage per %s is %s, but limit is %s", name, kind, min.String(), lim.String()))
		}
	}
	for _, name := range sorted(item.Max) {
		max := item.Max[name]
		req, hasReq := requests[name]
		lim, hasLim := limits[name]
		switch {
		case !hasLim:
			msgs = append(msgs, fmt.Sprintf("maximum %s usage per %s is %s, but no limit is specified", name, kind, max.String()))
		case lim.Cmp(max) > 0:
			msgs = append(msgs, fmt.Sprintf("maximum %s usage per %s is %s, but limit is %s", name, kind, max.String(), lim.String()))
		}
		if hasReq && req.Cmp(max) > 0 {
			msgs = append(msgs, fmt.Sprintf("maximum %s usage per %s is %s, but request is %s", name, kind, max.String(), req.String()))
		}
	}
	for _, name := range sorted(item.MaxLimitRequestRatio) {
		ratio := item.MaxLimitRequestRatio[name]
		req, hasReq := requests[name]
		lim, hasLim := limits[name]
		switch {
		case !hasLim:
			msgs = append(msgs, fmt.Sprintf("%s max limit to request ratio per %s is %s, but no limit is specified", name, kind, ratio.String()))
		case !hasReq || req.IsZero():
			msgs = append(msgs, fmt.Sprintf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", name, kind, ratio.String()))
		default:
			if got := float64(lim.MilliValue()) / float64(req.MilliValue()); got > float64(ratio.MilliValue())/1000 {
				msgs = append(msgs, fmt.Sprintf("%s max limit to request ratio per %s is %s, but provided ratio is %f", name, kind, ratio.String(), got))
			}
		}
	}
	return msgs
}

// podTotals returns the requests and limits of a whole pod: per resource
// the sum over the containers (left out when a container does not specify
// it), or the largest init container's if that is more.
func podTotals(pod *corev1.Pod) (requests, limits corev1.ResourceList) {
	total := func(get func(c *corev1.Container) corev1.ResourceList) corev1.ResourceList {
		sum := corev1.ResourceList{}
		names := map[corev1.ResourceName]bool{}
		for i := range pod.Spec.Containers {
			for name := range get(&pod.Spec.Containers[i]) {
				names[name] = true
			}
		}
		for name := range names {
			complete := true
			var s resource.Quantity
			for i := range pod.Spec.Containers {
				q, ok := get(&pod.Spec.Containers[i])[name]
				if !ok {
					complete = false
					break
				}
				s.Add(q)
			}
			if complete {
				sum[name] = s
			}
		}
		for i := range pod.Spec.InitContainers {
			for name, q := range get(&pod.Spec.InitContainers[i]) {
				if s, ok := sum[name]; ok && q.Cmp(s) > 0 {
					sum[name] = q.DeepCopy()
				}
			}
		}
		return sum
	}
	requests = total(func(c *corev1.Container) corev1.ResourceList { return c.Resources.Requests })
	limits = total(func(c *corev1.Container) corev1.ResourceList { return c.Resources.Limits })
	return requests, limits
}

func sorted(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for name := range l {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}
