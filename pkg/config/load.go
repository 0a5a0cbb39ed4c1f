package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/extauthz/extauthz/pkg/authz"
)

// EnvPrefix starts every environment variable Parse reads.
const EnvPrefix = "EXTAUTHZ_"

// EnvConfig names the YAML file when --config is not given.
const EnvConfig = EnvPrefix + "CONFIG"

// FlagError is a command line package flag could not parse: an unknown
// flag, a flag without its value, a value the flag refuses. Parse returns
// it among the other problems; a command reports it as a usage error.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// Parse builds the configuration: Default(), then the YAML file (--config,
// else $EXTAUTHZ_CONFIG), then EXTAUTHZ_* environment variables, then the
// flags actually present in args; then it validates the result. It registers
// every flag on fs (plus --config and --check-config) and leaves flags the
// caller registered alone. A nil getenv reads no environment.
//
// The error joins every problem found: file, environment, flags (a
// *FlagError) and Validate. With -h/--help it is flag.ErrHelp alone. The Config is returned
// even with an error, for --check-config reports; do not serve with it.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	cfg := Default()
	bs := bindings(&cfg)
	flagFile, errs := registerFlags(fs, &cfg, bs)

	path, ok := scanConfigFlag(fs, args)
	if !ok {
		path = getenv(EnvConfig)
	}
	pos := positions{}
	if path != "" {
		errs = append(errs, cfg.loadFile(path, pos)...)
	}
	errs = append(errs, applyEnv(bs, getenv)...)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		errs = append(errs, &FlagError{Err: err})
	}
	cfg.ConfigFile = path
	if *flagFile != "" {
		cfg.ConfigFile = *flagFile
	}
	normalizeSeedEmails(&cfg)
	if err := cfg.validate(pos); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// registerFlags registers every binding on fs, plus --config (whose value
// it returns) and --check-config, and reports each flag the caller already
// defined.
func registerFlags(fs *flag.FlagSet, cfg *Config, bs []binding) (*string, []error) {
	var errs []error
	for _, b := range bs {
		if fs.Lookup(b.flag()) != nil {
			errs = append(errs, fmt.Errorf("%s: flag -%s is already defined by the caller", b.key, b.flag()))
			continue
		}
		fs.Var(b.value, b.flag(), b.usage+" (env "+b.env()+")")
	}
	var flagFile string
	for _, name := range []string{"config", "check-config"} {
		if fs.Lookup(name) != nil {
			errs = append(errs, fmt.Errorf("flag -%s is already defined by the caller", name))
		}
	}
	if fs.Lookup("config") == nil {
		fs.StringVar(&flagFile, "config", "", "YAML configuration `file` (env "+EnvConfig+")")
	}
	if fs.Lookup("check-config") == nil {
		fs.BoolVar(&cfg.CheckConfig, "check-config", false, "validate the configuration, report every problem and exit")
	}
	return &flagFile, errs
}

// applyEnv sets every binding whose EXTAUTHZ_* variable is not empty.
func applyEnv(bs []binding, getenv func(string) string) []error {
	var errs []error
	for _, b := range bs {
		v := getenv(b.env())
		if v == "" {
			continue
		}
		if err := b.value.Set(v); err != nil {
			shown := strconv.Quote(v)
			if b.secret {
				shown = "(redacted)"
			}
			errs = append(errs, fmt.Errorf("%s: %s=%s: %v", b.key, b.env(), shown, err))
		}
	}
	return errs
}

// normalizeSeedEmails writes each seed profile's email in the form the
// profile store keys it by; an email that does not normalize is left for
// Validate to report.
func normalizeSeedEmails(cfg *Config) {
	for i, s := range cfg.SeedProfiles {
		if e, err := authz.NormalizeEmail(s.Email); err == nil && e != "" {
			cfg.SeedProfiles[i].Email = e
		}
	}
}

