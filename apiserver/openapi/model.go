package openapi

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// model is what both document versions are rendered from.
type model struct {
	defs  map[string]*definition
	paths []*pathItem
	gvs   []schema.GroupVersion
}

type pathItem struct {
	path   string
	gv     schema.GroupVersion // the group-version whose v3 document holds it
	v2Only bool                // group and root discovery paths
	params []param
	ops    []*operation
}

type operation struct {
	method      string // get, put, post, delete, patch
	id          string
	description string
	action      string // x-kubernetes-action
	gvk         *schema.GroupVersionKind
	params      []param
	body        string // definition name of the request body
	patch       bool   // the body is a patch in one of the patch media types
	responses   []response
	produces    []string
	tag         string
}

type response struct {
	code int
	def  string // definition name; "" with text means a string body
	text bool
}

type param struct {
	name        string
	in          string // path or query
	typ         string
	description string
	required    bool
}

// Definitions of the meta types every API server serves.
var (
	metaStatus        = reflect.TypeFor[metav1.Status]()
	metaDeleteOptions = reflect.TypeFor[metav1.DeleteOptions]()
	metaWatchEvent    = reflect.TypeFor[metav1.WatchEvent]()
	metaPatch         = reflect.TypeFor[metav1.Patch]()
	metaResourceList  = reflect.TypeFor[metav1.APIResourceList]()
	metaGroupList     = reflect.TypeFor[metav1.APIGroupList]()
	metaGroup         = reflect.TypeFor[metav1.APIGroup]()
	metaVersions      = reflect.TypeFor[metav1.APIVersions]()
)

// model reflects over the configured types and lays out the paths.
func (b *builder) model(cfg Config) (*model, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &model{defs: b.defs}
	gvks := map[string][]schema.GroupVersionKind{}
	addGVK := func(name string, gvk schema.GroupVersionKind) {
		if !slices.Contains(gvks[name], gvk) {
			gvks[name] = append(gvks[name], gvk)
		}
	}
	define := func(t reflect.Type, gvk *schema.GroupVersionKind) (string, error) {
		name, err := b.define(t)
		if err == nil && gvk != nil {
			addGVK(name, *gvk)
		}
		return name, err
	}

	meta := map[reflect.Type]string{}
	for _, t := range []reflect.Type{metaStatus, metaDeleteOptions, metaWatchEvent, metaPatch, metaResourceList, metaGroupList, metaGroup, metaVersions} {
		name, err := define(t, nil)
		if err != nil {
			return nil, err
		}
		meta[t] = name
	}
	for _, t := range []reflect.Type{metaStatus, metaResourceList, metaGroupList, metaGroup, metaVersions} {
		addGVK(meta[t], schema.GroupVersionKind{Version: "v1", Kind: t.Name()})
	}

	groups := map[string][]string{} // group -> versions, in configuration order
	for _, r := range cfg.Resources {
		gvk := r.GroupVersionKind
		gv := gvk.GroupVersion()
		if !slices.Contains(m.gvs, gv) {
			m.gvs = append(m.gvs, gv)
			if gv.Group != "" {
				groups[gv.Group] = append(groups[gv.Group], gv.Version)
			}
		}
		obj, err := define(structType(r.Object), &gvk)
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", gvk, err)
		}
		list := ""
		if r.List != nil {
			listGVK := gvk.GroupVersion().WithKind(gvk.Kind + "List")
			if list, err = define(structType(r.List), &listGVK); err != nil {
				return nil, fmt.Errorf("resource %s: %w", gvk, err)
			}
		}
		rp := resourcePaths{r: r, obj: obj, list: list, meta: meta, cfg: cfg}
		rp.collection()
		rp.item()
		for _, sub := range r.Subresources {
			subGVK := sub.GroupVersionKind
			if sub.Object != nil && subGVK.Empty() {
				if subGVK, err = kindOf(sub.Object, r); err != nil {
					return nil, fmt.Errorf("resource %s: subresource %q: %w", gvk, sub.Name, err)
				}
			}
			subDef := ""
			if sub.Object != nil {
				if subDef, err = define(structType(sub.Object), &subGVK); err != nil {
					return nil, fmt.Errorf("resource %s: subresource %q: %w", gvk, sub.Name, err)
				}
			}
			rp.subresource(sub, subDef, subGVK)
		}
		m.paths = append(m.paths, rp.items...)
	}

	// DeleteOptions and WatchEvent belong to every served group-version.
	for _, gv := range append([]schema.GroupVersion{{Version: "v1"}}, m.gvs...) {
		addGVK(meta[metaDeleteOptions], gv.WithKind("DeleteOptions"))
		addGVK(meta[metaWatchEvent], gv.WithKind("WatchEvent"))
	}
	m.paths = append(m.paths, discoveryPaths(m.gvs, groups, meta)...)

	for name, list := range gvks {
		sort.Slice(list, func(i, j int) bool { return list[i].String() < list[j].String() })
		m.defs[name].gvks = list
	}
	sort.Slice(m.paths, func(i, j int) bool { return m.paths[i].path < m.paths[j].path })
	return m, nil
}

