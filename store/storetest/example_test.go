package storetest_test

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/store/memory"
	"github.com/gantryhq/gantry/store/storetest"
)

// A backend's tests run the suite with a fresh store per subtest. A store on
// a fake clock gives Advance; a store on real time leaves it nil.
func ExampleRun() {
	_ = func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Backend {
			clk := clocktesting.NewFakeClock(time.Unix(0, 0))
			return storetest.Backend{
				Store:   memory.New(memory.Options{Clock: clk}),
				Advance: clk.Step,
			}
		})
	}
}
