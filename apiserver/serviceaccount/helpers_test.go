package serviceaccount_test

import (
	"time"

	"github.com/gantryhq/gantry/apiserver"
)

const (
	waitFor = 10 * time.Second
	tick    = 10 * time.Millisecond
)

func apiserverOptions() apiserver.Options { return apiserver.Options{} }
