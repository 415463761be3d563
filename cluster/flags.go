package cluster

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/defaulttolerationseconds"
)

// AddFlags registers the master's flags on fs, named like kube-apiserver's
// where one exists, with c's current values as defaults; parsing fs sets
// c's fields. Logger and StartTimeout have no flags.
func (c *MasterConfig) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir,
		"directory for the master's state: pki/ (CA, certificates, keys), etcd/ (embedded etcd data) and kubeconfig (the administrator's)")
	fs.StringVar(&c.BindAddress, "bind-address", c.BindAddress,
		"IP address the API server listens on (0.0.0.0 for every interface); empty means 127.0.0.1")
	fs.IntVar(&c.SecurePort, "secure-port", c.SecurePort,
		"HTTPS port of the API server (0 picks a free one)")
	fs.StringVar(&c.AdvertiseAddress, "advertise-address", c.AdvertiseAddress,
		"IP address the API server is reached at from inside the cluster (not loopback); empty means the bind address, or the host's first non-loopback IPv4 address when the bind address is loopback or every interface")
	fs.StringSliceVar(&c.CertSANs, "tls-san", c.CertSANs,
		"more DNS names or IP addresses for the API server's certificate (comma-separated or repeated)")
	fs.StringVar(&c.TokenAuthFile, "token-auth-file", c.TokenAuthFile,
		"file of static bearer tokens (token,user,uid,\"group1,group2\" per line) accepted besides client certificates")
	fs.StringVar(&c.ServiceAccountIssuer, "service-account-issuer", c.ServiceAccountIssuer,
		"issuer (iss) of the service account tokens the API server signs; empty means https://kubernetes.default.svc.cluster.local")
	fs.StringSliceVar(&c.APIAudiences, "api-audiences", c.APIAudiences,
		"audiences the API server accepts tokens for, and the default audience of requested tokens (comma-separated); empty means the issuer")
	fs.DurationVar(&c.ServiceAccountMaxTokenExpiration, "service-account-max-token-expiration", c.ServiceAccountMaxTokenExpiration,
		"longest lifetime of a requested service account token (longer requests are shortened); 0 means no limit")
	fs.StringSliceVar(&c.EnableAdmissionPlugins, "enable-admission-plugins", c.EnableAdmissionPlugins,
		"admission plugins to turn on besides the default ones (comma-separated): AlwaysPullImages")
	fs.Var(&secondsValue{&c.DefaultNotReadyTolerationSeconds}, "default-not-ready-toleration-seconds",
		"tolerationSeconds of the toleration of node.kubernetes.io/not-ready:NoExecute given to every pod that has none (DefaultTolerationSeconds admission plugin)")
	fs.Var(&secondsValue{&c.DefaultUnreachableTolerationSeconds}, "default-unreachable-toleration-seconds",
		"tolerationSeconds of the toleration of node.kubernetes.io/unreachable:NoExecute given to every pod that has none (DefaultTolerationSeconds admission plugin)")
	fs.StringSliceVar(&c.EtcdServers, "etcd-servers", c.EtcdServers,
		"client URLs of an external etcd cluster (comma-separated); empty runs an embedded etcd with its data in <data-dir>/etcd")
	fs.StringVar(&c.EtcdCAFile, "etcd-cafile", c.EtcdCAFile, "CA certificate file to verify the etcd servers with")
	fs.StringVar(&c.EtcdCertFile, "etcd-certfile", c.EtcdCertFile, "client certificate file for etcd")
	fs.StringVar(&c.EtcdKeyFile, "etcd-keyfile", c.EtcdKeyFile, "client key file for etcd")
	fs.Var((*prefixValue)(&c.ServiceClusterIPRange), "service-cluster-ip-range",
		"CIDR range service cluster IPs are allocated from (default "+apiserver.DefaultServiceClusterIPRange.String()+")")
	fs.Var((*portRangeValue)(&c.ServiceNodePortRange), "service-node-port-range",
		"port range node ports are allocated from, LOW-HIGH (default "+apiserver.DefaultServiceNodePortRange.String()+")")
}

// secondsValue is an optional number of seconds: unset (nil) shows the
// default, defaulttolerationseconds.DefaultSeconds.
type secondsValue struct{ p **int64 }

func (v *secondsValue) String() string {
	if v.p == nil || *v.p == nil {
		return strconv.FormatInt(defaulttolerationseconds.DefaultSeconds, 10)
	}
	return strconv.FormatInt(**v.p, 10)
}

func (v *secondsValue) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not a number of seconds: %w", err)
	}
	if n < 0 {
		return fmt.Errorf("negative seconds %d", n)
	}
	*v.p = &n
	return nil
}

func (v *secondsValue) Type() string { return "int" }

// prefixValue is a netip.Prefix flag.
type prefixValue netip.Prefix

func (v *prefixValue) String() string {
	if p := netip.Prefix(*v); p.IsValid() {
		return p.String()
	}
	return ""
}

func (v *prefixValue) Set(s string) error {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("not a CIDR range: %w", err)
	}
	*v = prefixValue(p.Masked())
	return nil
}

func (v *prefixValue) Type() string { return "cidr" }

// portRangeValue is an apiserver.PortRange flag.
type portRangeValue apiserver.PortRange

func (v *portRangeValue) String() string {
	if r := apiserver.PortRange(*v); r.Size > 0 {
		return r.String()
	}
	return ""
}

func (v *portRangeValue) Set(s string) error {
	r, err := apiserver.ParsePortRange(s)
	if err != nil {
		return err
	}
	*v = portRangeValue(r)
	return nil
}

func (v *portRangeValue) Type() string { return "portRange" }

// ParseTaints parses taints written as the kubelet's --register-with-taints
// takes them: key[=value]:Effect, with Effect NoSchedule, PreferNoSchedule
// or NoExecute.
func ParseTaints(specs []string) ([]corev1.Taint, error) {
	var taints []corev1.Taint
	for _, spec := range specs {
		kv, effect, ok := strings.Cut(spec, ":")
		if !ok {
			return nil, fmt.Errorf("taint %q: want key[=value]:Effect", spec)
		}
		key, value, _ := strings.Cut(kv, "=")
		if msgs := validation.IsQualifiedName(key); len(msgs) > 0 {
			return nil, fmt.Errorf("taint %q: key: %s", spec, strings.Join(msgs, "; "))
		}
		if value != "" {
			if msgs := validation.IsValidLabelValue(value); len(msgs) > 0 {
				return nil, fmt.Errorf("taint %q: value: %s", spec, strings.Join(msgs, "; "))
			}
		}
		e := corev1.TaintEffect(effect)
		if e != corev1.TaintEffectNoSchedule && e != corev1.TaintEffectPreferNoSchedule && e != corev1.TaintEffectNoExecute {
			return nil, fmt.Errorf("taint %q: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", spec, effect)
		}
		taints = append(taints, corev1.Taint{Key: key, Value: value, Effect: e})
	}
	return taints, nil
}
