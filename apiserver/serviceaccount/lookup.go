package serviceaccount

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/store"
)

// Lookup finds the objects tokens name. A missing object is an error
// wrapping store.ErrNotFound.
type Lookup interface {
	ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Node(ctx context.Context, name string) (*corev1.Node, error)
}

// StoreLookup reads the objects from the API server's store: every check
// sees the latest state, so a deleted account's tokens fail at once.
func StoreLookup(st store.Store) Lookup { return storeLookup{st} }

type storeLookup struct{ st store.Store }

func (l storeLookup) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return get[corev1.ServiceAccount](ctx, l.st, "serviceaccounts", namespace, name)
}

func (l storeLookup) Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return get[corev1.Pod](ctx, l.st, "pods", namespace, name)
}

func (l storeLookup) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return get[corev1.Secret](ctx, l.st, "secrets", namespace, name)
}

func (l storeLookup) Node(ctx context.Context, name string) (*corev1.Node, error) {
	return get[corev1.Node](ctx, l.st, "nodes", "", name)
}

func get[T any](ctx context.Context, st store.Store, resource, namespace, name string) (*T, error) {
	kv, err := st.Get(ctx, store.ObjectKey(resource, namespace, name))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", resource, objectName(namespace, name), err)
	}
	obj := new(T)
	if err := json.Unmarshal(kv.Value, obj); err != nil {
		return nil, fmt.Errorf("%s %s: decoding: %w", resource, objectName(namespace, name), err)
	}
	return obj, nil
}

func objectName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
