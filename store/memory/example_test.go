package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/store"
	"github.com/gantryhq/gantry/store/memory"
)

func Example() {
	ctx := context.Background()
	s := memory.New(memory.Options{})
	defer s.Close()

	key := store.ObjectKey("pods", "default", "web")
	created, _ := s.Create(ctx, key, []byte("v1"), store.WriteOptions{})
	fmt.Println("created at revision", created.ModRevision)

	// Compare-and-swap: the update names the revision it read.
	updated, _ := s.Update(ctx, key, []byte("v2"), created.ModRevision, store.WriteOptions{})
	_, err := s.Update(ctx, key, []byte("v3"), created.ModRevision, store.WriteOptions{})
	fmt.Println("stale update conflicts:", errors.Is(err, store.ErrConflict))

	// The past stays readable until compacted.
	old, _ := s.List(ctx, store.ObjectPrefix("pods", "default"), store.ListOptions{Revision: created.ModRevision})
	fmt.Printf("at revision %d: %s\n", old.Revision, old.Items[0].Value)

	// A watch replays the history after a revision, then goes on live.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, _ := s.Watch(wctx, "/registry/pods/", created.ModRevision-1)
	_, _ = s.Delete(ctx, key, updated.ModRevision)
	for range 3 {
		ev := <-events
		fmt.Printf("%v %s at %d: %q (was %q)\n", ev.Type, ev.Key, ev.Revision, ev.Value, ev.PrevValue)
	}
	// Output:
	// created at revision 2
	// stale update conflicts: true
	// at revision 2: v1
	// CREATE /registry/pods/default/web at 2: "v1" (was "")
	// UPDATE /registry/pods/default/web at 3: "v2" (was "v1")
	// DELETE /registry/pods/default/web at 4: "" (was "v2")
}

// A key written with a TTL expires on the store's clock; tests give a fake
// clock and step it.
func ExampleNew_fakeClock() {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	s := memory.New(memory.Options{Clock: clk})
	defer s.Close()

	events, _ := s.Watch(ctx, "/leases/", 0)
	_, _ = s.Create(ctx, "/leases/node-1", []byte("alive"), store.WriteOptions{TTL: 40 * time.Second})
	fmt.Println((<-events).Type)

	clk.Step(40 * time.Second)
	ev := <-events
	fmt.Println(ev.Type, ev.Key, string(ev.PrevValue))
	// Output:
	// CREATE
	// DELETE /leases/node-1 alive
}
