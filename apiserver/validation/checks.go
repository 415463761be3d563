package validation

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Checks of single values shared by the object validators.

const (
	immutableMsg   = apimachineryvalidation.FieldImmutableErrorMsg
	nonNegativeMsg = apimachineryvalidation.IsNegativeErrorMsg
	positiveMsg    = "must be greater than 0"
)

var supportedProtocols = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

func nonNegative(v int64, p *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateNonnegativeField(v, p)
}

func nonNegativePtr[T int32 | int64](v *T, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return nonNegative(int64(*v), p)
}

func positive(v int64, p *field.Path) field.ErrorList {
	if v <= 0 {
		return field.ErrorList{field.Invalid(p, v, positiveMsg)}
	}
	return nil
}

func immutable(newVal, oldVal any, p *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateImmutableField(newVal, oldVal, p)
}

// messages turns the messages of a util/validation check into Invalid
// errors at p.
func messages(p *field.Path, value any, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, m := range msgs {
		errs = append(errs, field.Invalid(p, value, m))
	}
	return errs
}

func dnsLabel(v string, p *field.Path) field.ErrorList {
	return messages(p, v, validation.IsDNS1123Label(v))
}

func dnsSubdomain(v string, p *field.Path) field.ErrorList {
	return messages(p, v, validation.IsDNS1123Subdomain(v))
}

func qualifiedName(v string, p *field.Path) field.ErrorList {
	return messages(p, v, validation.IsQualifiedName(v))
}

func portNum(port int32, p *field.Path) field.ErrorList {
	return messages(p, port, validation.IsValidPortNum(int(port)))
}

// portNumOrName checks a port given as a number (1-65535) or as the name of
// a container port (IANA_SVC_NAME).
func portNumOrName(port intstr.IntOrString, p *field.Path) field.ErrorList {
	switch port.Type {
	case intstr.Int:
		return messages(p, port.IntVal, validation.IsValidPortNum(int(port.IntVal)))
	case intstr.String:
		return messages(p, port.StrVal, validation.IsValidPortName(port.StrVal))
	default:
		return field.ErrorList{field.InternalError(p, fmt.Errorf("unknown IntOrString type %d", port.Type))}
	}
}

func protocol(proto corev1.Protocol, p *field.Path) field.ErrorList {
	switch proto {
	case "":
		return field.ErrorList{field.Required(p, "")}
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		return nil
	default:
		return field.ErrorList{field.NotSupported(p, proto, supportedProtocols)}
	}
}

// ip checks an IP address in one of the fields that have always accepted
// any parseable address (podIP, clusterIP, endpoints, ...), in the strict
// form: no leading zeros, no IPv4-mapped IPv6.
func ip(v string, p *field.Path) field.ErrorList {
	return validation.IsValidIPForLegacyField(p, v, true, nil)
}

func cidr(v string, p *field.Path) field.ErrorList {
	return validation.IsValidCIDRForLegacyField(p, v, true, nil)
}

// intOrPercent checks a value such as maxSurge: a non-negative integer or
// a percentage ("25%").
func intOrPercent(v *intstr.IntOrString, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	switch v.Type {
	case intstr.String:
		return messages(p, v.StrVal, validation.IsValidPercent(v.StrVal))
	case intstr.Int:
		return nonNegative(int64(v.IntVal), p)
	default:
		return field.ErrorList{field.InternalError(p, fmt.Errorf("unknown IntOrString type %d", v.Type))}
	}
}

// intOrPercentValue returns the number or percentage in v, and whether it
// is a percentage. Invalid values count as 0 and are reported elsewhere.
func intOrPercentValue(v *intstr.IntOrString) (int, bool) {
	if v == nil {
		return 0, false
	}
	if v.Type == intstr.Int {
		return int(v.IntVal), false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil {
		return 0, true
	}
	return n, true
}

func notMoreThan100Percent(v *intstr.IntOrString, p *field.Path) field.ErrorList {
	if n, pct := intOrPercentValue(v); pct && n > 100 {
		return field.ErrorList{field.Invalid(p, v.String(), "must not be greater than 100%")}
	}
	return nil
}

// inRange32 checks 1 <= v <= MaxInt32, the range of durations in seconds
// such as activeDeadlineSeconds.
func inRange32(v int64, lo int64, p *field.Path) field.ErrorList {
	if v < lo || v > math.MaxInt32 {
		return field.ErrorList{field.Invalid(p, v, validation.InclusiveRangeError(int(lo), math.MaxInt32))}
	}
	return nil
}
