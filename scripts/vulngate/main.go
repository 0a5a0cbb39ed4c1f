// Command vulngate reads `govulncheck -json` on standard input, prints every
// vulnerability the code actually calls, and exits non-zero if there is any,
// in the standard library as much as in a module: the Go release is pinned
// (scripts/goenv.sh), so a called standard-library vulnerability is fixed by
// moving that pin, not by living with it.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
}

type message struct {
	Finding *struct {
		OSV          string  `json:"osv"`
		FixedVersion string  `json:"fixed_version"`
		Trace        []frame `json:"trace"`
	} `json:"finding"`
}

func main() {
	os.Exit(gate(os.Stdin, os.Stdout, os.Stderr))
}

// gate reports the called vulnerabilities in r to out and returns the exit
// code: 0 for none, 1 for any, 2 for unreadable input.
func gate(r io.Reader, out, errOut io.Writer) int {
	dec := json.NewDecoder(bufio.NewReader(r))
	called := map[string]frame{} // osv id → the vulnerable frame
	fixed := map[string]string{}
	for {
		var m message
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			fmt.Fprintln(errOut, "vulngate: reading govulncheck output:", err)
			return 2
		}
		f := m.Finding
		if f == nil || len(f.Trace) == 0 || f.Trace[0].Function == "" {
			continue // imported or required only: not reachable from our code
		}
		called[f.OSV] = f.Trace[0]
		fixed[f.OSV] = f.FixedVersion
	}
	ids := make([]string, 0, len(called))
	for id := range called {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fr := called[id]
		where := "module " + fr.Module + "@" + fr.Version
		if fr.Module == "stdlib" {
			where = "standard library of Go " + fr.Version + ": move scripts/goenv.sh"
		}
		fmt.Fprintf(out, "FAIL %s %s.%s — %s, fixed in %s\n", id, fr.Package, fr.Function, where, fixed[id])
	}
	fmt.Fprintf(out, "govulncheck: %d called vulnerabilities\n", len(ids))
	if len(ids) > 0 {
		return 1
	}
	return 0
}
