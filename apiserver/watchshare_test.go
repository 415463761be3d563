package apiserver_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
)

// TestWatchersShareEvents: watchers in JSON, in protobuf, with a label
// selector and metadata-only all see every change of a pod right, while
// the server decodes and encodes each change once for all of them (run
// under -race: the shared objects are never written).
func TestWatchersShareEvents(t *testing.T) {
	s := apiservertest.Start(t, apiserver.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods := s.Client.CoreV1().Pods("default")
	created, err := pods.Create(ctx, testPod("shared"), metav1.CreateOptions{})
	require.NoError(t, err)

	pb := rest.CopyConfig(s.Config)
	pb.ContentType = runtime.ContentTypeProtobuf
	pb.AcceptContentTypes = runtime.ContentTypeProtobuf
	pbClient, err := kubernetes.NewForConfig(pb)
	require.NoError(t, err)
	md, err := metadata.NewForConfig(s.Config)
	require.NoError(t, err)

	type seen struct{ typ, n string }
	const changes = 60
	var watchers []watch.Interface
	var names []string
	add := func(name string, w watch.Interface, err error) {
		require.NoError(t, err)
		t.Cleanup(w.Stop)
		watchers, names = append(watchers, w), append(names, name)
	}
	from := metav1.ListOptions{ResourceVersion: created.ResourceVersion}
	for i := range 3 {
		w, err := pods.Watch(ctx, from)
		add(fmt.Sprint("json-", i), w, err)
		w, err = pbClient.CoreV1().Pods("default").Watch(ctx, from)
		add(fmt.Sprint("protobuf-", i), w, err)
		w, err = pods.Watch(ctx, metav1.ListOptions{ResourceVersion: created.ResourceVersion, LabelSelector: "app=web"})
		add(fmt.Sprint("selector-", i), w, err)
		w, err = md.Resource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}).Namespace("default").Watch(ctx, from)
		add(fmt.Sprint("metadata-", i), w, err)
	}

	// Change n sets annotation n; odd changes take the pod out of app=web.
	cur := created
	for n := 1; n <= changes; n++ {
		cur.Annotations = map[string]string{"n": strconv.Itoa(n)}
		cur.Labels = map[string]string{"app": "web"}
		if n%2 == 1 {
			cur.Labels = map[string]string{"app": "other"}
		}
		cur, err = pods.Update(ctx, cur, metav1.UpdateOptions{})
		require.NoError(t, err)
	}

	var wg sync.WaitGroup
	got := make([][]seen, len(watchers))
	for i, w := range watchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range w.ResultChan() {
				a, err := objectMeta(ev.Object)
				if err != nil {
					got[i] = append(got[i], seen{typ: "bad object " + err.Error()})
					return
				}
				got[i] = append(got[i], seen{string(ev.Type), a.GetAnnotations()["n"]})
				if a.GetAnnotations()["n"] == strconv.Itoa(changes) {
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, name := range names {
		var want []seen
		for n := 1; n <= changes; n++ {
			typ := string(watch.Modified)
			if strings.HasPrefix(name, "selector") {
				typ = string(watch.Added)
				if n%2 == 1 {
					typ = string(watch.Deleted)
				}
			}
			want = append(want, seen{typ, strconv.Itoa(n)})
		}
		require.Equal(t, want, got[i], name)
	}
}

func objectMeta(obj runtime.Object) (metav1.Object, error) {
	if p, ok := obj.(*corev1.Pod); ok {
		return p, nil
	}
	if p, ok := obj.(*metav1.PartialObjectMetadata); ok {
		return p, nil
	}
	return nil, fmt.Errorf("%T", obj)
}
