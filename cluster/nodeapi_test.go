package cluster_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/cluster"
	"github.com/gantryhq/gantry/pki"
)

// TestNodeAgentAPISecured: a master's node gets a serving certificate
// and the client CA; the API server reaches its agent with its own client
// certificate (logs through the API work), and the agent refuses requests
// without credentials (401) and users without nodes/proxy (403), while
// administrators, by certificate or token, get through.
func TestNodeAgentAPISecured(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.csv")
	require.NoError(t, os.WriteFile(tokens, []byte("t0ken-root,root,1,\"system:masters\"\nt0ken-bob,bob,2\n"), 0o600))
	m, _ := runMaster(t, cluster.MasterConfig{
		DataDir: filepath.Join(dir, "data"), TokenAuthFile: tokens, DisableScheduler: true,
		NodeNames: []string{"secure-node"},
		NodeIPs:   map[string][]netip.Addr{"secure-node": {netip.MustParseAddr("127.0.0.1")}},
	})
	certFile, keyFile := m.NodeServingCert("secure-node")
	requireMode(t, keyFile, 0o600)
	requireMode(t, m.NodeClientCAFile(), 0o644)
	nodeCfg, err := m.NodeRESTConfig("secure-node")
	require.NoError(t, err)
	n, err := cluster.NewNode(cluster.NodeConfig{
		Name: "secure-node", RESTConfig: nodeCfg, Runtime: cluster.RuntimeFake,
		NodeIP: netip.MustParseAddr("127.0.0.1"), ServeAddress: "127.0.0.1:0", Logger: testLogger(t),
		TLSCertFile: certFile, TLSKeyFile: keyFile, ClientCAFile: m.NodeClientCAFile(),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	cs := adminClient(t, m)
	// Pods are admitted once the namespace's default service account
	// exists.
	eventually(t, func() error {
		_, err := cs.CoreV1().Pods("default").Create(ctx, testPod("logger", "secure-node"), metav1.CreateOptions{})
		return err
	})
	var addr string
	// The pod starts once its token volume can be made: the root CA
	// publisher's kube-root-ca.crt and a TokenRequest (slow under -race on
	// a loaded machine).
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.NoError(c, func() error {
			p, err := cs.CoreV1().Pods("default").Get(ctx, "logger", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("phase %q", p.Status.Phase)
			}
			node, err := cs.CoreV1().Nodes().Get(ctx, "secure-node", metav1.GetOptions{})
			if err != nil {
				return err
			}
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)))
			return nil
		}())
	}, time.Minute, 10*time.Millisecond, "the pod never ran")

	t.Run("logs through the API server", func(t *testing.T) {
		_, err := cs.CoreV1().Pods("default").GetLogs("logger", &corev1.PodLogOptions{}).DoRaw(ctx)
		require.NoError(t, err)
	})

	// get asks the agent directly, checking its certificate against the
	// cluster CA for the node's name.
	get := func(t *testing.T, cert *pki.Certificate, token string) (int, string) {
		t.Helper()
		tc := &tls.Config{RootCAs: m.PKI().CA.Pool(), ServerName: "secure-node"}
		if cert != nil {
			c, err := cert.TLSCertificate()
			require.NoError(t, err)
			tc.Certificates = []tls.Certificate{c}
		}
		req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/pods", nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: tc}}).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		if resp.StatusCode == http.StatusOK {
			return resp.StatusCode, ""
		}
		var st metav1.Status
		require.NoError(t, json.Unmarshal(body, &st), "%s", body)
		return resp.StatusCode, st.Message
	}
	p := m.PKI()
	for _, tt := range []struct {
		name     string
		cert     *pki.Certificate
		token    string
		code     int
		contains string
	}{
		{"no credentials", nil, "", http.StatusUnauthorized, "Unauthorized"},
		{"bad token", nil, "t0ken-nope", http.StatusUnauthorized, "invalid bearer token"},
		{"token of a user without a role", nil, "t0ken-bob", http.StatusForbidden, `User "bob" cannot get resource "nodes/proxy"`},
		{"the node's own client certificate", p.Nodes["secure-node"], "", http.StatusForbidden, `User "system:node:secure-node" cannot get resource "nodes/proxy"`},
		{"administrator's token", nil, "t0ken-root", http.StatusOK, ""},
		{"administrator's certificate", p.Admin, "", http.StatusOK, ""},
		{"the API server's certificate", p.APIServerKubeletClient, "", http.StatusOK, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := get(t, tt.cert, tt.token)
			require.Equal(t, tt.code, code, msg)
			require.Contains(t, msg, tt.contains)
			require.NotContains(t, msg, "t0ken", "no token in the answer")
		})
	}
}

// TestTestClusterLogs: in a test cluster, too, the API server reaches the
// node agents with its own certificate (logs work under RBAC), and the
// agents refuse requests without credentials.
func TestTestClusterLogs(t *testing.T) {
	t.Parallel()
	tc := cluster.StartTestCluster(t, cluster.TestClusterOptions{RBAC: true})
	ctx := context.Background()
	pod := testPod("logger", tc.Nodes[0])
	pod.Spec.Containers[0].Image = "gantry.local/echo:1.0"
	_, err := tc.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	var port int32
	eventually(t, func() error {
		p, err := tc.Client.CoreV1().Pods("default").Get(ctx, "logger", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("phase %q", p.Status.Phase)
		}
		n, err := tc.Client.CoreV1().Nodes().Get(ctx, tc.Nodes[0], metav1.GetOptions{})
		port = n.Status.DaemonEndpoints.KubeletEndpoint.Port
		return err
	})
	logs, err := tc.Client.CoreV1().Pods("default").GetLogs("logger", &corev1.PodLogOptions{}).Stream(ctx)
	require.NoError(t, err)
	logs.Close()

	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tc.CA.Pool(), ServerName: tc.Nodes[0]}}}
	resp, err := c.Get("https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))) + "/pods")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
