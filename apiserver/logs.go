package apiserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeConnection tells how to reach a node agent's API: the base URL of
// the node's agent and the transport to use. The API server proxies
// pods/log, pods/exec, pods/attach, pods/portforward and nodes/proxy
// there. The transport must speak HTTP/1.1, since exec, attach and
// port-forward sessions are connection upgrades.
type NodeConnection func(ctx context.Context, node *corev1.Node) (base *url.URL, transport http.RoundTripper, err error)

// defaultNodeAgentPort is the node agent port when a node reports none.
const defaultNodeAgentPort = 10250

// nodeAgentAddress is the host:port of a node's agent: its InternalIP
// (else ExternalIP, else Hostname) and the port in its status.
func nodeAgentAddress(node *corev1.Node) (string, error) {
	host := ""
	for _, want := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == want && host == "" {
				host = a.Address
			}
		}
	}
	if host == "" {
		return "", fmt.Errorf("node %q reports no address", node.Name)
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = defaultNodeAgentPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// nodeTransport is an HTTP/1.1 transport with tlsConfig.
func nodeTransport(tlsConfig *tls.Config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tlsConfig
	t.ForceAttemptHTTP2 = false
	t.Protocols = new(http.Protocols)
	t.Protocols.SetHTTP1(true)
	return t
}

// insecureNodeTransport is DefaultNodeConnection's transport.
var insecureNodeTransport = nodeTransport(&tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}) // documented: nothing to verify against

// DefaultNodeConnection reaches a node agent over HTTPS at the node's
// InternalIP (else ExternalIP, else Hostname) and the port in its status,
// without a client certificate and without verifying the agent's serving
// certificate: kube-apiserver's behaviour without
// --kubelet-certificate-authority and --kubelet-client-certificate, for
// assemblies without a PKI, whose node agents make self-signed
// certificates and are not guarded. Secure clusters use
// TLSNodeConnection.
func DefaultNodeConnection(_ context.Context, node *corev1.Node) (*url.URL, http.RoundTripper, error) {
	addr, err := nodeAgentAddress(node)
	if err != nil {
		return nil, nil, err
	}
	return &url.URL{Scheme: "https", Host: addr}, insecureNodeTransport, nil
}

// TLSNodeConnection returns a NodeConnection that reaches node agents over
// HTTPS with tlsConfig: its client certificate is the API server's
// identity towards the agents (which authorize it like any user, on
// nodes/proxy), and its RootCAs verify the agent's serving certificate,
// which must be valid for the node's name (as pki.NodeServingCertRequest
// makes them) wherever the node's address points. Transports are kept per
// node and reused; tlsConfig must not be changed after the call.
func TLSNodeConnection(tlsConfig *tls.Config) NodeConnection {
	var mu sync.Mutex
	transports := map[string]*http.Transport{}
	return func(_ context.Context, node *corev1.Node) (*url.URL, http.RoundTripper, error) {
		addr, err := nodeAgentAddress(node)
		if err != nil {
			return nil, nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		t, ok := transports[node.Name]
		if !ok {
			c := tlsConfig.Clone()
			c.ServerName = node.Name
			if c.MinVersion < tls.VersionTLS12 {
				c.MinVersion = tls.VersionTLS12
			}
			t = nodeTransport(c)
			transports[node.Name] = t
		}
		return &url.URL{Scheme: "https", Host: addr}, t, nil
	}
}

// nodeAgentError is the error of a node agent's answer with status code
// code and body: the agent's own Status when it sent one (its refusals,
// 401 and 403, keep their code and reason, and the message says they come
// from the node's agent, not from this server), else a generic one.
func nodeAgentError(code int, body []byte, verb string, res *Resource, name, node string) error {
	st := &metav1.Status{}
	if json.Unmarshal(body, st) == nil && st.Kind == "Status" && st.Message != "" {
		return &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: int32(code), Reason: st.Reason,
			Message: fmt.Sprintf("the node agent of %s refused the API server: %s", node, st.Message),
		}}
	}
	return apierrors.NewGenericServerResponse(code, verb, res.GroupResource(), name, string(body), 0, false)
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
		return nodeAgentError(resp.StatusCode, msg, "get", res, pod.Name, pod.Spec.NodeName)
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
