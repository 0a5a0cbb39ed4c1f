package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/extauthz/extauthz/pkg/admin"
	"github.com/extauthz/extauthz/pkg/authz"
	"github.com/extauthz/extauthz/pkg/config"
	"github.com/extauthz/extauthz/pkg/store/migrations"
	adminv1 "github.com/extauthz/extauthz/proto/extauthz/admin/v1"
	"google.golang.org/grpc/status"
)

// opTimeout bounds one operator command's database work.
const opTimeout = 30 * time.Second

// adminEnv is what every operator command starts with.
type adminEnv struct {
	cfg    config.Config
	log    *slog.Logger
	stores *stores
}

// openAdmin parses flags (extra registers the command's own) and opens the
// database.
func openAdmin(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (*adminEnv, error) {
	cfg, err := loadConfig(name, args, getenv, stderr, extra)
	if err != nil {
		return nil, err
	}
	log := newLogger(cfg.Log, stderr)
	st, err := requireDatabase(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return &adminEnv{cfg: cfg, log: log, stores: st}, nil
}

func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env, err := openAdmin(ctx, "migrate", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	defer env.stores.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := migrations.Migrate(ctx, env.stores.pool); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	v, err := migrations.Version(ctx, env.stores.pool)
	if err != nil {
		return fmt.Errorf("migrate: reading version: %w", err)
	}
	fmt.Fprintf(stdout, "schema at version %d\n", v)
	return nil
}

// normalizedEmail validates an --email flag the way decisions see it.
func normalizedEmail(raw string) (string, error) {
	e, err := authz.NormalizeEmail(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: --email: not a valid email address", errUsage)
	case e == "":
		return "", fmt.Errorf("%w: --email is required", errUsage)
	}
	return e, nil
}

func profileCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	verb, args, err := sub(args, "add", "block", "unblock", "activate", "deactivate", "delete", "list")
	if err != nil {
		return err
	}
	var email, name string
	var inactive, blocked bool
	env, err := openAdmin(ctx, "profile "+verb, args, getenv, stderr, func(fs *flag.FlagSet) {
		if verb != "list" {
			fs.StringVar(&email, "email", "", "the profile's email")
		}
		if verb == "add" {
			fs.StringVar(&name, "name", "", "display name")
			fs.BoolVar(&inactive, "inactive", false, "create the profile inactive")
			fs.BoolVar(&blocked, "blocked", false, "create the profile blocked")
		}
	})
	if err != nil {
		return err
	}
	defer env.stores.Close()
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	ps := env.stores.profiles
	if verb == "list" {
		list, err := ps.List(ctx)
		if err != nil {
			return fmt.Errorf("profile list: %w", err)
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tEMAIL\tNAME\tACTIVE\tBLOCKED\tDELETED")
		for _, p := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%t\t%t\t%t\n", p.ID, p.Email, p.Name, p.Active, p.Blocked, p.Deleted)
		}
		return w.Flush()
	}
	e, err := normalizedEmail(email)
	if err != nil {
		return err
	}
	var p authz.Profile
	switch verb {
	case "add":
		p, err = ps.AddProfile(ctx, e, name, !inactive, blocked)
		if err == nil {
			fmt.Fprintln(stdout, p.ID) // only the id: scripts capture it
			return nil
		}
	case "block", "unblock":
		// The same code path as the admin API: a block also revokes the
		// profile's sessions.
		api := admin.New(ps, env.stores.sessions, nil)
		ref := &adminv1.ProfileRef{Ref: &adminv1.ProfileRef_Email{Email: e}}
		var prof *adminv1.Profile
		if verb == "block" {
			resp, berr := api.BlockProfile(ctx, &adminv1.BlockProfileRequest{Profile: ref})
			if berr == nil {
				fmt.Fprintf(stderr, "revoked %d session(s)\n", resp.GetSessionsRevoked())
			}
			prof, err = resp.GetProfile(), berr
		} else {
			resp, uerr := api.UnblockProfile(ctx, &adminv1.UnblockProfileRequest{Profile: ref})
			prof, err = resp.GetProfile(), uerr
		}
		if err != nil {
			return fmt.Errorf("profile %s: %s", verb, status.Convert(err).Message())
		}
		fmt.Fprintf(stdout, "%s\t%s\tactive=%t\tblocked=%t\tdeleted=%t\n", prof.GetId(), prof.GetEmail(), prof.GetActive(), prof.GetBlocked(), prof.GetDeleted())
		return nil
	case "activate":
		p, err = ps.SetActive(ctx, e, true)
	case "deactivate":
		p, err = ps.SetActive(ctx, e, false)
	case "delete":
		if err = ps.Delete(ctx, e); err == nil {
			p, err = ps.LookupProfile(ctx, e)
		}
	}
	if err != nil {
		return fmt.Errorf("profile %s: %w", verb, err)
	}
	if verb == "deactivate" || verb == "delete" {
		// The decision denies the profile anyway (row 10); revoking its
		// sessions too means nothing of them survives an unblock.
		n, err := env.stores.sessions.RevokeByProfile(ctx, p.ID)
		if err != nil {
			return fmt.Errorf("profile %s: revoking sessions: %w", verb, err)
		}
		fmt.Fprintf(stderr, "revoked %d session(s)\n", n)
	}
	fmt.Fprintf(stdout, "%s\t%s\tactive=%t\tblocked=%t\tdeleted=%t\n", p.ID, p.Email, p.Active, p.Blocked, p.Deleted)
	return nil
}

// profileFor resolves --email or --profile to a profile.
func profileFor(ctx context.Context, ps profileStore, email, id string) (authz.Profile, error) {
	switch {
	case email != "" && id != "":
		return authz.Profile{}, fmt.Errorf("%w: give --email or --profile, not both", errUsage)
	case id != "":
		return ps.ByID(ctx, id)
	case email != "":
		e, err := normalizedEmail(email)
		if err != nil {
			return authz.Profile{}, err
		}
		return ps.LookupProfile(ctx, e)
	}
	return authz.Profile{}, fmt.Errorf("%w: --email or --profile is required", errUsage)
}

func sessionCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	verb, args, err := sub(args, "list", "revoke")
	if err != nil {
		return err
	}
	var email, id string
	env, err := openAdmin(ctx, "session "+verb, args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the profile's email")
		fs.StringVar(&id, "profile", "", "the profile's id")
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
	// The same code path as the admin API's RevokeSessions / ListSessions.
	api := admin.New(env.stores.profiles, env.stores.sessions, nil)
	if verb == "revoke" {
		resp, err := api.RevokeSessions(ctx, &adminv1.RevokeSessionsRequest{Profile: ref})
		if err != nil {
			return fmt.Errorf("session revoke: %s", status.Convert(err).Message())
		}
		fmt.Fprintf(stdout, "revoked %d session(s) of %s\n", resp.GetRevoked(), resp.GetProfile().GetId())
		return nil
	}
	resp, err := api.ListSessions(ctx, &adminv1.ListSessionsRequest{Profile: ref})
	if err != nil {
		return fmt.Errorf("session list: %s", status.Convert(err).Message())
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "HASH (PREFIX)\tAPP\tCREATED\tRENEWED\tEXPIRES")
	for _, s := range resp.GetSessions() {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.GetHashPrefix(), s.GetApp(),
			s.GetCreatedAt().AsTime().Format(time.RFC3339), s.GetRenewedAt().AsTime().Format(time.RFC3339),
			s.GetExpiresAt().AsTime().Format(time.RFC3339))
	}
	return w.Flush()
}

