package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/extauthz/extauthz/pkg/config"
)

// usageError is a command line the command cannot run: printed as one
// line naming the command, and a hint where its usage is; exit status 2.
type usageError struct {
	cmd string // "profile add"; "" before a command is known
	msg string
}

func (e *usageError) Error() string {
	if e.cmd == "" {
		return e.msg + "\nRun 'extauthz --help' for usage."
	}
	return fmt.Sprintf("%s: %s\nRun 'extauthz %s --help' for usage.", e.cmd, e.msg, e.cmd)
}

func (e *usageError) Is(target error) bool { return target == errUsage }

// usagef is a usage error of the command that returns it (see withCmd).
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// withCmd names cmd in a usage error that names no command yet.
func withCmd(err error, cmd string) error {
	var ue *usageError
	if errors.As(err, &ue) && ue.cmd == "" {
		ue.cmd = cmd
	}
	return err
}

// exitError ends the process with code, printing err if there is one:
// `check --exit-code` reports a denial as status 1 without an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// cmdSpec describes a command for its --help and its usage errors.
type cmdSpec struct {
	name    string // "profile add"
	usage   string // what follows "extauthz <name>" in the usage line
	summary string
	// shared are the configuration flags its help lists after its own;
	// every configuration flag is accepted, the others are just not shown.
	shared []string
	all    bool // list every flag (serve: the configuration is its own)
}

// adminShared are the configuration flags the operator commands use.
var adminShared = []string{"database-url", "config"}

// help writes s's usage and flags: its own flags (those the command
// registered itself, in fs order), then s.shared.
func (s cmdSpec) help(w io.Writer, fs *flag.FlagSet, own []string) {
	fmt.Fprintf(w, "Usage: extauthz %s %s\n\n%s\n", s.name, s.usage, s.summary)
	names := own
	if s.all {
		names = nil
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	} else {
		names = append(slices.Clone(own), s.shared...)
	}
	if len(names) > 0 {
		fmt.Fprintln(w, "\nFlags:")
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, n := range names {
			if f := fs.Lookup(n); f != nil {
				writeFlag(tw, f)
			}
		}
		tw.Flush()
	}
	if !s.all {
		fmt.Fprintln(w, "\nEvery configuration key is also a flag and an EXTAUTHZ_ variable (see 'extauthz serve --help').")
	}
}

// writeFlag writes one flag as "  --name value<TAB>usage (default d)".
func writeFlag(w io.Writer, f *flag.Flag) {
	arg, usage := flag.UnquoteUsage(f)
	if arg == "value" {
		arg = valueKind(f.Value)
	}
	if arg != "" {
		arg = " " + arg
	}
	if d := f.DefValue; d != "" && d != "0" && d != "false" && d != "0s" && d != "[]" {
		usage += fmt.Sprintf(" (default %s)", d)
	}
	fmt.Fprintf(w, "  --%s%s\t%s\n", f.Name, arg, usage)
}

// valueKind names what a configuration flag without a named argument
// takes, from its flag.Value's type (config's intValue → "int").
func valueKind(v flag.Value) string {
	t := strings.ToLower(fmt.Sprintf("%T", v))
	for _, k := range []struct{ in, name string }{
		{"stringvalue", "string"}, {"duration", "duration"}, {"int", "int"}, {"float", "number"}, {"list", "list"}, {"slice", "list"},
	} {
		if strings.Contains(t, k.in) {
			return k.name
		}
	}
	return "value"
}

// singleDash finds a flag written with one dash in package flag's errors.
var singleDash = regexp.MustCompile(`(^|for flag |for |argument: )-([A-Za-z0-9])`)

// flagError turns package flag's complaint into a usage error of s:
// "unknown flag --emial (did you mean --email?)".
func (s cmdSpec) flagError(fs *flag.FlagSet, fe *config.FlagError) error {
	msg := fe.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		msg = "unknown flag --" + name
		if near := nearestFlag(fs, name); near != "" {
			msg += " (did you mean --" + near + "?)"
		}
	} else {
		msg = singleDash.ReplaceAllString(msg, "$1--$2")
	}
	return &usageError{cmd: s.name, msg: msg}
}

// nearestFlag returns the flag of fs closest to name, if it is close.
func nearestFlag(fs *flag.FlagSet, name string) string {
	best, bestD := "", 3
	fs.VisitAll(func(f *flag.Flag) {
		if d := config.EditDistance(name, f.Name); d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

// verbSpec is one verb of a command with verbs (profile, session, token).
type verbSpec struct {
	name, usage, summary string
}

// groupSpec is a command with verbs.
type groupSpec struct {
	name, summary string
	verbs         []verbSpec
}

func (g groupSpec) names() string {
	var ns []string
	for _, v := range g.verbs {
		ns = append(ns, v.name)
	}
	return strings.Join(ns, ", ")
}

// help writes the group's usage: each verb with its flags and summary.
func (g groupSpec) help(w io.Writer) {
	fmt.Fprintf(w, "Usage: extauthz %s VERB [flags]\n\n%s\n\nVerbs:\n", g.name, g.summary)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, v := range g.verbs {
		fmt.Fprintf(tw, "  %s %s\t%s\n", v.name, v.usage, v.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nEvery verb takes --database-url URL (or EXTAUTHZ_DATABASE_URL) and --config FILE.\n"+
		"Run 'extauthz %s VERB --help' for a verb's flags.\n", g.name)
}

// verb picks the verb of args: its spec and the arguments after it.
// --help (and -h, help) prints the group's usage and returns flag.ErrHelp.
func (g groupSpec) verb(args []string, stdout io.Writer) (cmdSpec, []string, error) {
	if len(args) == 0 {
		return cmdSpec{}, nil, &usageError{cmd: g.name, msg: "want a verb: " + g.names()}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		g.help(stdout)
		return cmdSpec{}, nil, flag.ErrHelp
	}
	for _, v := range g.verbs {
		if v.name == args[0] {
			summary := strings.ToUpper(v.summary[:1]) + v.summary[1:] + "."
			return cmdSpec{name: g.name + " " + v.name, usage: v.usage, summary: summary, shared: adminShared}, args[1:], nil
		}
	}
	if strings.HasPrefix(args[0], "-") {
		return cmdSpec{}, nil, &usageError{cmd: g.name, msg: fmt.Sprintf("want a verb before %s: one of %s", args[0], g.names())}
	}
	return cmdSpec{}, nil, &usageError{cmd: g.name, msg: fmt.Sprintf("unknown verb %q, want one of %s", args[0], g.names())}
}

// isHelp reports a --help that was answered.
func isHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }
