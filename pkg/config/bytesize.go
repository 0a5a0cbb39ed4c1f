package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ByteSize is an amount of memory in bytes. It reads a plain number of
// bytes or a number with a unit: B, KiB, MiB, GiB (powers of 1024) or kB,
// MB, GB (powers of 1000): 268435456, 256MiB, 1.5GiB, 300MB.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	n      float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// ParseByteSize reads s as a ByteSize.
func ParseByteSize(s string) (ByteSize, error) {
	body := strings.TrimSpace(s)
	mult := 1.0
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(body, u.suffix); ok {
			body, mult = strings.TrimSpace(rest), u.n
			break
		}
	}
	v, err := strconv.ParseFloat(body, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || body == "" || strings.ContainsAny(body, "eEpPxX_") {
		return 0, fmt.Errorf("invalid size %q (use e.g. 256MiB, 1GiB or a number of bytes)", s)
	}
	total := v * mult
	if total > math.MaxInt64 || total < math.MinInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return ByteSize(total), nil
}

// String renders b in the largest binary unit that divides it.
func (b ByteSize) String() string {
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && int64(b)%u.n == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// UnmarshalYAML implements yaml.Unmarshaler. Its error is a type error, as
// yaml.v3's own are: the loader has reported the key and line already.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{err.Error()}}
	}
	*b = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// byteSizeValue is a flag.Value for a ByteSize.
type byteSizeValue struct{ p *ByteSize }

func (v *byteSizeValue) String() string {
	if v == nil || v.p == nil {
		return "0"
	}
	return v.p.String()
}

func (v *byteSizeValue) Set(s string) error {
	b, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*v.p = b
	return nil
}