// kindOf finds the kind of a subresource body: the parent's kind for the
// parent's type, otherwise the kind client-go's scheme registers.
func kindOf(obj runtime.Object, parent Resource) (schema.GroupVersionKind, error) {
	if structType(obj) == structType(parent.Object) {
		return parent.GroupVersionKind, nil
	}
	kinds, _, err := scheme.Scheme.ObjectKinds(obj)
	if err != nil {
		return schema.GroupVersionKind{}, fmt.Errorf("set GroupVersionKind: %w", err)
	}
	if len(kinds) != 1 {
		return schema.GroupVersionKind{}, fmt.Errorf("%T has kinds %v: set GroupVersionKind", obj, kinds)
	}
	return kinds[0], nil
}

func (m *model) groupVersions() []schema.GroupVersion {
	gvs := slices.Clone(m.gvs)
	sort.Slice(gvs, func(i, j int) bool { return gvPath(gvs[i]) < gvPath(gvs[j]) })
	return gvs
}

// resourcePaths lays out the paths of one resource.
type resourcePaths struct {
	r     Resource
	obj   string // definition names
	list  string
	meta  map[reflect.Type]string
	cfg   Config
	items []*pathItem
}

func (rp *resourcePaths) has(verb string) bool { return slices.Contains(rp.r.Verbs, verb) }

// base returns the path prefix (/api/v1) and the group-version as written
// in operation ids (CoreV1).
func (rp *resourcePaths) base() (prefix string, gvName string) {
	gv := rp.r.GroupVersionKind.GroupVersion()
	return "/" + gvPath(gv), operationGroupVersion(gv)
}

// scope returns the collection path, the operation id infix for the scope
// and the scope's path parameters.
func (rp *resourcePaths) scope() (path, idScope string, params []param) {
	prefix, _ := rp.base()
	if rp.r.Namespaced {
		return prefix + "/namespaces/{namespace}/" + rp.r.Plural, "Namespaced", []param{namespaceParam}
	}
	return prefix + "/" + rp.r.Plural, "", nil
}

func (rp *resourcePaths) add(path string, params []param, ops []*operation) {
	if len(ops) == 0 {
		return
	}
	gvk := rp.r.GroupVersionKind
	rp.items = append(rp.items, &pathItem{
		path:   path,
		gv:     gvk.GroupVersion(),
		params: append(params, prettyParam),
		ops:    ops,
	})
}

func (rp *resourcePaths) op(method, verb, id, description, action string, gvk schema.GroupVersionKind) *operation {
	_, gvName := rp.base()
	return &operation{
		method:      method,
		id:          verb + gvName + id,
		description: description,
		action:      action,
		gvk:         &gvk,
		produces:    []string{"application/json", "application/yaml"},
		tag:         operationTag(rp.r.GroupVersionKind.GroupVersion()),
	}
}

