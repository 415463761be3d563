//go:build !unix

package images

import (
	"context"
	goruntime "runtime"
)

var inProcess = make(chan struct{}, 1)

// lock serializes builds within this process only.
func lock(ctx context.Context) (unlock func(), err error) {
	select {
	case inProcess <- struct{}{}:
		return func() { <-inProcess }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func goroot() string { return goruntime.GOROOT() } //nolint:staticcheck // a fallback only