// scanConfigFlag finds --config in args before the flags are parsed, the way
// package flag will read them: it stops at "--" or the first non-flag
// argument and knows from fs which flags take a value.
func scanConfigFlag(fs *flag.FlagSet, args []string) (string, bool) {
	path, found := "", false
	for i := 0; i < len(args); i++ {
		name, ok := flagName(args[i])
		if !ok {
			break
		}
		name, val, hasVal := strings.Cut(name, "=")
		if name == "config" {
			found = true
			if hasVal {
				path = val
			} else if i+1 < len(args) {
				i++
				path = args[i]
			}
			continue
		}
		if !hasVal && takesValue(fs, name) {
			i++ // the flag's value
		}
	}
	return path, found
}

// flagName returns a flag argument without its leading dashes, the way
// package flag reads it; false for "--" and for anything that ends the
// flags.
func flagName(a string) (string, bool) {
	if a == "--" || len(a) < 2 || a[0] != '-' {
		return "", false
	}
	name := a[1:]
	if name[0] == '-' {
		name = name[1:]
	}
	if name == "" || name[0] == '-' || name[0] == '=' {
		return "", false
	}
	return name, true
}

// takesValue reports whether the flag name, given without "=value", reads
// the next argument as its value: a flag fs knows that is not boolean.
func takesValue(fs *flag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
		return false
	}
	return true
}

// positions are where in the config file each dotted key was set
// ("apps.plane.hosts[1]" → "extauthz.yaml:12"), so that a validation
// problem can say where to look.
type positions map[string]string

// loadFile reads path and applies it onto c, recording into pos (if not
// nil) where each key was set.
func (c *Config) loadFile(path string, pos positions) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("config file: %w", err)}
	}
	return c.loadYAML(data, path, pos)
}

// loadYAML applies a YAML document onto c, so that keys it leaves out keep
// their current values. Unknown keys, wrong types and bad durations are
// reported with their dotted key and line; all of them, not just the first.
// Where each key was set is recorded into pos, if not nil.
func (c *Config) loadYAML(data []byte, name string, pos positions) []error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []error{fmt.Errorf("%s: %w", name, err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty file
	}
	root := doc.Content[0]
	w := walker{file: name, pos: pos}
	w.walk(root, reflect.TypeFor[Config](), "")
	// The walker rewrote extended durations ("7d") into Go syntax; decode
	// that with yaml.v3's own strict decoder as the last word.
	canon, err := yaml.Marshal(&doc)
	if err != nil {
		return append(w.errs, fmt.Errorf("%s: %w", name, err))
	}
	dec := yaml.NewDecoder(bytes.NewReader(canon))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		var te *yaml.TypeError
		if len(w.errs) == 0 || !errors.As(err, &te) {
			w.errs = append(w.errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	seedActiveDefault(c, root)
	return w.errs
}

// seedActiveDefault makes "active" default to true for seed profiles that
// leave it out: a seeded user is meant to be able to sign in.
func seedActiveDefault(c *Config, root *yaml.Node) {
	seq := mapValue(root, "seed_profiles")
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return
	}
	for i, item := range seq.Content {
		if i >= len(c.SeedProfiles) {
			return
		}
		if item.Kind == yaml.AliasNode {
			item = item.Alias
		}
		if item.Kind == yaml.MappingNode && mapValue(item, "active") == nil {
			c.SeedProfiles[i].Active = true
		}
	}
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// walker checks a YAML tree against the Go type it will be decoded into.
type walker struct {
	file string
	errs []error
	pos  positions // where each key was set; nil records nothing
}

var durationType = reflect.TypeFor[time.Duration]()

func (w *walker) fail(n *yaml.Node, path, format string, args ...any) {
	if path == "" {
		path = "(top level)"
	}
	w.errs = append(w.errs, fmt.Errorf("%s: %s (%s:%d)", path, fmt.Sprintf(format, args...), w.file, n.Line))
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // leaves the value as it is
	}
	w.record(n, path)
	switch {
	case t == durationType:
		w.walkDuration(n, path)
	case t == byteSizeType:
		w.walkByteSize(n, path)
	case t.Kind() == reflect.Struct:
		w.walkStruct(n, t, path)
	case t.Kind() == reflect.Map:
		w.walkMap(n, t, path)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.fail(n, path, "must be a list")
			return
		}
		for i, item := range n.Content {
			w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.fail(n, path, "must be a single %s", kindName(t))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.fail(n, path, "must be a %s, got %q", kindName(t), n.Value)
		}
	}
}

