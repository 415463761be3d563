package logging_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/klog/v2"

	"github.com/gantryhq/gantry/examples/internal/logging"
)

func TestKlogGoesToTheLogger(t *testing.T) {
	var buf bytes.Buffer
	l := logging.New(&buf, 0)
	t.Cleanup(klog.ClearLogger)
	l.Info("from slog", "k", "v")
	klog.ErrorS(errors.New("boom"), "from klog", "lease", "kube-system/gantry-scheduler")
	klog.Flush()
	out := buf.String()
	require.Contains(t, out, `level=INFO msg="from slog" k=v`)
	require.Contains(t, out, `msg="from klog"`)
	require.Contains(t, out, `lease=kube-system/gantry-scheduler`)
	require.Contains(t, out, `boom`)
	require.NotContains(t, out, "level=DEBUG")
}

func TestVerbosity(t *testing.T) {
	var buf bytes.Buffer
	t.Cleanup(klog.ClearLogger)
	logging.New(&buf, 0).Debug("hidden")
	require.Empty(t, buf.String())
	logging.New(&buf, 1).Debug("shown")
	require.Contains(t, buf.String(), `level=DEBUG msg=shown`)
}
