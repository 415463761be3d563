package apiserver_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/limitranger"
	"github.com/gantryhq/gantry/apiserver/admission/resourcequota"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
	"github.com/gantryhq/gantry/store/memory"
)

const containerLimits = `apiVersion: v1
kind: LimitRange
metadata:
  name: container-limits
spec:
  limits:
  - type: Container
    max:
      cpu: "1"
    default:
      cpu: 500m
      memory: 128Mi
    defaultRequest:
      cpu: 100m
`

// TestKubectlPolicy: kubectl lists, creates and describes LimitRanges
// and ResourceQuotas as on Kubernetes, and sees their effect on pods.
func TestKubectlPolicy(t *testing.T) {
	for name, bin := range kubectlBinaries(t) {
		t.Run(name, func(t *testing.T) {
			st := memory.New(memory.Options{})
			t.Cleanup(func() { st.Close() })
			limits, err := limitranger.New(limitranger.Options{Lister: limitranger.StoreLister{Store: st}})
			require.NoError(t, err)
			quota, err := resourcequota.New(resourcequota.Options{Store: st})
			require.NoError(t, err)
			s := apiservertest.Start(t, apiserver.Options{Store: st, Admission: []any{limits, quota}})
			k := &kubectlRunner{t: t, bin: bin, server: s.URL, home: t.TempDir()}

			out := k.run("api-resources", "--api-group=")
			require.Regexp(t, regexp.MustCompile(`(?m)^limitranges\s+limits\s+v1\s+true\s+LimitRange$`), out)
			require.Regexp(t, regexp.MustCompile(`(?m)^resourcequotas\s+quota\s+v1\s+true\s+ResourceQuota$`), out)

			require.Contains(t, k.run("explain", "resourcequota.spec.hard"), "hard is the set of desired hard limits")
			require.Contains(t, k.run("explain", "limitrange.spec.limits.defaultRequest"), "DefaultRequest is the default resource requirement request value")

			k.run("create", "quota", "q1", "--hard=pods=2,requests.cpu=1,limits.cpu=2,count/deployments.apps=3")
			out = k.run("get", "quota")
			require.Regexp(t, `NAME\s+AGE\s+REQUEST\s+LIMIT`, out)
			require.Contains(t, out, "count/deployments.apps: 0/3, pods: 0/2, requests.cpu: 0/1")
			require.Contains(t, out, "limits.cpu: 0/2")

			k.runStdin(containerLimits, "apply", "-f", "-")
			out = k.run("get", "limits")
			require.Regexp(t, `NAME\s+CREATED AT\ncontainer-limits\s+\d{4}-\d\d-\d\dT`, out)
			out = k.run("describe", "limits", "container-limits")
			require.Regexp(t, `Container\s+cpu\s+-\s+1\s+100m\s+500m`, out)

			// A pod without resources gets the defaults, and is charged.
			k.run("run", "web", "--image=nginx", "--restart=Never")
			pod, err := s.Client.CoreV1().Pods("default").Get(context.Background(), "web", metav1.GetOptions{})
			require.NoError(t, err)
			r := pod.Spec.Containers[0].Resources
			require.Equal(t, "500m", r.Limits.Cpu().String())
			require.Equal(t, "100m", r.Requests.Cpu().String())
			require.Equal(t, "128Mi", r.Limits.Memory().String())

			out = k.run("describe", "quota", "q1")
			for _, want := range []string{`Name:\s+q1`, `Resource\s+Used\s+Hard`, `limits.cpu\s+500m\s+2`, `pods\s+1\s+2`, `requests.cpu\s+100m\s+1`} {
				require.Regexp(t, want, out)
			}

			// Too much CPU: LimitRanger says why.
			out = k.fail("run", "big", "--image=nginx", "--restart=Never", "--overrides",
				`{"spec":{"containers":[{"name":"big","image":"nginx","resources":{"limits":{"cpu":"2"}}}]}}`)
			require.Contains(t, out, `pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2`)

			k.run("run", "web2", "--image=nginx", "--restart=Never")
			out = k.fail("run", "web3", "--image=nginx", "--restart=Never")
			require.Contains(t, out, `pods "web3" is forbidden: exceeded quota: q1, requested: pods=1, used: pods=2, limited: pods=2`)
			require.True(t, strings.Contains(k.run("get", "quota", "q1"), "pods: 2/2"))
		})
	}
}

// runStdin runs kubectl with stdin; a failure fails the test.
func (k *kubectlRunner) runStdin(stdin string, args ...string) string {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := k.cmd(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	require.NoError(k.t, err, "kubectl %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

// fail runs kubectl, which must fail, and returns its output.
func (k *kubectlRunner) fail(args ...string) string {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := k.cmd(ctx, args...).CombinedOutput()
	require.Error(k.t, err, "kubectl %s succeeded:\n%s", strings.Join(args, " "), out)
	return string(out)
}