func (rp *resourcePaths) writeParams() []param {
	ps := []param{dryRunParam, fieldManagerParam}
	if rp.cfg.FieldValidation {
		ps = append(ps, fieldValidationParam)
	}
	return ps
}

// collection adds /<plural> (list, create, deletecollection) and, for
// namespaced resources, the list across namespaces.
func (rp *resourcePaths) collection() {
	gvk := rp.r.GroupVersionKind
	kind := gvk.Kind
	path, scope, params := rp.scope()
	var ops []*operation
	if rp.has(VerbList) {
		op := rp.op("get", "list", scope+kind, "list or watch objects of kind "+kind, "list", gvk)
		op.params = listParams
		op.produces = append(op.produces, "application/json;stream=watch")
		op.responses = []response{{code: 200, def: rp.list}}
		ops = append(ops, op)
	}
	if rp.has(VerbCreate) {
		op := rp.op("post", "create", scope+kind, "create a "+kind, "post", gvk)
		op.params = rp.writeParams()
		op.body = rp.obj
		op.responses = []response{{code: 200, def: rp.obj}, {code: 201, def: rp.obj}, {code: 202, def: rp.obj}}
		ops = append(ops, op)
	}
	if rp.has(VerbDeleteCollection) {
		op := rp.op("delete", "delete", "Collection"+scope+kind, "delete collection of "+kind, "deletecollection", gvk)
		op.params = slices.Concat(deleteParams, listParams)
		op.body = rp.meta[metaDeleteOptions]
		op.responses = []response{{code: 200, def: rp.meta[metaStatus]}}
		ops = append(ops, op)
	}
	rp.add(path, params, ops)

	if rp.r.Namespaced && rp.has(VerbList) {
		prefix, _ := rp.base()
		op := rp.op("get", "list", kind+"ForAllNamespaces", "list or watch objects of kind "+kind, "list", gvk)
		op.params = listParams
		op.produces = append(op.produces, "application/json;stream=watch")
		op.responses = []response{{code: 200, def: rp.list}}
		rp.add(prefix+"/"+rp.r.Plural, nil, []*operation{op})
	}
}

// item adds /<plural>/{name} (read, replace, patch, delete).
func (rp *resourcePaths) item() {
	gvk := rp.r.GroupVersionKind
	kind := gvk.Kind
	path, scope, params := rp.scope()
	var ops []*operation
	if rp.has(VerbGet) {
		op := rp.op("get", "read", scope+kind, "read the specified "+kind, "get", gvk)
		op.responses = []response{{code: 200, def: rp.obj}}
		ops = append(ops, op)
	}
	if rp.has(VerbUpdate) {
		op := rp.op("put", "replace", scope+kind, "replace the specified "+kind, "put", gvk)
		op.params = rp.writeParams()
		op.body = rp.obj
		op.responses = []response{{code: 200, def: rp.obj}, {code: 201, def: rp.obj}}
		ops = append(ops, op)
	}
	if rp.has(VerbPatch) {
		op := rp.op("patch", "patch", scope+kind, "partially update the specified "+kind, "patch", gvk)
		op.params = append(rp.writeParams(), forceParam)
		op.body = rp.meta[metaPatch]
		op.patch = true
		op.responses = []response{{code: 200, def: rp.obj}, {code: 201, def: rp.obj}}
		ops = append(ops, op)
	}
	if rp.has(VerbDelete) {
		op := rp.op("delete", "delete", scope+kind, "delete a "+kind, "delete", gvk)
		op.params = deleteParams
		op.body = rp.meta[metaDeleteOptions]
		op.responses = []response{{code: 200, def: rp.obj}, {code: 202, def: rp.obj}}
		ops = append(ops, op)
	}
	rp.add(path+"/{name}", append([]param{nameParam(kind)}, params...), ops)
}

