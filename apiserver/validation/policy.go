package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// LimitRange validates a new LimitRange: at most one item per type (Pod,
// Container or PersistentVolumeClaim), valid resource names and
// non-negative amounts, defaults only for containers, and per resource
// min <= defaultRequest <= default <= max and maxLimitRequestRatio >= 1.
func LimitRange(lr *corev1.LimitRange) field.ErrorList {
	errs := ObjectMeta(&lr.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, limitRangeSpec(&lr.Spec, field.NewPath("spec"))...)
}

// LimitRangeUpdate validates an update of a LimitRange: the new spec is
// checked as on create.
func LimitRangeUpdate(newLR, oldLR *corev1.LimitRange) field.ErrorList {
	errs := ObjectMetaUpdate(&newLR.ObjectMeta, &oldLR.ObjectMeta, field.NewPath("metadata"))
	return append(errs, limitRangeSpec(&newLR.Spec, field.NewPath("spec"))...)
}

var limitTypes = []corev1.LimitType{corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim}

func limitRangeSpec(spec *corev1.LimitRangeSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[corev1.LimitType]bool{}
	for i := range spec.Limits {
		item := &spec.Limits[i]
		ip := p.Child("limits").Index(i)
		switch {
		case item.Type == "":
			errs = append(errs, field.Required(ip.Child("type"), ""))
		case !contains(limitTypes, item.Type):
			errs = append(errs, field.NotSupported(ip.Child("type"), item.Type, limitTypes))
		case seen[item.Type]:
			errs = append(errs, field.Duplicate(ip.Child("type"), item.Type))
		}
		seen[item.Type] = true
		errs = append(errs, limitRangeItem(item, ip)...)
	}
	return errs
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func limitRangeItem(item *corev1.LimitRangeItem, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	lists := []struct {
		name string
		l    corev1.ResourceList
	}{{"max", item.Max}, {"min", item.Min}, {"default", item.Default}, {"defaultRequest", item.DefaultRequest}, {"maxLimitRequestRatio", item.MaxLimitRequestRatio}}
	for _, l := range lists {
		lp := p.Child(l.name)
		for _, name := range sortedKeys(l.l) {
			fp := lp.Key(string(name))
			if item.Type == corev1.LimitTypePersistentVolumeClaim {
				if name != corev1.ResourceStorage {
					errs = append(errs, field.NotSupported(fp, name, []corev1.ResourceName{corev1.ResourceStorage}))
				}
			} else {
				errs = append(errs, containerResourceName(name, fp)...)
			}
			errs = append(errs, quantity(name, l.l[name], fp)...)
		}
	}
	if item.Type != corev1.LimitTypeContainer {
		if len(item.Default) > 0 {
			errs = append(errs, field.Forbidden(p.Child("default"), fmt.Sprintf("may not be specified when `type` is '%s'", item.Type)))
		}
		if len(item.DefaultRequest) > 0 {
			errs = append(errs, field.Forbidden(p.Child("defaultRequest"), fmt.Sprintf("may not be specified when `type` is '%s'", item.Type)))
		}
	}
	// Each bound must not exceed the next larger one that is set.
	bounds := []struct {
		name string
		l    corev1.ResourceList
	}{{"min", item.Min}, {"defaultRequest", item.DefaultRequest}, {"default", item.Default}, {"max", item.Max}}
	names := map[corev1.ResourceName]bool{}
	for _, b := range bounds {
		for name := range b.l {
			names[name] = true
		}
	}
	for _, name := range sortedKeys(names) {
		for i, lo := range bounds {
			loQ, ok := lo.l[name]
			if !ok {
				continue
			}
			for _, hi := range bounds[i+1:] {
				hiQ, ok := hi.l[name]
				if !ok {
					continue
				}
				if loQ.Cmp(hiQ) > 0 {
					errs = append(errs, field.Invalid(p.Child(lo.name).Key(string(name)), loQ.String(),
						fmt.Sprintf("%s value %s must be less than or equal to %s value %s", lo.name, loQ.String(), hi.name, hiQ.String())))
				}
				break
			}
		}
	}
	for _, name := range sortedKeys(item.MaxLimitRequestRatio) {
		ratio := item.MaxLimitRequestRatio[name]
		fp := p.Child("maxLimitRequestRatio").Key(string(name))
		if ratio.Cmp(*resource.NewQuantity(1, resource.DecimalSI)) < 0 {
			errs = append(errs, field.Invalid(fp, ratio.String(), fmt.Sprintf("ratio %s is less than 1", ratio.String())))
		}
		maxQ, hasMax := item.Max[name]
		minQ, hasMin := item.Min[name]
		if hasMax && hasMin && minQ.MilliValue() > 0 {
			if most := float64(maxQ.MilliValue()) / float64(minQ.MilliValue()); float64(ratio.MilliValue())/1000 > most {
				errs = append(errs, field.Invalid(fp, ratio.String(), fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), most)))
			}
		}
	}
	return errs
}

