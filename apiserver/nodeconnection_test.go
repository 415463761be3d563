package apiserver_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
	"github.com/gantryhq/gantry/pki"
)

// agentServer is a TLS server with serving, asking for client certificates;
// it answers with the common name of the client's certificate.
func agentServer(t *testing.T, serving *pki.Certificate) *corev1.Node {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			w.Write([]byte("anonymous"))
			return
		}
		w.Write([]byte(r.TLS.PeerCertificates[0].Subject.CommonName))
	}))
	tc, err := serving.TLSCertificate()
	require.NoError(t, err)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{tc}, ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "ignored.invalid"}, {Type: corev1.NodeInternalIP, Address: host}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(p)
	return n
}

func getVia(t *testing.T, conn apiserver.NodeConnection, node *corev1.Node) (string, error) {
	t.Helper()
	base, transport, err := conn(context.Background(), node)
	require.NoError(t, err)
	require.Equal(t, "https", base.Scheme)
	resp, err := (&http.Client{Transport: transport}).Get(base.JoinPath("pods").String())
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	require.Equal(t, "HTTP/1.1", resp.Proto, "exec needs connection upgrades")
	var b [256]byte
	n, _ := resp.Body.Read(b[:])
	return string(b[:n]), nil
}

func TestNodeConnections(t *testing.T) {
	ca, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	client, err := ca.Issue(pki.CertRequest{CommonName: "kube-apiserver-kubelet-client", Usage: pki.ClientAuth})
	require.NoError(t, err)
	tc, err := client.TLSCertificate()
	require.NoError(t, err)
	secure := apiserver.TLSNodeConnection(&tls.Config{Certificates: []tls.Certificate{tc}, RootCAs: ca.Pool()})

	n1, err := ca.Issue(pki.NodeServingCertRequest("n1", nil))
	require.NoError(t, err)
	node := agentServer(t, n1)

	t.Run("verified, with the client certificate", func(t *testing.T) {
		got, err := getVia(t, secure, node)
		require.NoError(t, err)
		require.Equal(t, "kube-apiserver-kubelet-client", got)
		_, transport, err := secure(context.Background(), node)
		require.NoError(t, err)
		_, again, err := secure(context.Background(), node)
		require.NoError(t, err)
		require.Same(t, transport, again, "the transport is reused")
	})
	t.Run("a certificate for another node", func(t *testing.T) {
		n2, err := ca.Issue(pki.NodeServingCertRequest("n2", nil))
		require.NoError(t, err)
		impostor := agentServer(t, n2) // answers for n1
		_, err = getVia(t, secure, impostor)
		require.ErrorContains(t, err, "certificate is valid for n2, not n1")
	})
	t.Run("a certificate of another CA", func(t *testing.T) {
		other, err := pki.NewCA(pki.CAOptions{CommonName: "other"})
		require.NoError(t, err)
		c, err := other.Issue(pki.NodeServingCertRequest("n1", nil))
		require.NoError(t, err)
		_, err = getVia(t, secure, agentServer(t, c))
		require.ErrorContains(t, err, "unknown authority")
	})
	t.Run("default: unverified, anonymous", func(t *testing.T) {
		got, err := getVia(t, apiserver.DefaultNodeConnection, node)
		require.NoError(t, err)
		require.Equal(t, "anonymous", got)
	})
	t.Run("a node without an address", func(t *testing.T) {
		for _, conn := range []apiserver.NodeConnection{apiserver.DefaultNodeConnection, secure} {
			_, _, err := conn(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "bare"}})
			require.ErrorContains(t, err, `node "bare" reports no address`)
		}
	})
}

// TestLogsRefusedByTheNodeAgent: a node agent's refusal (a Status) reaches
// the client with its code and reason, and a message saying it is the
// agent's.
func TestLogsRefusedByTheNodeAgent(t *testing.T) {
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		st := apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "n1", errors.New(`User "x" cannot get resource "nodes/proxy"`)).Status()
		st.Kind, st.APIVersion = "Status", "v1"
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		json.NewEncoder(w).Encode(&st)
	}))
	defer agent.Close()
	s := apiservertest.Start(t, apiserver.Options{NodeConnection: func(context.Context, *corev1.Node) (*url.URL, http.RoundTripper, error) {
		u, err := url.Parse(agent.URL)
		return u, http.DefaultTransport, err
	}})
	ctx := context.Background()
	_, err := s.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = s.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = s.Client.CoreV1().Pods("default").GetLogs("p", &corev1.PodLogOptions{}).Stream(ctx) // as kubectl logs
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.ErrorContains(t, err, `the node agent of n1 refused the API server: nodes "n1" is forbidden: User "x" cannot get resource "nodes/proxy"`)
}
