package deployment_test

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/deployment"
	"github.com/gantryhq/gantry/controller/replicaset"
)

func ExampleNew() {
	s, _ := controllertest.New(context.Background(), apiserver.Options{})
	defer s.Close()
	m, _ := controller.NewManager(controller.ManagerOptions{Client: s.Client})
	_ = replicaset.Register(m)
	_ = deployment.Register(m) // deployment.New builds the same controller by hand
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = m.Start(ctx) }()
	_, _ = s.Client.AppsV1().Deployments("default").Create(ctx, newDeployment("web", 3, "nginx"), metav1.CreateOptions{})
	for {
		l, _ := s.Client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
		if len(l.Items) == 1 && l.Items[0].Status.Replicas == 3 {
			fmt.Println("revision", l.Items[0].Annotations[deployment.RevisionAnnotation], "replicas", l.Items[0].Status.Replicas)
			break
		}
		<-time.After(10 * time.Millisecond)
	}
	// Output: revision 1 replicas 3
}