// profileRef turns --email / --profile into the admin API's reference.
func profileRef(email, id string) (*adminv1.ProfileRef, error) {
	switch {
	case email != "" && id != "":
		return nil, fmt.Errorf("%w: give --email or --profile, not both", errUsage)
	case id != "":
		return &adminv1.ProfileRef{Ref: &adminv1.ProfileRef_ProfileId{ProfileId: id}}, nil
	case email != "":
		return &adminv1.ProfileRef{Ref: &adminv1.ProfileRef_Email{Email: email}}, nil
	}
	return nil, fmt.Errorf("%w: --email or --profile is required", errUsage)
}

func tokenCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	verb, args, err := sub(args, "create", "revoke", "list")
	if err != nil {
		return err
	}
	var email, name, expires, tok string
	env, err := openAdmin(ctx, "token "+verb, args, getenv, stderr, func(fs *flag.FlagSet) {
		if verb == "revoke" {
			fs.StringVar(&tok, "token", "", "the token to revoke (or - to read it from standard input)")
			return
		}
		fs.StringVar(&email, "email", "", "the owner's email")
		if verb == "create" {
			fs.StringVar(&name, "name", "", "what the token is for")
			fs.StringVar(&expires, "expires", "", "lifetime, e.g. 30d or 12h (default: never)")
		}
	})
	if err != nil {
		return err
	}
	defer env.stores.Close()
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	ts := env.stores.tokens
	switch verb {
	case "revoke":
		if tok == "" {
			return fmt.Errorf("%w: --token is required", errUsage)
		}
		if err := ts.Revoke(ctx, tok); err != nil {
			if errors.Is(err, authz.ErrNotFound) {
				return errors.New("token revoke: no such live token")
			}
			return fmt.Errorf("token revoke: %w", err)
		}
		fmt.Fprintln(stdout, "revoked")
		return nil
	}
	p, err := profileFor(ctx, env.stores.profiles, email, "")
	if err != nil {
		return fmt.Errorf("token %s: %w", verb, err)
	}
	if verb == "list" {
		list, err := ts.List(ctx, p.ID)
		if err != nil {
			return fmt.Errorf("token list: %w", err)
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "HASH (PREFIX)\tNAME\tCREATED\tEXPIRES\tREVOKED")
		for _, t := range list {
			exp := "never"
			if !t.ExpiresAt.IsZero() {
				exp = t.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%t\n", t.Hash.String()[:16], t.Name, t.CreatedAt.Format(time.RFC3339), exp, t.Revoked)
		}
		return w.Flush()
	}
	var until time.Time
	if expires != "" {
		d, err := config.ParseDuration(expires)
		if err != nil || d <= 0 {
			return fmt.Errorf("%w: --expires: want a positive duration such as 30d", errUsage)
		}
		until = time.Now().Add(d)
	}
	issued, err := ts.Create(ctx, p.ID, name, until)
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	fmt.Fprintln(stdout, issued.Token) // shown once; only its hash is stored
	return nil
}
