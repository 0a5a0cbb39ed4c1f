package config

import (
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// WriteReference writes the configuration reference (docs/configuration.md)
// in Markdown. The rows come from the code: every scalar key from its flag
// binding (name, flag, variable, default from Default(), usage), every
// YAML-only key from the Config and App types by reflection with its text
// from yamlDocs. TestReferenceIsCurrent fails when the checked-in file
// differs, and TestReferenceCoversEveryKey when a key has no text.
func WriteReference(w io.Writer) error {
	def := Default()
	var b strings.Builder
	b.WriteString(referenceIntro)
	scalarSection(&b, "Listeners and server limits (top level only)", listenerNote, listenerBindings(&def))
	scalarSection(&b, "Service (top level only)", "", serviceBindings(&def))
	scalarSection(&b, "App settings (top level: the default app; `apps.<name>.<key>` overrides per app)", settingsNote, settingsBindings(&def.Defaults))
	yamlSection(&b)
	b.WriteString(referenceJWT)
	b.WriteString(referenceTracing)
	b.WriteString(referenceRules)
	_, err := io.WriteString(w, b.String())
	return err
}

const referenceIntro = `# Configuration reference

<!-- Generated from pkg/config by ` + "`make docs`" + `; do not edit by hand. -->

extauthz reads one configuration in four layers, each overriding the one
before: the defaults below; the YAML file named by ` + "`--config FILE`" + `
(or ` + "`$EXTAUTHZ_CONFIG`" + `); environment variables ` + "`EXTAUTHZ_<KEY>`" + `
(upper snake case of the dotted key; an empty variable counts as unset); and
command-line flags ` + "`--<key>`" + ` in kebab case, only those actually given.
` + "`extauthz serve --check-config`" + ` validates and exits, reporting every
problem at once with its file and line.

The YAML is strict: unknown keys, keys given twice and values of the wrong
type are errors. Durations use Go syntax plus a leading day count (` + "`150ms`, `15s`, `6h`, `7d`, `1d12h`" + `).
Booleans from the environment and flags take ` + "`1, t, true, 0, f, false`" + `;
lists are comma-separated there. Secrets (database URLs, ` + "`admin_token`" + `,
` + "`log.email_hash_key`" + `) are never echoed in errors or logs; prefer the
environment (or a mounted file referenced by ` + "`EXTAUTHZ_CONFIG`" + `) to flags for them.

`

const listenerNote = `The HTTP check origin headers name where each endpoint reads the original
request line from. Each must be set by that endpoint's proxy, replacing the
client's copy; headers of the other family are ignored. ` + "`http_server`" + `
limits apply to ` + "`check_addr`" + ` and ` + "`http_addr`" + `, each on its own.
`

const settingsNote = `Every app under ` + "`apps.<name>`" + ` inherits these unless it sets its own; an
app's explicit ` + "`false`, `0` or `\"\"`" + ` wins. The app ` + "`default`" + ` always exists and
is the one used when a request names no app. Per-app overrides are YAML only.
`

// scalarSection writes one table of flag-bound keys.
func scalarSection(b *strings.Builder, title, note string, bs []binding) {
	fmt.Fprintf(b, "## %s\n\n", title)
	if note != "" {
		b.WriteString(note + "\n")
	}
	b.WriteString("| key | flag | environment | default | meaning |\n|---|---|---|---|---|\n")
	for _, x := range bs {
		d := x.value.String()
		if x.secret || d == "" {
			d = `""`
		}
		fmt.Fprintf(b, "| `%s` | `--%s` | `%s` | `%s` | %s |\n", x.key, x.flag(), x.env(), d, cell(x.usage))
	}
	b.WriteString("\n")
}

// yamlSection writes the keys that only YAML can set.
func yamlSection(b *strings.Builder) {
	b.WriteString("## YAML only\n\n")
	b.WriteString("These keys have no flag or variable. `apps.<name>.` keys belong to one app.\n\n")
	b.WriteString("| key | type | meaning |\n|---|---|---|\n")
	for _, k := range yamlOnlyKeys() {
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", k.path, k.kind, cell(yamlDocs[k.path]))
	}
	b.WriteString("\nFlags only: `--config FILE` (or `$EXTAUTHZ_CONFIG`) and `--check-config`.\n\n")
}

// cell makes s safe inside a Markdown table cell: usage strings mark
// placeholders with backquotes for package flag, which mean nothing here.
func cell(s string) string {
	s = strings.ReplaceAll(s, "`", "")
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// refKey is one YAML-only key: its dotted path and the kind of its value.
type refKey struct{ path, kind string }

// yamlOnlyKeys lists, in a stable order, every YAML key of Config and of
// one app that no flag binds and that is not an app's override of a
// top-level setting.
func yamlOnlyKeys() []refKey {
	def := Default()
	bound := map[string]bool{}
	for _, x := range bindings(&def) {
		bound[x.key] = true
	}
	var out []refKey
	walkYAML(reflect.TypeOf(Config{}), "", &out)
	walkYAML(reflect.TypeOf(App{}), "apps.<name>.", &out)
	out = slices.DeleteFunc(out, func(k refKey) bool {
		return bound[k.path] || isOverride(k.path)
	})
	// A map whose keys all have flags (log, cookie…) is no key of its own;
	// deepest first, so that http_check goes after http_check.nginx.
	for i := len(out) - 1; i >= 0; i-- {
		k := out[i]
		if k.kind == "map" && !slices.ContainsFunc(out, func(c refKey) bool {
			return strings.HasPrefix(c.path, k.path+".")
		}) {
			out = slices.Delete(out, i, i+1)
		}
	}
	return out
}

// isOverride reports whether path is an app's copy of a top-level setting
// (AppOverrides), documented with the setting itself.
func isOverride(path string) bool {
	rest, ok := strings.CutPrefix(path, "apps.<name>.")
	if !ok {
		return false
	}
	var keys []refKey
	walkYAML(reflect.TypeOf(AppOverrides{}), "", &keys)
	return slices.ContainsFunc(keys, func(k refKey) bool { return k.path == rest })
}

// walkYAML appends the keys of struct type t under prefix: a struct field
// is both a key and the parent of its own, a slice of structs adds "[]",
// an inline field adds its keys at the same level. The app map is walked
// separately.
func walkYAML(t reflect.Type, prefix string, out *[]refKey) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if strings.Contains(opts, "inline") {
			walkYAML(ft, prefix, out)
			continue
		}
		path := prefix + name
		switch {
		case ft.Kind() == reflect.Map:
			*out = append(*out, refKey{path, "map"})
		case ft.Kind() == reflect.Struct && ft != durationType:
			*out = append(*out, refKey{path, "map"})
			walkYAML(ft, path+".", out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			*out = append(*out, refKey{path + "[]", "list of maps"})
			walkYAML(ft.Elem(), path+"[].", out)
		default:
			*out = append(*out, refKey{path, refKind(ft)})
		}
	}
}

func refKind(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.Slice:
		return "list of " + refKind(t.Elem()) + "s"
	case t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Int:
		return "integer"
	}
	return t.Kind().String()
}
