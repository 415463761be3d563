package apiserver_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver"
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
