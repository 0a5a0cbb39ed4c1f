// Command vulngate reads `govulncheck -json` on standard input, prints every
// vulnerability the code actually calls, and exits non-zero only for those
// in third-party modules. Called vulnerabilities of the Go standard library
// are printed as warnings: they are fixed by building with a newer Go
// release, which the project cannot pin (the machines bring their own Go).
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
	dec := json.NewDecoder(bufio.NewReader(os.Stdin))
	called := map[string]frame{} // osv id → the vulnerable frame
	fixed := map[string]string{}
	for {
		var m message
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "vulngate: reading govulncheck output:", err)
			os.Exit(2)
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
	third := 0
	for _, id := range ids {
		fr := called[id]
		kind := "WARNING (standard library: build with Go " + fixed[id] + " or newer)"
		if fr.Module != "stdlib" {
			kind = "FAIL (module " + fr.Module + "@" + fr.Version + ", fixed in " + fixed[id] + ")"
			third++
		}
		fmt.Printf("%s %s.%s — %s\n", id, fr.Package, fr.Function, kind)
	}
	fmt.Printf("govulncheck: %d called vulnerabilities, %d in third-party modules\n", len(ids), third)
	if third > 0 {
		os.Exit(1)
	}
}
