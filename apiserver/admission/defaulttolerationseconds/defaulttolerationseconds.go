package defaulttolerationseconds

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
)

// Name is the plugin's name in --enable-admission-plugins.
const Name = "DefaultTolerationSeconds"

// DefaultSeconds is how long pods tolerate a not-ready or unreachable node
// unless Options say otherwise.
const DefaultSeconds int64 = 300

// Options configure the plugin; the zero value means the defaults.
type Options struct {
	// NotReadySeconds is the tolerationSeconds of the default toleration
	// of node.kubernetes.io/not-ready:NoExecute
	// (--default-not-ready-toleration-seconds); nil means DefaultSeconds.
	NotReadySeconds *int64
	// UnreachableSeconds is that of node.kubernetes.io/unreachable:NoExecute
	// (--default-unreachable-toleration-seconds); nil means DefaultSeconds.
	UnreachableSeconds *int64
}

// Plugin is the DefaultTolerationSeconds admission plugin; see the package
// documentation. It is immutable and safe for concurrent use.
type Plugin struct {
	defaults []corev1.Toleration // not-ready, then unreachable
}

var _ apiserver.MutatingAdmission = (*Plugin)(nil)

// New validates opts and returns the plugin. Negative seconds are an
// error.
func New(opts Options) (*Plugin, error) {
	seconds := func(what string, s *int64) (int64, error) {
		if s == nil {
			return DefaultSeconds, nil
		}
		if *s < 0 {
			return 0, fmt.Errorf("defaulttolerationseconds: negative %s toleration seconds %d", what, *s)
		}
		return *s, nil
	}
	notReady, err := seconds("not-ready", opts.NotReadySeconds)
	if err != nil {
		return nil, err
	}
	unreachable, err := seconds("unreachable", opts.UnreachableSeconds)
	if err != nil {
		return nil, err
	}
	return &Plugin{defaults: []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(notReady)},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(unreachable)},
	}}, nil
}

// Admit adds to a pod being created the default tolerations of the taints
// none of its tolerations tolerates.
func (p *Plugin) Admit(_ context.Context, req *apiserver.AdmissionRequest) error {
	if req.Operation != apiserver.Create || req.Subresource != "" || req.Resource.GroupResource() != corev1.Resource("pods") {
		return nil
	}
	pod, ok := req.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	var add []corev1.Toleration
	for _, d := range p.defaults {
		taint := corev1.Taint{Key: d.Key, Effect: d.Effect}
		tolerated := false
		for _, t := range pod.Spec.Tolerations {
			if t.ToleratesTaint(klog.Background(), &taint, false) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			d.TolerationSeconds = ptr.To(*d.TolerationSeconds) // each pod its own
			add = append(add, d)
		}
	}
	pod.Spec.Tolerations = append(pod.Spec.Tolerations, add...)
	return nil
}
