package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// portForwardVerbs are the verbs of pods/portforward, as of pods/exec.
var portForwardVerbs = execVerbs

// handlePortForward serves GET and POST pods/<name>/portforward (kubectl
// port-forward): it checks that the pod runs, then proxies the connection
// upgrade to /portForward/<namespace>/<pod> on the agent of the pod's
// node, which connects to the pod's ports. It blocks until the session
// ends.
func (s *Server) handlePortForward(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	obj, _, err := s.getObject(r.Context(), res, info.Namespace, info.Name)
	if err != nil {
		return err
	}
	pod := obj.(*corev1.Pod)
	if pod.Status.Phase != corev1.PodRunning {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s is not running; current phase is %s", pod.Name, pod.Status.Phase))
	}
	base, transport, err := s.nodeAgent(r.Context(), pod)
	if err != nil {
		return err
	}
	target := base.JoinPath("portForward", pod.Namespace, pod.Name)
	if !strings.HasPrefix(target.Path, "/") {
		target.Path, target.RawPath = "/"+target.Path, ""
	}
	target.RawQuery = r.URL.RawQuery
	s.proxyToNodeAgent(w, r, pod.Spec.NodeName, target, transport)
	return nil
}