// record notes where path was set, when positions are recorded.
func (w *walker) record(n *yaml.Node, path string) {
	if w.pos != nil && path != "" {
		w.pos[path] = fmt.Sprintf("%s:%d", w.file, n.Line)
	}
}

// walkDuration checks a duration and rewrites an extended one ("7d") into
// Go syntax for the decoder.
func (w *walker) walkDuration(n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode {
		w.fail(n, path, "must be a duration such as 150ms, 6h or 7d")
		return
	}
	d, err := ParseDuration(n.Value)
	if err != nil {
		w.fail(n, path, "%v", err)
		return
	}
	n.Value, n.Tag, n.Style = d.String(), "!!str", 0
}

var byteSizeType = reflect.TypeFor[ByteSize]()

// walkByteSize checks a size and rewrites it as a number of bytes for
// the decoder.
func (w *walker) walkByteSize(n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode {
		w.fail(n, path, "must be a size such as 256MiB, 1GiB or a number of bytes")
		return
	}
	b, err := ParseByteSize(n.Value)
	if err != nil {
		w.fail(n, path, "%v", err)
		return
	}
	n.Value, n.Tag, n.Style = strconv.FormatInt(int64(b), 10), "!!int", 0
}

// walkStruct checks a mapping against the YAML keys of struct type t.
func (w *walker) walkStruct(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "must be a mapping")
		return
	}
	fields := map[string]reflect.Type{}
	yamlFields(t, fields)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			w.walkMerge(v, t, path)
			continue
		}
		kp := joinKey(path, k.Value)
		ft, ok := fields[k.Value]
		if !ok {
			if s := suggest(k.Value, fields); s != "" {
				w.fail(k, kp, "unknown key (did you mean %s?)", s)
			} else {
				w.fail(k, kp, "unknown key")
			}
			continue
		}
		if seen[k.Value] {
			w.fail(k, kp, "key given twice")
		}
		seen[k.Value] = true
		w.walk(v, ft, kp)
	}
}

// walkMap checks a mapping whose keys are names and whose values are of
// t's element type.
func (w *walker) walkMap(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "must be a mapping")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := joinKey(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			w.fail(k, path, "keys must be plain names")
			continue
		}
		if seen[k.Value] {
			w.fail(k, kp, "key given twice")
		}
		seen[k.Value] = true
		w.walk(v, t.Elem(), kp)
	}
}

// walkMerge follows a YAML merge key ("<<: *base").
func (w *walker) walkMerge(v *yaml.Node, t reflect.Type, path string) {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, item := range v.Content {
			w.walkMerge(item, t, path)
		}
		return
	}
	w.walk(v, t, path)
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "whole number"
	case reflect.Float64, reflect.Float32:
		return "number"
	default:
		return "string"
	}
}

// yamlFields lists the YAML keys of struct type t, following ",inline".
func yamlFields(t reflect.Type, into map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			yamlFields(f.Type, into)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		into[name] = f.Type
	}
}

// suggest returns the known key closest to an unknown one, if it is close.
func suggest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for k := range fields {
		if d := EditDistance(key, k); d < bestD || (d == bestD && best != "" && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance of a and b in bytes, what "did
// you mean" suggestions rank candidates by (keys here, flags in the CLI).
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