// subresource adds /<plural>/{name}/<subresource>.
func (rp *resourcePaths) subresource(sub Subresource, def string, gvk schema.GroupVersionKind) {
	kind := rp.r.GroupVersionKind.Kind
	if sub.Object == nil {
		gvk = rp.r.GroupVersionKind
	}
	path, scope, params := rp.scope()
	idName := scope + kind + strings.ToUpper(sub.Name[:1]) + sub.Name[1:]
	var ops []*operation
	for _, verb := range []string{VerbGet, VerbCreate, VerbUpdate, VerbPatch} {
		if !slices.Contains(sub.Verbs, verb) {
			continue
		}
		var op *operation
		switch verb {
		case VerbGet:
			op = rp.op("get", "read", idName, "read "+sub.Name+" of the specified "+kind, "get", gvk)
			op.params = extraParams(sub.Parameters)
			op.responses = []response{{code: 200, def: def, text: def == ""}}
			if def == "" {
				op.produces = []string{"text/plain", "application/json", "application/yaml"}
			}
		case VerbCreate:
			op = rp.op("post", "create", idName, "create "+sub.Name+" of a "+kind, "post", gvk)
			op.params = rp.writeParams()
			op.body = def
			op.responses = []response{{code: 200, def: def}, {code: 201, def: def}, {code: 202, def: def}}
		case VerbUpdate:
			op = rp.op("put", "replace", idName, "replace "+sub.Name+" of the specified "+kind, "put", gvk)
			op.params = rp.writeParams()
			op.body = def
			op.responses = []response{{code: 200, def: def}, {code: 201, def: def}}
		case VerbPatch:
			op = rp.op("patch", "patch", idName, "partially update "+sub.Name+" of the specified "+kind, "patch", gvk)
			op.params = append(rp.writeParams(), forceParam)
			op.body = rp.meta[metaPatch]
			op.patch = true
			op.responses = []response{{code: 200, def: def}, {code: 201, def: def}}
		}
		ops = append(ops, op)
	}
	rp.add(path+"/{name}/"+sub.Name, append([]param{nameParam(kind)}, params...), ops)
}

// discoveryPaths adds the discovery documents' operations: resources of
// every group-version (in v2 and v3), groups and versions (v2 only).
func discoveryPaths(gvs []schema.GroupVersion, groups map[string][]string, meta map[reflect.Type]string) []*pathItem {
	get := func(id, description, def, tag string) []*operation {
		return []*operation{{
			method: "get", id: id, description: description, tag: tag,
			produces:  []string{"application/json", "application/yaml"},
			responses: []response{{code: 200, def: def}},
		}}
	}
	var items []*pathItem
	for _, gv := range gvs {
		items = append(items, &pathItem{
			path: "/" + gvPath(gv) + "/",
			gv:   gv,
			ops: get("get"+operationGroupVersion(gv)+"APIResources", "get available resources",
				meta[metaResourceList], operationTag(gv)),
		})
	}
	items = append(items, &pathItem{
		path: "/api/", v2Only: true,
		ops: get("getCoreAPIVersions", "get available API versions", meta[metaVersions], "core"),
	})
	if len(groups) > 0 {
		items = append(items, &pathItem{
			path: "/apis/", v2Only: true,
			ops: get("getAPIVersions", "get available API versions", meta[metaGroupList], "apis"),
		})
	}
	for group := range groups {
		name := operationGroup(group)
		items = append(items, &pathItem{
			path: "/apis/" + group + "/", v2Only: true,
			ops: get("get"+name+"APIGroup", "get information of a group", meta[metaGroup], strings.ToLower(name[:1])+name[1:]),
		})
	}
	return items
}

