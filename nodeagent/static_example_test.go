package nodeagent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/gantryhq/gantry/nodeagent"
	fakeruntime "github.com/gantryhq/gantry/runtime/fake"
)

// An agent with static pods, lifecycle hooks' grace periods and container
// garbage collection set as a kubelet's flags would: the files of dir run
// as pods <name>-node-1, mirrored on the API server.
func ExampleOptions_podManifestPath() {
	dir, err := os.MkdirTemp("", "manifests")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	manifest := "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: app, image: nginx}]\n"
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(manifest), 0o644); err != nil {
		fmt.Println(err)
		return
	}
	rt, err := fakeruntime.New(fakeruntime.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: "node-1", Client: fake.NewClientset(), Runtime: rt, RootDir: filepath.Join(dir, ".root"),
		PodManifestPath:    dir,              // --pod-manifest-path
		FileCheckFrequency: 20 * time.Second, // --file-check-frequency
		MaxPerPodContainer: 1,                // --maximum-dead-containers-per-container
		MinimumGCAge:       time.Minute,      // --minimum-container-ttl-duration
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Run blocks until its context ends; here it is not started.
	_ = agent
	fmt.Println("configured")
	// Output: configured
}
