// Package restconfig sets a component's defaults on a client-go
// rest.Config: its user agent and its client-side rate limit, as each
// Kubernetes component has its own (client-go's 5 requests per second, burst
// 10, suit none of the control plane).
package restconfig

import "k8s.io/client-go/rest"

// WithDefaults returns a copy of cfg with userAgent unless cfg names one,
// and qps and burst unless cfg sets a rate (a QPS, -1 for no limit, or a
// RateLimiter). A burst in cfg larger than burst is kept.
func WithDefaults(cfg *rest.Config, userAgent string, qps float32, burst int) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = userAgent
	}
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		cfg.QPS, cfg.Burst = qps, max(cfg.Burst, burst)
	}
	return cfg
}
