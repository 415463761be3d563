package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunReproducible(t *testing.T) {
	files := func() map[string]string {
		dir := t.TempDir()
		var out bytes.Buffer
		require.NoError(t, run(context.Background(), []string{"--nodes", "6", "--jobs", "150", "--seed", "5", "--wall=false",
			"--out", dir, "--save-trace", filepath.Join(dir, "trace.csv")}, &out))
		got := map[string]string{"stdout": out.String()}
		for _, n := range []string{"results.csv", "samples.csv", "results.json", "utilisation.svg", "utilisation.png", "trace.csv"} {
			b, err := os.ReadFile(filepath.Join(dir, n))
			require.NoError(t, err)
			got[n] = string(b)
		}
		return got
	}
	a, b := files(), files()
	assert.Equal(t, a, b)
	assert.Contains(t, a["stdout"], "most-allocated")
	assert.Contains(t, a["utilisation.svg"], "<polyline")
	assert.True(t, strings.HasPrefix(a["utilisation.png"], "\x89PNG\r\n"), "utilisation.png is a PNG")

	// Replaying the saved trace gives the same numbers.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "t.csv"), []byte(a["trace.csv"]), 0o600))
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"--nodes", "6", "--seed", "5", "--wall=false", "--trace", filepath.Join(dir, "t.csv")}, &out))
	assert.Equal(t, a["stdout"], out.String())
}
