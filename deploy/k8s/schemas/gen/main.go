// Command gen writes the strict, standalone JSON schemas that
// `make deploy-check` gives kubeconform, one file per kind, named the way
// kubeconform's schema-location template expects
// ({kind}-{group}-{version}.json, lower case). kubeconform's default
// schemas are downloaded at run time, and the build machines have no
// network beyond the package registries, so the schemas are generated here
// and checked in.
//
// Sources, all fetched through the Go module proxy by
// scripts/k8s-schemas.sh:
//   - the Kubernetes OpenAPI v2 document that k8s.io/kube-openapi ships as
//     test data (pkg/schemaconv/testdata/swagger.json, Kubernetes 1.27);
//   - an OpenAPI v3 document of one API group (-openapi3, -kinds3): the
//     apps/v1 document k8s.io/kubectl ships as test data, for a Deployment
//     newer than 1.27 (the preStop sleep action);
//   - CRDs (prometheus-operator's, Istio's, Envoy Gateway's, Gateway API's,
//     Traefik's), from their openAPIV3Schema; a file may hold several CRDs.
//
// Strict means: every object with declared properties rejects unknown ones
// (additionalProperties: false), as kubeconform's -strict schemas do.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

func main() {
	swagger := flag.String("swagger", "", "Kubernetes OpenAPI v2 document (swagger.json)")
	out := flag.String("out", ".", "output directory")
	kinds := flag.String("kinds", "", "comma-separated definitions, e.g. io.k8s.api.apps.v1.Deployment")
	openapi3 := flag.String("openapi3", "", "Kubernetes OpenAPI v3 document of one API group")
	kinds3 := flag.String("kinds3", "", "comma-separated definitions taken from -openapi3")
	var crds multi
	flag.Var(&crds, "crd", "CRD YAML file, one or more documents (repeatable)")
	crdKinds := flag.String("crd-kinds", "", "comma-separated kinds: only these of the CRDs (empty: all)")
	flag.Parse()
	err := run(*swagger, *out, strings.Split(*kinds, ","), crds, strings.Split(*crdKinds, ","))
	if err == nil && *openapi3 != "" {
		err = runOpenAPI3(*openapi3, *out, strings.Split(*kinds3, ","))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

type object = map[string]any

func run(swaggerPath, out string, kinds, crds, crdKinds []string) error {
	if swaggerPath != "" {
		b, err := os.ReadFile(swaggerPath)
		if err != nil {
			return err
		}
		var doc struct {
			Definitions map[string]object `json:"definitions"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return err
		}
		if err := fromDefinitions(doc.Definitions, out, kinds); err != nil {
			return err
		}
	}
	for _, path := range crds {
		if err := fromCRDs(path, out, crdKinds); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

// crdDoc is the part of a CustomResourceDefinition the generator reads.
type crdDoc struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Group string `yaml:"group"`
		Names struct {
			Kind string `yaml:"kind"`
		} `yaml:"names"`
		Versions []struct {
			Name   string `yaml:"name"`
			Served bool   `yaml:"served"`
			Schema struct {
				OpenAPIV3Schema object `yaml:"openAPIV3Schema"`
			} `yaml:"schema"`
		} `yaml:"versions"`
	} `yaml:"spec"`
}

// fromCRDs writes a schema for every version of every CRD in path whose
// kind is in only (all when only is empty). Documents that are not CRDs
// are skipped.
func fromCRDs(path, out string, only []string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	want := map[string]bool{}
	for _, k := range only {
		if k != "" {
			want[k] = true
		}
	}
	dec := yaml.NewDecoder(f)
	for {
		var crd crdDoc
		err := dec.Decode(&crd)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if crd.Kind != "CustomResourceDefinition" || (len(want) > 0 && !want[crd.Spec.Names.Kind]) {
			continue
		}
		if err := writeCRD(out, crd); err != nil {
			return err
		}
	}
}

// writeCRD writes the schema of each served version of crd.
func writeCRD(out string, crd crdDoc) error {
	for _, v := range crd.Spec.Versions {
		if !v.Served || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		schema := strict(fix(jsonify(v.Schema.OpenAPIV3Schema))).(object)
		// The API server always accepts metadata; some CRDs (Istio's)
		// leave it out of their schema.
		if props, ok := schema["properties"].(object); ok && props["metadata"] == nil {
			props["metadata"] = object{"type": "object"}
		}
		pinKind(schema, crd.Spec.Group, v.Name, crd.Spec.Names.Kind)
		schema["$schema"] = "http://json-schema.org/draft-07/schema#"
		if err := write(out, crd.Spec.Names.Kind, crd.Spec.Group, v.Name, schema); err != nil {
			return err
		}
	}
	return nil
}

// runOpenAPI3 writes the schemas of kinds from an OpenAPI v3 document: its
// components.schemas are the v2 document's definitions under another path.
func runOpenAPI3(path, out string, kinds []string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b = []byte(strings.ReplaceAll(string(b), `"#/components/schemas/`, `"#/definitions/`))
	var doc struct {
		Components struct {
			Schemas map[string]object `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	return fromDefinitions(doc.Components.Schemas, out, kinds)
}

// fromDefinitions writes one standalone schema per kind, with every
// definition it refers to.
func fromDefinitions(all map[string]object, out string, kinds []string) error {
	for _, k := range kinds {
		if k == "" {
			continue
		}
		def, ok := all[k]
		if !ok {
			return fmt.Errorf("no definition %s", k)
		}
		gvk := def["x-kubernetes-group-version-kind"].([]any)[0].(object)
		group, version, kind := gvk["group"].(string), gvk["version"].(string), gvk["kind"].(string)
		defs := map[string]any{}
		collect(all, def, defs)
		schema := strict(fix(clone(def))).(object)
		pinKind(schema, group, version, kind)
		fixed := object{}
		for name, d := range defs {
			fixed[name] = strict(fix(clone(d)))
		}
		schema["definitions"] = fixed
		schema["$schema"] = "http://json-schema.org/draft-07/schema#"
		if err := write(out, kind, group, version, schema); err != nil {
			return err
		}
	}
	return nil
}

// write stores schema under kubeconform's name for the kind.
func write(dir, kind, group, version string, schema object) error {
	name := strings.ToLower(kind)
	if group != "" {
		name += "-" + strings.ToLower(strings.Split(group, ".")[0])
	}
	name += "-" + strings.ToLower(version) + ".json"
	b, err := json.MarshalIndent(schema, "", " ")
	if err != nil {
		return err
	}
	fmt.Println(name)
	return os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644)
}

// pinKind makes apiVersion and kind required constants.
func pinKind(schema object, group, version, kind string) {
	props, _ := schema["properties"].(object)
	if props == nil {
		return
	}
	apiVersion := version
	if group != "" {
		apiVersion = group + "/" + version
	}
	props["apiVersion"] = object{"type": "string", "enum": []any{apiVersion}}
	props["kind"] = object{"type": "string", "enum": []any{kind}}
	req, _ := schema["required"].([]any)
	have := map[string]bool{}
	for _, r := range req {
		have[r.(string)] = true
	}
	for _, r := range []string{"apiVersion", "kind"} {
		if !have[r] {
			req = append(req, r)
		}
	}
	schema["required"] = req
}

// collect adds every definition reachable from v to into.
func collect(all map[string]object, v any, into map[string]any) {
	switch t := v.(type) {
	case object:
		if ref, ok := t["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/definitions/")
			if _, seen := into[name]; !seen {
				into[name] = all[name]
				collect(all, all[name], into)
			}
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			collect(all, t[k], into)
		}
	case []any:
		for _, e := range t {
			collect(all, e, into)
		}
	}
}

// fix rewrites OpenAPI idioms JSON Schema does not know: int-or-string and
// quantities accept numbers as well as strings.
func fix(v any) any {
	switch t := v.(type) {
	case object:
		if t["format"] == "int-or-string" || t["x-kubernetes-int-or-string"] == true {
			return object{"oneOf": []any{object{"type": "string"}, object{"type": "integer"}}}
		}
		if d, _ := t["description"].(string); t["type"] == "string" && strings.HasPrefix(d, "Quantity is a fixed-point representation") {
			return object{"oneOf": []any{object{"type": "string"}, object{"type": "number"}}}
		}
		for k, e := range t {
			t[k] = fix(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = fix(e)
		}
	}
	return v
}

// strict forbids unknown properties on every object that declares some,
// unless it preserves unknown fields on purpose.
func strict(v any) any {
	switch t := v.(type) {
	case object:
		_, hasProps := t["properties"]
		_, hasAdditional := t["additionalProperties"]
		if hasProps && !hasAdditional && t["x-kubernetes-preserve-unknown-fields"] != true {
			t["additionalProperties"] = false
		}
		for k, e := range t {
			if k == "enum" || k == "required" {
				continue
			}
			t[k] = strict(e)
		}
	case []any:
		for i, e := range t {
			t[i] = strict(e)
		}
	}
	return v
}

func clone(v any) any {
	b, _ := json.Marshal(v)
	var c any
	_ = json.Unmarshal(b, &c)
	return c
}

// jsonify turns YAML-decoded values into their JSON shapes.
func jsonify(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var c any
	_ = json.Unmarshal(b, &c)
	return c
}
