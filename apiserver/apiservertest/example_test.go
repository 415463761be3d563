package apiservertest_test

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
)

func TestStart(t *testing.T) {
	s := apiservertest.Start(t, apiserver.Options{})
	ns, err := s.Client.CoreV1().Namespaces().Get(context.Background(), "kube-system", metav1.GetOptions{})
	if err != nil || ns.Name != "kube-system" {
		t.Fatalf("system namespace: %v", err)
	}
}

func ExampleWithRBAC() {
	test := func(t *testing.T) {
		s := apiservertest.Start(t, apiserver.Options{}, apiservertest.WithRBAC())
		// s.Client is an administrator; ConfigFor makes other users, who
		// start with the bootstrap policy's permissions only.
		bob := kubernetes.NewForConfigOrDie(s.ConfigFor("bob", "dev"))
		_, err := bob.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("bob may list pods: %v", err)
		}
	}
	_ = test
}

func TestWithRBAC(t *testing.T) {
	s := apiservertest.Start(t, apiserver.Options{}, apiservertest.WithRBAC())
	ctx := context.Background()
	if _, err := s.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("the administrator: %v", err)
	}
	bob := kubernetes.NewForConfigOrDie(s.ConfigFor("bob"))
	if _, err := bob.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("bob: %v, want forbidden", err)
	}
	bad := rest.CopyConfig(s.Config)
	bad.BearerToken = "made-up"
	if _, err := kubernetes.NewForConfigOrDie(bad).CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Fatalf("unknown token: %v, want unauthorized", err)
	}
}
