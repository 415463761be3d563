package warm

import (
	_ "go.etcd.io/etcd/server/v3/embed"
	_ "go.etcd.io/etcd/client/v3"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/informers"
	_ "k8s.io/apimachinery/pkg/util/strategicpatch"
	_ "k8s.io/utils/clock/testing"
	_ "github.com/stretchr/testify/require"
)
