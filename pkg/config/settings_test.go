package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// An app setting is declared in AppSettings (the default), AppOverrides
// (what an app may set for itself) and authz.Policy (what the engine reads).
// These tests fail when a setting is added to one and not the others, so
// that adding one means one field in each and nothing forgotten.

// yamlKey is the key of a field's yaml tag ("" for inline fields).
func yamlKey(f reflect.StructField) string {
	k, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return k
}

// mirrors reports how override (a struct of pointers) differs from
// settings: every field of one must be in the other, under the same name
// and yaml key, as a pointer to the same type or to its override struct.
func mirrors(t *testing.T, settings, override reflect.Type, twins map[reflect.Type]reflect.Type) {
	t.Helper()
	if settings.NumField() != override.NumField() {
		t.Errorf("%s has %d fields, %s %d", settings, settings.NumField(), override, override.NumField())
	}
	for i := range settings.NumField() {
		sf := settings.Field(i)
		of, ok := override.FieldByName(sf.Name)
		if !ok {
			t.Errorf("%s.%s has no twin in %s", settings.Name(), sf.Name, override.Name())
			continue
		}
		if yamlKey(sf) != yamlKey(of) {
			t.Errorf("%s.%s: yaml key %q, its twin's %q", settings.Name(), sf.Name, yamlKey(sf), yamlKey(of))
		}
		if !strings.Contains(of.Tag.Get("yaml"), ",omitempty") {
			t.Errorf("%s.%s: the override's yaml tag lacks omitempty", override.Name(), of.Name)
		}
		want := sf.Type
		if twin, ok := twins[want]; ok {
			mirrors(t, want, twin, twins)
			want = twin
		}
		if of.Type != reflect.PointerTo(want) {
			t.Errorf("%s.%s is %s, want *%s", override.Name(), of.Name, of.Type, want)
		}
	}
}

func TestAppOverridesMirrorAppSettings(t *testing.T) {
	mirrors(t, reflect.TypeFor[AppSettings](), reflect.TypeFor[AppOverrides](),
		map[reflect.Type]reflect.Type{
			reflect.TypeFor[Cookie]():      reflect.TypeFor[CookieOverride](),
			reflect.TypeFor[IdentityJWT](): reflect.TypeFor[IdentityJWTOverride](),
		})
}

// changed returns a value of v's type that differs from v and survives
// the policy's canonicalisation (lower-casing, trimming "@").
func changed(t *testing.T, v reflect.Value) reflect.Value {
	t.Helper()
	out := reflect.New(v.Type()).Elem()
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]():
		out.SetInt(v.Int() + int64(time.Second))
	case v.Kind() == reflect.String:
		out.SetString(v.String() + "-changed")
	case v.Kind() == reflect.Bool:
		out.SetBool(!v.Bool())
	case v.Kind() == reflect.Int:
		out.SetInt(v.Int() + 1)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		out = reflect.Append(reflect.AppendSlice(out, v), reflect.ValueOf("x-changed").Convert(v.Type().Elem()))
	default:
		t.Fatalf("no changed value for %s: teach this test", v.Type())
	}
	return out
}

// leaves calls fn with the dotted yaml key and value of every scalar or
// list field under v (a struct), walking nested structs.
func leaves(v reflect.Value, prefix string, fn func(key string, field reflect.Value)) {
	for i := range v.NumField() {
		f, key := v.Field(i), prefix+yamlKey(v.Type().Field(i))
		if f.Kind() == reflect.Struct && f.Type() != reflect.TypeFor[time.Duration]() {
			leaves(f, key+".", fn)
			continue
		}
		fn(key, f)
	}
}

// Every default reaches the engine's policy, and every override reaches it
// too, applied over the default and reported as set by the app.
func TestEverySettingReachesThePolicy(t *testing.T) {
	base := Default()
	base.Apps["a"] = App{}
	before := base.Policies()

	var keys []string
	leaves(reflect.ValueOf(&base.Defaults).Elem(), "", func(key string, _ reflect.Value) { keys = append(keys, key) })
	for _, key := range keys {
		c := Default()
		leaves(reflect.ValueOf(&c.Defaults).Elem(), "", func(k string, f reflect.Value) {
			if k == key {
				f.Set(changed(t, f))
			}
		})
		c.Apps["a"] = App{}
		if after := c.Policies(); reflect.DeepEqual(before[1], after[1]) {
			t.Errorf("defaults: %s changed, the policy did not", key)
		}
	}

	// Every override, set at once, is applied and reported.
	var o AppOverrides
	ov := reflect.ValueOf(&o).Elem()
	want := Default().Defaults
	wv := reflect.ValueOf(&want).Elem()
	for i := range ov.NumField() {
		name := ov.Type().Field(i).Name
		if name == "Cookie" || name == "IdentityJWT" {
			continue
		}
		nv := changed(t, wv.FieldByName(name))
		p := reflect.New(nv.Type())
		p.Elem().Set(nv)
		ov.Field(i).Set(p)
		wv.FieldByName(name).Set(nv)
	}
	cv := reflect.ValueOf(&want.Cookie).Elem()
	ck := &CookieOverride{}
	ckv := reflect.ValueOf(ck).Elem()
	for i := range ckv.NumField() {
		nv := changed(t, cv.Field(i))
		p := reflect.New(nv.Type())
		p.Elem().Set(nv)
		ckv.Field(i).Set(p)
		cv.Field(i).Set(nv)
	}
	o.Cookie = ck
	o.IdentityJWT = &IdentityJWTOverride{}
	overrideAll(t, reflect.ValueOf(o.IdentityJWT).Elem(), reflect.ValueOf(&want.IdentityJWT).Elem())
	got, set := o.apply(Default().Defaults)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("apply:\n got %+v\nwant %+v", got, want)
	}
	for _, key := range keys {
		if !set[key] {
			t.Errorf("apply does not report %s as set by the app", key)
		}
	}
}

// overrideAll sets every pointer field of ov (an override struct) to a
// changed value of its twin in wv, and sets that in wv too.
func overrideAll(t *testing.T, ov, wv reflect.Value) {
	t.Helper()
	for i := range ov.NumField() {
		nv := changed(t, wv.Field(i))
		p := reflect.New(nv.Type())
		p.Elem().Set(nv)
		ov.Field(i).Set(p)
		wv.Field(i).Set(nv)
	}
}
