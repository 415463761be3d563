package apiserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// NodeConnection tells how to reach a node agent's API: the base URL of
// the node's agent and the transport to use. The API server proxies
// pods/log there.
type NodeConnection func(ctx context.Context, node *corev1.Node) (base *url.URL, transport http.RoundTripper, err error)

// defaultNodeAgentPort is the node agent port when a node reports none.
const defaultNodeAgentPort = 10250

// DefaultNodeConnection reaches a node agent over plain HTTP at the node's
// InternalIP (else ExternalIP, else Hostname) and the port in its status.
func DefaultNodeConnection(_ context.Context, node *corev1.Node) (*url.URL, http.RoundTripper, error) {
	host := ""
	for _, want := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == want && host == "" {
				host = a.Address
			}
		}
	}
	if host == "" {
		return nil, nil, fmt.Errorf("node %q reports no address", node.Name)
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = defaultNodeAgentPort
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, strconv.Itoa(port))}, http.DefaultTransport, nil
}

// handleLog serves GET pods/<name>/log by proxying to the node agent of the
// pod's node (kubectl logs [-f] [--previous] [--tail] [--timestamps]).
func (s *Server) handleLog(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	obj, _, err := s.getObject(r.Context(), res, info.Namespace, info.Name)
	if err != nil {
		return err
	}
	pod := obj.(*corev1.Pod)
	q := r.URL.Query()
	container, err := podContainer(pod, q.Get("container"))
	if err != nil {
		return err
	}
	base, transport, err := s.nodeAgent(r.Context(), pod)
	if err != nil {
		return err
	}
	target := base.JoinPath("containerLogs", pod.Namespace, pod.Name, container)
	forward := url.Values{}
	for _, p := range []string{"follow", "previous", "timestamps", "tailLines", "sinceSeconds", "limitBytes"} {
		if v := q.Get(p); v != "" {
			forward.Set(p, v)
		}
	}
	target.RawQuery = forward.Encode()
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target.String(), nil)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return apierrors.NewServiceUnavailable(fmt.Sprintf("reaching the node agent of %s: %v", pod.Spec.NodeName, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return apierrors.NewGenericServerResponse(resp.StatusCode, "get", res.GroupResource(), pod.Name, string(msg), 0, false)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	var body io.Reader = resp.Body
	if v := q.Get("limitBytes"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			body = io.LimitReader(body, n)
		}
	}
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil
			}
			_ = rc.Flush()
		}
		if err != nil {
			return nil
		}
	}
}

// podContainer resolves the container a log or exec request names: the
// pod's only container when it names none.
func podContainer(pod *corev1.Pod, container string) (string, error) {
	if container == "" {
		if len(pod.Spec.Containers) != 1 {
			var names []string
			for _, c := range pod.Spec.Containers {
				names = append(names, c.Name)
			}
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", pod.Name, names))
		}
		return pod.Spec.Containers[0].Name, nil
	}
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range list {
			if c.Name == container {
				return container, nil
			}
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, pod.Name))
}

// nodeAgent returns how to reach the node agent of the pod's node.
func (s *Server) nodeAgent(ctx context.Context, pod *corev1.Pod) (*url.URL, http.RoundTripper, error) {
	if pod.Spec.NodeName == "" {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	nodeRes := s.resources[corev1.SchemeGroupVersion.WithResource("nodes")]
	if nodeRes == nil {
		return nil, nil, apierrors.NewServiceUnavailable("nodes are not served")
	}
	nodeObj, _, err := s.getObject(ctx, nodeRes, "", pod.Spec.NodeName)
	if err != nil {
		return nil, nil, err
	}
	base, transport, err := s.opts.NodeConnection(ctx, nodeObj.(*corev1.Node))
	if err != nil {
		return nil, nil, apierrors.NewServiceUnavailable(err.Error())
	}
	return base, transport, nil
}