// The quota resource names that are not container resources.
var standardQuotaResources = map[corev1.ResourceName]bool{
	corev1.ResourcePods: true, corev1.ResourceServices: true, corev1.ResourceReplicationControllers: true,
	corev1.ResourceQuotas: true, corev1.ResourceSecrets: true, corev1.ResourceConfigMaps: true,
	corev1.ResourcePersistentVolumeClaims: true, corev1.ResourceServicesNodePorts: true,
	corev1.ResourceServicesLoadBalancers: true, corev1.ResourceCPU: true, corev1.ResourceMemory: true,
	corev1.ResourceRequestsCPU: true, corev1.ResourceRequestsMemory: true, corev1.ResourceLimitsCPU: true,
	corev1.ResourceLimitsMemory: true, corev1.ResourceRequestsStorage: true, corev1.ResourceEphemeralStorage: true,
	corev1.ResourceRequestsEphemeralStorage: true, corev1.ResourceLimitsEphemeralStorage: true,
}

// quotaCountResources are counted in whole objects: their amounts must be
// integers.
var quotaCountResources = map[corev1.ResourceName]bool{
	corev1.ResourcePods: true, corev1.ResourceServices: true, corev1.ResourceReplicationControllers: true,
	corev1.ResourceQuotas: true, corev1.ResourceSecrets: true, corev1.ResourceConfigMaps: true,
	corev1.ResourcePersistentVolumeClaims: true, corev1.ResourceServicesNodePorts: true,
	corev1.ResourceServicesLoadBalancers: true,
}

// podComputeQuotaResources are what a Terminating or NotTerminating scope
// may limit; a BestEffort scope may limit only the number of pods.
var podComputeQuotaResources = map[corev1.ResourceName]bool{
	corev1.ResourcePods: true, "count/pods": true, corev1.ResourceCPU: true, corev1.ResourceMemory: true,
	corev1.ResourceRequestsCPU: true, corev1.ResourceRequestsMemory: true, corev1.ResourceLimitsCPU: true,
	corev1.ResourceLimitsMemory: true, corev1.ResourceEphemeralStorage: true,
	corev1.ResourceRequestsEphemeralStorage: true, corev1.ResourceLimitsEphemeralStorage: true,
}

// SupportedQuotaScopes are the quota scopes this project enforces.
var SupportedQuotaScopes = []corev1.ResourceQuotaScope{
	corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
	corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort,
	corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity,
}

// ResourceQuota validates a new ResourceQuota: quota resource names
// (standard names, count/<resource>[.<group>], hugepages and extended
// resources) with non-negative amounts, whole numbers for object counts;
// supported, non-conflicting scopes (in spec.scopes, or in
// spec.scopeSelector with Exists or DoesNotExist, and In or NotIn with
// values for PriorityClass) that fit the limited resources.
func ResourceQuota(q *corev1.ResourceQuota) field.ErrorList {
	errs := ObjectMeta(&q.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	errs = append(errs, resourceQuotaSpec(&q.Spec, field.NewPath("spec"))...)
	return append(errs, resourceQuotaStatus(&q.Status, field.NewPath("status"))...)
}

// ResourceQuotaUpdate validates an update of a ResourceQuota's spec: as on
// create, and the scopes are immutable.
func ResourceQuotaUpdate(newQ, oldQ *corev1.ResourceQuota) field.ErrorList {
	errs := ObjectMetaUpdate(&newQ.ObjectMeta, &oldQ.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, resourceQuotaSpec(&newQ.Spec, field.NewPath("spec"))...)
	if !apiequality.Semantic.DeepEqual(newQ.Spec.Scopes, oldQ.Spec.Scopes) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "scopes"), newQ.Spec.Scopes, "field is immutable"))
	}
	if !apiequality.Semantic.DeepEqual(newQ.Spec.ScopeSelector, oldQ.Spec.ScopeSelector) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "scopeSelector"), newQ.Spec.ScopeSelector, "field is immutable"))
	}
	return append(errs, resourceQuotaStatus(&newQ.Status, field.NewPath("status"))...)
}

// ResourceQuotaStatusUpdate validates an update through /status: the
// status's resource names and amounts.
func ResourceQuotaStatusUpdate(newQ, oldQ *corev1.ResourceQuota) field.ErrorList {
	errs := ObjectMetaUpdate(&newQ.ObjectMeta, &oldQ.ObjectMeta, field.NewPath("metadata"))
	return append(errs, resourceQuotaStatus(&newQ.Status, field.NewPath("status"))...)
}