// operationGroup is the group as Kubernetes writes it in operation ids:
// "" is Core, rbac.authorization.k8s.io is RbacAuthorization.
func operationGroup(group string) string {
	if group == "" {
		return "Core"
	}
	group = strings.TrimSuffix(group, ".k8s.io")
	var sb strings.Builder
	for part := range strings.FieldsFuncSeq(group, func(r rune) bool { return r == '.' || r == '-' }) {
		sb.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return sb.String()
}

// operationTag is the tag of a group-version's operations: core_v1,
// rbacAuthorization_v1.
func operationTag(gv schema.GroupVersion) string {
	g := operationGroup(gv.Group)
	return strings.ToLower(g[:1]) + g[1:] + "_" + gv.Version
}

// operationGroupVersion is e.g. CoreV1 or AppsV1.
func operationGroupVersion(gv schema.GroupVersion) string {
	return operationGroup(gv.Group) + strings.ToUpper(gv.Version[:1]) + gv.Version[1:]
}

func extraParams(ps []Parameter) []param {
	out := make([]param, 0, len(ps))
	for _, p := range ps {
		typ := p.Type
		if typ == "" {
			typ = "string"
		}
		out = append(out, param{name: p.Name, in: "query", typ: typ, description: p.Description})
	}
	return out
}

func nameParam(kind string) param {
	return param{name: "name", in: "path", typ: "string", required: true, description: "name of the " + kind}
}

// Parameters, with the descriptions of the Kubernetes API server shortened.
var (
	namespaceParam = param{name: "namespace", in: "path", typ: "string", required: true,
		description: "object name and auth scope, such as for teams and projects"}
	prettyParam = param{name: "pretty", in: "query", typ: "string",
		description: "If 'true', then the output is pretty printed."}
	dryRunParam = param{name: "dryRun", in: "query", typ: "string",
		description: "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"}
	fieldManagerParam = param{name: "fieldManager", in: "query", typ: "string",
		description: "fieldManager is a name associated with the actor or entity that is making these changes."}
	fieldValidationParam = param{name: "fieldValidation", in: "query", typ: "string",
		description: "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: - Ignore: silently drop them. - Warn: drop them and send a warning header. - Strict: fail the request with a BadRequest error."}
	forceParam = param{name: "force", in: "query", typ: "boolean",
		description: "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests."}
	listParams = []param{
		{name: "allowWatchBookmarks", in: "query", typ: "boolean", description: "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."},
		{name: "continue", in: "query", typ: "string", description: "The continue option should be set when retrieving more results from the server, with the value of the previous list's metadata.continue."},
		{name: "fieldSelector", in: "query", typ: "string", description: "A selector to restrict the list of returned objects by their fields. Defaults to everything."},
		{name: "labelSelector", in: "query", typ: "string", description: "A selector to restrict the list of returned objects by their labels. Defaults to everything."},
		{name: "limit", in: "query", typ: "integer", description: "limit is a maximum number of responses to return for a list call."},
		{name: "resourceVersion", in: "query", typ: "string", description: "resourceVersion sets a constraint on what resource versions a request may be served from."},
		{name: "resourceVersionMatch", in: "query", typ: "string", description: "resourceVersionMatch determines how resourceVersion is applied to list calls."},
		{name: "sendInitialEvents", in: "query", typ: "boolean", description: "sendInitialEvents=true may be set together with watch=true to start the watch stream with synthetic events of the current state."},
		{name: "timeoutSeconds", in: "query", typ: "integer", description: "Timeout for the list/watch call."},
		{name: "watch", in: "query", typ: "boolean", description: "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."},
	}
	deleteParams = []param{
		dryRunParam,
		{name: "gracePeriodSeconds", in: "query", typ: "integer", description: "The duration in seconds before the object should be deleted."},
		{name: "orphanDependents", in: "query", typ: "boolean", description: "Deprecated: please use the PropagationPolicy."},
		{name: "propagationPolicy", in: "query", typ: "string", description: "Whether and how garbage collection will be performed: Orphan, Background or Foreground."},
	}
)
