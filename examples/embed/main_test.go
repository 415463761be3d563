package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRun runs the example and checks what it prints: the deployment's four
// pods running on the two embedded nodes, and a clean stop.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	s := out.String()
	if n := strings.Count(s, " on node-"); n != 4 {
		t.Errorf("%d pods reported running, want 4:\n%s", n, s)
	}
	if !strings.HasSuffix(s, "stopped\n") {
		t.Errorf("no clean stop:\n%s", s)
	}
}