func resourceQuotaSpec(spec *corev1.ResourceQuotaSpec, p *field.Path) field.ErrorList {
	errs := quotaResourceList(spec.Hard, p.Child("hard"))
	scopes := map[corev1.ResourceQuotaScope]bool{}
	for i, s := range spec.Scopes {
		sp := p.Child("scopes").Index(i)
		if !contains(SupportedQuotaScopes, s) {
			errs = append(errs, field.NotSupported(sp, s, SupportedQuotaScopes))
			continue
		}
		scopes[s] = true
	}
	if sel := spec.ScopeSelector; sel != nil {
		sp := p.Child("scopeSelector", "matchExpressions")
		for i, req := range sel.MatchExpressions {
			rp := sp.Index(i)
			if !contains(SupportedQuotaScopes, req.ScopeName) {
				errs = append(errs, field.NotSupported(rp.Child("scopeName"), req.ScopeName, SupportedQuotaScopes))
				continue
			}
			operators := []corev1.ScopeSelectorOperator{corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist}
			if req.ScopeName == corev1.ResourceQuotaScopePriorityClass {
				operators = append(operators, corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn)
			}
			switch {
			case !contains(operators, req.Operator):
				errs = append(errs, field.NotSupported(rp.Child("operator"), req.Operator, operators))
				continue
			case req.Operator == corev1.ScopeSelectorOpIn || req.Operator == corev1.ScopeSelectorOpNotIn:
				if len(req.Values) == 0 {
					errs = append(errs, field.Required(rp.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn'"))
				}
			case len(req.Values) > 0:
				errs = append(errs, field.Invalid(rp.Child("values"), req.Values, "must be no value when `operator` is 'Exists' or 'DoesNotExist'"))
			}
			switch req.Operator {
			case corev1.ScopeSelectorOpExists:
				scopes[req.ScopeName] = true
			case corev1.ScopeSelectorOpDoesNotExist:
				scopes[opposite(req.ScopeName)] = true
			default:
				scopes[req.ScopeName] = true
			}
		}
	}
	if scopes[corev1.ResourceQuotaScopeTerminating] && scopes[corev1.ResourceQuotaScopeNotTerminating] {
		errs = append(errs, field.Invalid(p.Child("scopes"), spec.Scopes, "conflicting scopes: Terminating and NotTerminating"))
	}
	if scopes[corev1.ResourceQuotaScopeBestEffort] && scopes[corev1.ResourceQuotaScopeNotBestEffort] {
		errs = append(errs, field.Invalid(p.Child("scopes"), spec.Scopes, "conflicting scopes: BestEffort and NotBestEffort"))
	}
	if len(scopes) > 0 {
		for _, name := range sortedKeys(spec.Hard) {
			ok := podComputeQuotaResources[name]
			if scopes[corev1.ResourceQuotaScopeBestEffort] {
				ok = name == corev1.ResourcePods || name == "count/pods"
			}
			if !ok {
				errs = append(errs, field.Invalid(p.Child("hard").Key(string(name)), name, "unsupported resource for the quota's scopes"))
			}
		}
	}
	return errs
}

// opposite is the scope that is the negation of s.
func opposite(s corev1.ResourceQuotaScope) corev1.ResourceQuotaScope {
	switch s {
	case corev1.ResourceQuotaScopeTerminating:
		return corev1.ResourceQuotaScopeNotTerminating
	case corev1.ResourceQuotaScopeNotTerminating:
		return corev1.ResourceQuotaScopeTerminating
	case corev1.ResourceQuotaScopeBestEffort:
		return corev1.ResourceQuotaScopeNotBestEffort
	case corev1.ResourceQuotaScopeNotBestEffort:
		return corev1.ResourceQuotaScopeBestEffort
	}
	return s
}

func resourceQuotaStatus(st *corev1.ResourceQuotaStatus, p *field.Path) field.ErrorList {
	errs := quotaResourceList(st.Hard, p.Child("hard"))
	return append(errs, quotaResourceList(st.Used, p.Child("used"))...)
}

func quotaResourceList(l corev1.ResourceList, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedKeys(l) {
		fp := p.Key(string(name))
		errs = append(errs, quotaResourceName(name, fp)...)
		q := l[name]
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(fp, q.String(), nonNegativeMsg))
		}
		if isQuotaCount(name) && q.MilliValue()%1000 != 0 {
			errs = append(errs, field.Invalid(fp, q.String(), "must be an integer"))
		}
	}
	return errs
}

func isQuotaCount(name corev1.ResourceName) bool {
	return quotaCountResources[name] || strings.HasPrefix(string(name), "count/")
}

// quotaResourceName accepts the standard quota resources, object counts
// (count/<resource>[.<group>]), huge pages (plain or requests.) and
// domain-qualified names (extended resources, requests.<extended>).
func quotaResourceName(name corev1.ResourceName, p *field.Path) field.ErrorList {
	s := string(name)
	if rest, ok := strings.CutPrefix(s, "count/"); ok {
		if msgs := validation.IsDNS1123Subdomain(rest); len(msgs) > 0 {
			return messages(p, s, msgs)
		}
		return nil
	}
	if msgs := validation.IsQualifiedName(s); len(msgs) > 0 {
		return messages(p, s, msgs)
	}
	switch {
	case standardQuotaResources[name], isHugePages(name),
		strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix+corev1.ResourceHugePagesPrefix),
		strings.Contains(s, "/") && !isNativeResource(name):
		return nil
	}
	return field.ErrorList{field.Invalid(p, s, "must be a standard resource type or fully qualified")}
}
