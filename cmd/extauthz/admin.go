package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/extauthz/extauthz/internal/server"
	"github.com/extauthz/extauthz/pkg/admin"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/config"
)

// opTimeout bounds one operator command's database work.
const opTimeout = 30 * time.Second

// adminEnv is what every operator command starts with.
type adminEnv struct {
	cfg    config.Config
	log    *slog.Logger
	stores *server.Stores
}

// openAdmin parses flags (extra registers the command's own) and opens the
// database.
func openAdmin(ctx context.Context, spec cmdSpec, args []string, getenv func(string) string, stdout, stderr io.Writer, extra func(*flag.FlagSet)) (*adminEnv, error) {
	cfg, err := loadConfig(spec, args, getenv, stdout, extra)
	if err != nil {
		return nil, err
	}
	if cfg.DatabaseURL == "" {
		return nil, &usageError{cmd: spec.name, msg: "--database-url (or EXTAUTHZ_DATABASE_URL) is required: the in-memory store of `serve` keeps nothing between processes"}
	}
	log := server.NewLogger(cfg.Log, stderr)
	st, err := server.OpenOperator(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return &adminEnv{cfg: cfg, log: log, stores: st}, nil
}

var migrateSpec = cmdSpec{
	name:    "migrate",
	usage:   "--database-url URL",
	summary: "Apply the database migrations (embedded, numbered, under an advisory lock) and print the schema version.",
	shared:  adminShared,
}

func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env, err := openAdmin(ctx, migrateSpec, args, getenv, stdout, stderr, nil)
	if err != nil {
		return err
	}
	defer env.stores.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	v, err := env.stores.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintf(stdout, "schema at version %d\n", v)
	return nil
}

// service returns the operator's rules over the opened stores.
func (env *adminEnv) service() *admin.Service {
	return env.stores.Admin()
}

// opError turns an error of the admin rules into the command's error: a
// bad argument is a usage error, anything else reads as the admin API
// would say it.
func opError(cmd string, err error) error {
	if errors.Is(err, admin.ErrInvalid) {
		return &usageError{cmd: cmd, msg: admin.Message(err)}
	}
	return fmt.Errorf("%s: %s", cmd, admin.Message(err))
}

// profileRef turns --email / --profile into a reference.
func profileRef(email, id string) (admin.Ref, error) {
	switch {
	case email != "" && id != "":
		return admin.Ref{}, usagef("give --email or --profile, not both")
	case id == "" && email == "":
		return admin.Ref{}, usagef("--email or --profile is required")
	case email != "":
		if e, err := authz.NormalizeEmail(email); err != nil || e == "" {
			return admin.Ref{}, usagef("--email: not a valid email address")
		}
	}
	return admin.Ref{ID: id, Email: email}, nil
}

// emailRef turns a required --email into a reference.
func emailRef(email string) (admin.Ref, error) {
	if email == "" {
		return admin.Ref{}, usagef("--email is required")
	}
	return profileRef(email, "")
}

// profileChanges are the profile verbs that change one profile.
var profileChanges = map[string]func(*admin.Service, context.Context, admin.Ref) (admin.Change, error){
	"block":      (*admin.Service).Block,
	"unblock":    (*admin.Service).Unblock,
	"activate":   (*admin.Service).Activate,
	"deactivate": (*admin.Service).Deactivate,
	"delete":     (*admin.Service).Delete,
}

// profileFlags are the flags of the profile verbs.
type profileFlags struct {
	email, name       string
	inactive, blocked bool
}

func (f *profileFlags) register(verb string) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		if verb != "list" {
			fs.StringVar(&f.email, "email", "", "the profile's `email`")
		}
		if verb == "add" {
			fs.StringVar(&f.name, "name", "", "display `name`")
			fs.BoolVar(&f.inactive, "inactive", false, "create the profile inactive")
			fs.BoolVar(&f.blocked, "blocked", false, "create the profile blocked")
		}
	}
}

var profileGroup = groupSpec{
	name:    "profile",
	summary: "Manage the profiles in extauthz's database (the built-in profile source).",
	verbs: []verbSpec{
		{"add", "--email E [--name N] [--inactive] [--blocked]", "create a profile; prints its id"},
		{"block", "--email E", "deny every request of the profile; revokes its sessions"},
		{"unblock", "--email E", "undo block"},
		{"activate", "--email E", "mark the profile active"},
		{"deactivate", "--email E", "mark the profile inactive; revokes its sessions"},
		{"delete", "--email E", "mark the profile deleted; revokes its sessions"},
		{"list", "", "list every profile, deleted ones too"},
	},
}

func profileCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	spec, args, err := profileGroup.verb(args, stdout)
	if err != nil {
		return err
	}
	defer func() { err = withCmd(err, spec.name) }()
	verb := strings.TrimPrefix(spec.name, "profile ")
	var f profileFlags
	env, err := openAdmin(ctx, spec, args, getenv, stdout, stderr, f.register(verb))
	if err != nil {
		return err
	}
	defer env.stores.Close()
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	svc, cmd := env.service(), "profile "+verb
	if verb == "list" {
		list, err := svc.Profiles(ctx)
		if err != nil {
			return opError(cmd, err)
		}
		return admin.WriteProfiles(stdout, list)
	}
	ref, err := emailRef(f.email)
	if err != nil {
		return err
	}
	if verb == "add" {
		p, err := svc.AddProfile(ctx, ref.Email, f.name, !f.inactive, f.blocked)
		if err != nil {
			return opError(cmd, err)
		}
		fmt.Fprintln(stdout, p.ID) // only the id: scripts capture it
		return nil
	}
	c, err := profileChanges[verb](svc, ctx, ref)
	if err != nil {
		return opError(cmd, err)
	}
	if c.RevokesSessions {
		fmt.Fprintf(stderr, "revoked %d session(s)\n", c.SessionsRevoked)
	}
	p := c.Profile
	fmt.Fprintf(stdout, "%s\t%s\tactive=%t\tblocked=%t\tdeleted=%t\n", p.ID, p.Email, p.Active, p.Blocked, p.Deleted)
	return nil
}

var sessionGroup = groupSpec{
	name:    "session",
	summary: "List or revoke a profile's browser sessions.",
	verbs: []verbSpec{
		{"list", "(--email E | --profile ID)", "list the profile's live sessions (hash prefixes, never tokens)"},
		{"revoke", "(--email E | --profile ID)", "revoke every session of the profile"},
	},
}

func sessionCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	spec, args, err := sessionGroup.verb(args, stdout)
	if err != nil {
		return err
	}
	defer func() { err = withCmd(err, spec.name) }()
	verb := strings.TrimPrefix(spec.name, "session ")
	var email, id string
	env, err := openAdmin(ctx, spec, args, getenv, stdout, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the profile's `email`")
		fs.StringVar(&id, "profile", "", "the profile's `id`")
	})
	if err != nil {
		return err
	}
	defer env.stores.Close()
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	ref, err := profileRef(email, id)
	if err != nil {
		return err
	}
	svc := env.service()
	if verb == "revoke" {
		c, err := svc.RevokeSessions(ctx, ref)
		if err != nil {
			return opError("session revoke", err)
		}
		fmt.Fprintf(stdout, "revoked %d session(s) of %s\n", c.SessionsRevoked, c.Profile.ID)
		return nil
	}
	_, list, err := svc.Sessions(ctx, ref)
	if err != nil {
		return opError("session list", err)
	}
	return admin.WriteSessions(stdout, list)
}

// tokenFlags are the flags of the token verbs.
type tokenFlags struct {
	email, name, expires, token string
}

func (f *tokenFlags) register(verb string) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		if verb == "revoke" {
			fs.StringVar(&f.token, "token", "", "the `token` to revoke (or - to read it from standard input)")
			return
		}
		fs.StringVar(&f.email, "email", "", "the owner's `email`")
		if verb == "create" {
			fs.StringVar(&f.name, "name", "", "what the token is for (its `name`)")
			fs.StringVar(&f.expires, "expires", "", "lifetime (a `duration`), e.g. 30d or 12h (default: never)")
		}
	}
}

var tokenGroup = groupSpec{
	name:    "token",
	summary: "Issue, revoke and list the access tokens extauthz validates itself (credentials with mode: validate).",
	verbs: []verbSpec{
		{"create", "--email E [--name N] [--expires 30d]", "issue a token for the profile; printed once, only its hash is stored"},
		{"revoke", "--token T", "revoke a token (--token - reads it from standard input)"},
		{"list", "--email E", "list the profile's tokens (hash prefixes)"},
	},
}

func tokenCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	spec, args, err := tokenGroup.verb(args, stdout)
	if err != nil {
		return err
	}
	defer func() { err = withCmd(err, spec.name) }()
	verb := strings.TrimPrefix(spec.name, "token ")
	var f tokenFlags
	env, err := openAdmin(ctx, spec, args, getenv, stdout, stderr, f.register(verb))
	if err != nil {
		return err
	}
	defer env.stores.Close()
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	svc, cmd := env.service(), "token "+verb
	if verb == "revoke" {
		if f.token == "" {
			return usagef("--token is required")
		}
		if err := svc.RevokeToken(ctx, f.token); err != nil {
			return opError(cmd, err)
		}
		fmt.Fprintln(stdout, "revoked")
		return nil
	}
	ref, err := emailRef(f.email)
	if err != nil {
		return err
	}
	if verb == "list" {
		list, err := svc.Tokens(ctx, ref)
		if err != nil {
			return opError(cmd, err)
		}
		return admin.WriteTokens(stdout, list)
	}
	var until time.Time
	if f.expires != "" {
		d, err := config.ParseDuration(f.expires)
		if err != nil || d <= 0 {
			return usagef("--expires: want a positive duration such as 30d")
		}
		until = time.Now().Add(d)
	}
	issued, err := svc.CreateToken(ctx, ref, f.name, until)
	if err != nil {
		return opError(cmd, err)
	}
	fmt.Fprintln(stdout, issued.Token) // shown once; only its hash is stored
	return nil
}
