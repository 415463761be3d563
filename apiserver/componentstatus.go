package apiserver

import (
	"context"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gantryhq/gantry/store"
)

// ComponentCheck is a control-plane component that kubectl get
// componentstatuses reports on.
type ComponentCheck struct {
	// Name as shown, e.g. "scheduler".
	Name string
	// Check returns nil when the component is healthy. It must honour ctx.
	Check func(ctx context.Context) error
}

// HTTPCheck returns a Check that GETs url (a health endpoint such as
// http://127.0.0.1:10259/healthz) and wants a 200.
func HTTPCheck(client *http.Client, url string) func(context.Context) error {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return &httpStatusError{url: url, code: resp.StatusCode}
		}
		return nil
	}
}

type httpStatusError struct {
	url  string
	code int
}

func (e *httpStatusError) Error() string {
	return "Get " + e.url + ": " + http.StatusText(e.code)
}

// componentChecks are the configured checks, etcd first.
func (s *Server) componentChecks() []ComponentCheck {
	checks := []ComponentCheck{{Name: "etcd-0", Check: func(ctx context.Context) error {
		_, err := s.opts.Store.List(ctx, store.ObjectPrefix("namespaces", ""), store.ListOptions{Limit: 1})
		return err
	}}}
	return append(checks, s.opts.ComponentChecks...)
}

func (s *Server) componentStatus(ctx context.Context, c ComponentCheck) *corev1.ComponentStatus {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cond := corev1.ComponentCondition{Type: corev1.ComponentHealthy, Status: corev1.ConditionTrue, Message: "ok"}
	if err := c.Check(ctx); err != nil {
		cond = corev1.ComponentCondition{Type: corev1.ComponentHealthy, Status: corev1.ConditionFalse, Error: err.Error()}
	}
	cs := &corev1.ComponentStatus{ObjectMeta: metav1.ObjectMeta{Name: c.Name}, Conditions: []corev1.ComponentCondition{cond}}
	cs.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ComponentStatus"))
	return cs
}

// serveComponentStatuses serves get and list of the computed
// componentstatuses resource; it has no other verbs.
func (s *Server) serveComponentStatuses(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	checks := s.componentChecks()
	switch info.Verb {
	case "get":
		for _, c := range checks {
			if c.Name == info.Name {
				return s.writeObject(w, r, res, http.StatusOK, s.componentStatus(r.Context(), c))
			}
		}
		return apierrors.NewNotFound(res.GroupResource(), info.Name)
	case "list":
		list := &corev1.ComponentStatusList{}
		results := make([]*corev1.ComponentStatus, len(checks))
		done := make(chan struct{})
		for i, c := range checks {
			go func() {
				results[i] = s.componentStatus(r.Context(), c)
				done <- struct{}{}
			}()
		}
		for range checks {
			<-done
		}
		for _, cs := range results {
			list.Items = append(list.Items, *cs)
		}
		return s.writeObject(w, r, res, http.StatusOK, list)
	}
	return apierrors.NewMethodNotSupported(res.GroupResource(), info.Verb)
}

func componentStatusResource() Resource {
	return Resource{
		GroupVersionKind: corev1.SchemeGroupVersion.WithKind("ComponentStatus"),
		Plural:           "componentstatuses", ShortNames: []string{"cs"},
		New:     func() runtime.Object { return &corev1.ComponentStatus{} },
		NewList: func() runtime.Object { return &corev1.ComponentStatusList{} },
		Columns: []metav1.TableColumnDefinition{
			{Name: "Status", Type: "string", Description: "Status of the component conditions"},
			{Name: "Message", Type: "string", Description: "Message of the component conditions"},
			{Name: "Error", Type: "string", Description: "Error of the component conditions"},
		},
		Cells: func(obj runtime.Object) []any {
			cs := obj.(*corev1.ComponentStatus)
			status, msg, errMsg := "Unknown", "", ""
			for _, c := range cs.Conditions {
				if c.Type == corev1.ComponentHealthy {
					status = "Unhealthy"
					if c.Status == corev1.ConditionTrue {
						status = "Healthy"
					}
					msg, errMsg = c.Message, c.Error
				}
			}
			return []any{status, msg, errMsg}
		},
		serve:    (*Server).serveComponentStatuses,
		readOnly: true,
		noAge:    true,
	}
}
