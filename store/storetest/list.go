package storetest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/store"
)

// testListPagination: pages of a list are one snapshot, at the revision of
// the first page, whatever changes between pages; Remaining counts what is
// left and the last page has no Continue.
func testListPagination(t *testing.T, h *harness) {
	const n = 25
	for i := range n {
		h.create(h.key(fmt.Sprintf("k%02d", i)), fmt.Sprintf("v%02d", i))
	}
	for _, limit := range []int64{1, 7, 10, 25, 30} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			first, err := h.s.List(h.ctx, h.prefix, store.ListOptions{Limit: limit})
			require.NoError(t, err)
			// The snapshot every page must show.
			snapshot, _ := h.list(h.prefix, first.Revision)
			require.GreaterOrEqual(t, len(snapshot), n)

			page, seen := first, 0
			gone := map[string]bool{}
			for pageNo := 0; ; pageNo++ {
				require.Equal(t, first.Revision, page.Revision, "page %d read at another revision", pageNo)
				wantLen := min(int(limit), len(snapshot)-seen)
				require.Len(t, page.Items, wantLen, "page %d", pageNo)
				for i, kv := range page.Items {
					want := snapshot[seen+i]
					requireKV(t, kv, want.Key, string(want.Value), want.CreateRevision, want.ModRevision)
				}
				seen += len(page.Items)
				require.Equal(t, int64(len(snapshot)-seen), page.Remaining, "Remaining of page %d", pageNo)
				if seen == len(snapshot) {
					require.Empty(t, page.Continue, "last page %d has a continue token", pageNo)
					break
				}
				require.NotEmpty(t, page.Continue, "page %d: items remain but no continue token", pageNo)

				// Change the keys still to come: update the first, delete
				// the last, add one among them and one at the end.
				var rest []string
				for _, kv := range snapshot[seen:] {
					if !gone[kv.Key] {
						rest = append(rest, kv.Key)
					}
				}
				if len(rest) > 0 {
					_, err := h.s.Update(h.ctx, rest[0], []byte("changed"), 0, store.WriteOptions{})
					require.NoError(t, err)
				}
				if len(rest) > 1 {
					_, err := h.s.Delete(h.ctx, rest[len(rest)-1], 0)
					require.NoError(t, err)
					gone[rest[len(rest)-1]] = true
				}
				h.create(fmt.Sprintf("%s-l%d-p%d", snapshot[seen].Key, limit, pageNo), "new")
				h.create(h.key(fmt.Sprintf("zz-l%d-p%d", limit, pageNo)), "new")

				var err error
				page, err = h.s.List(h.ctx, h.prefix, store.ListOptions{Limit: limit, Continue: page.Continue})
				require.NoError(t, err, "page %d", pageNo+1)
			}

			// The changes are there for the next list.
			items, rev := h.list(h.prefix, 0)
			require.Greater(t, rev, first.Revision)
			require.NotEqual(t, snapshot, items)
		})
	}
}

// testListAtRevision: a list at a past revision shows the keys as they were:
// keys deleted since appear, keys created since do not; paging works there
// too.
func testListAtRevision(t *testing.T, h *harness) {
	a, b, c := h.key("a"), h.key("b"), h.key("c")
	rev0 := h.rev()
	ca := h.create(a, "a1")
	cb := h.create(b, "b1")
	ua := h.update(a, "a2", "a1")
	h.delete(b, "b1")
	afterDelete := h.rev()
	cc := h.create(c, "c1")
	cb2 := h.create(b, "b2")

	for _, tc := range []struct {
		name string
		rev  int64
		want []*store.KeyValue
	}{
		{"before", rev0, nil},
		{"one key", ca.Revision, []*store.KeyValue{
			{Key: a, Value: []byte("a1"), CreateRevision: ca.Revision, ModRevision: ca.Revision}}},
		{"two keys", cb.Revision, []*store.KeyValue{
			{Key: a, Value: []byte("a1"), CreateRevision: ca.Revision, ModRevision: ca.Revision},
			{Key: b, Value: []byte("b1"), CreateRevision: cb.Revision, ModRevision: cb.Revision}}},
		{"updated", ua.Revision, []*store.KeyValue{
			{Key: a, Value: []byte("a2"), CreateRevision: ca.Revision, ModRevision: ua.Revision},
			{Key: b, Value: []byte("b1"), CreateRevision: cb.Revision, ModRevision: cb.Revision}}},
		{"deleted", afterDelete, []*store.KeyValue{
			{Key: a, Value: []byte("a2"), CreateRevision: ca.Revision, ModRevision: ua.Revision}}},
		{"created", cc.Revision, []*store.KeyValue{
			{Key: a, Value: []byte("a2"), CreateRevision: ca.Revision, ModRevision: ua.Revision},
			{Key: c, Value: []byte("c1"), CreateRevision: cc.Revision, ModRevision: cc.Revision}}},
		{"recreated", cb2.Revision, []*store.KeyValue{
			{Key: a, Value: []byte("a2"), CreateRevision: ca.Revision, ModRevision: ua.Revision},
			{Key: b, Value: []byte("b2"), CreateRevision: cb2.Revision, ModRevision: cb2.Revision},
			{Key: c, Value: []byte("c1"), CreateRevision: cc.Revision, ModRevision: cc.Revision}}},
		{"current", 0, []*store.KeyValue{
			{Key: a, Value: []byte("a2"), CreateRevision: ca.Revision, ModRevision: ua.Revision},
			{Key: b, Value: []byte("b2"), CreateRevision: cb2.Revision, ModRevision: cb2.Revision},
			{Key: c, Value: []byte("c1"), CreateRevision: cc.Revision, ModRevision: cc.Revision}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, rev := h.list(h.prefix, tc.rev)
			if tc.rev != 0 {
				require.Equal(t, tc.rev, rev, "ListResult.Revision")
			} else {
				require.GreaterOrEqual(t, rev, cb2.Revision, "ListResult.Revision")
			}
			require.Len(t, items, len(tc.want), "items at revision %d: %v", tc.rev, items)
			for i, want := range tc.want {
				requireKV(t, items[i], want.Key, string(want.Value), want.CreateRevision, want.ModRevision)
			}

			// Paging at that revision, one item per page.
			var paged []*store.KeyValue
			opts := store.ListOptions{Limit: 1, Revision: tc.rev}
			for {
				res, err := h.s.List(h.ctx, h.prefix, opts)
				require.NoError(t, err)
				require.Equal(t, rev, res.Revision)
				paged = append(paged, res.Items...)
				require.Equal(t, int64(len(tc.want)-len(paged)), res.Remaining)
				if res.Continue == "" {
					break
				}
				opts = store.ListOptions{Limit: 1, Continue: res.Continue}
			}
			require.Equal(t, items, paged)
		})
	}
}
