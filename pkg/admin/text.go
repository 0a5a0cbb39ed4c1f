package admin

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/extauthz/extauthz/pkg/authz"
)

// The operator's tables, as the CLI prints them: one header line, then one
// aligned line per row. Hashes show a 16-character prefix, never a token.

// WriteProfiles prints profiles as a table.
func WriteProfiles(w io.Writer, list []authz.Profile) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tACTIVE\tBLOCKED\tDELETED")
	for _, p := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%t\t%t\n", p.ID, p.Email, p.Name, p.Active, p.Blocked, p.Deleted)
	}
	return tw.Flush()
}

// WriteSessions prints one profile's sessions as a table.
func WriteSessions(w io.Writer, list []authz.Session) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HASH (PREFIX)\tAPP\tCREATED\tRENEWED\tEXPIRES")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Hash.String()[:16], s.App,
			s.CreatedAt.UTC().Format(time.RFC3339), s.RenewedAt.UTC().Format(time.RFC3339), s.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// WriteTokens prints one profile's access tokens as a table.
func WriteTokens(w io.Writer, list []authz.AccessToken) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HASH (PREFIX)\tNAME\tCREATED\tEXPIRES\tREVOKED")
	for _, t := range list {
		exp := "never"
		if !t.ExpiresAt.IsZero() {
			exp = t.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\n", t.Hash.String()[:16], t.Name, t.CreatedAt.Format(time.RFC3339), exp, t.Revoked)
	}
	return tw.Flush()
}
