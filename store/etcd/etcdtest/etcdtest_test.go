package etcdtest

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Skip and Fatal instead of ending
// the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skip(args ...any)                  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestRequireBinaryMissing(t *testing.T) {
	for _, tc := range []struct {
		ci         string
		skip, fail bool
	}{
		{"", true, false},
		{"true", false, true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			RequireBinary(r, "gantry-no-such-etcd-binary")
			if (r.skipped != "") != tc.skip || (r.failed != "") != tc.fail {
				t.Fatalf("skipped %q, failed %q; want skip %v, fail %v", r.skipped, r.failed, tc.skip, tc.fail)
			}
			msg := r.skipped + r.failed
			if !strings.Contains(msg, "etcd-server") {
				t.Errorf("message %q does not say what to install", msg)
			}
		})
	}
}

func TestStartProcessRestartMember(t *testing.T) {
	t.Parallel()
	c := StartProcess(t, 1)
	if !c.Running(0) || c.Size() != 1 || len(c.Endpoints()) != 1 {
		t.Fatalf("cluster: running %v, size %d, endpoints %v", c.Running(0), c.Size(), c.Endpoints())
	}
	cli := c.NewClient(t)
	if _, err := cli.Put(t.Context(), "/k", "v"); err != nil {
		t.Fatal(err)
	}
	c.KillMember(t, 0)
	if c.Running(0) {
		t.Fatal("member running after KillMember")
	}
	c.StartMember(t, 0)
	resp, err := cli.Get(t.Context(), "/k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("after restart: %v", resp.Kvs)
	}
}
