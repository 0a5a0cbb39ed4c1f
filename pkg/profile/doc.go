// Package profile provides the profile sources that resolve a normalised
// email to an authz.Profile: Postgres, over the built-in extauthz_profiles
// table (see pkg/store/migrations), and Memory, seeded from configuration
// for running without a database.
//
// Both implement authz.ProfileSource and the same administration methods
// used by the CLI, with the same semantics (one contract suite,
// profiletest, runs against both):
//
//   - LookupProfile returns the profile for an email, deleted ones included
//     (Deleted set; the decision denies them), or an error wrapping
//     authz.ErrNotFound. Postgres errors are classified once by pkg/store/pgerr,
//     so transient failures wrap authz.ErrUnavailable.
//   - RegisterProfile returns the existing profile for an email, or creates an
//     active, unblocked one recording the registering app in RegisteredBy.
//     Concurrent first calls for one email create exactly one profile. A
//     soft-deleted profile is returned as is, never resurrected; an existing
//     profile keeps the app it was first registered through.
//   - AddProfile creates a profile with the given flags, failing with an error
//     wrapping ErrExists when the email is taken by an operator's profile or
//     a deleted one. A live auto-registered profile is adopted instead: same
//     id, the given flags (the name when one is given), RegisteredBy "".
//     SetActive(true) adopts too; blocking, unblocking and deactivating do
//     not. An adopted profile is known to every app; one an app registered
//     is known only to apps that register unknowns themselves and to the app
//     that registered it (authz, invariant 9).
//   - SetBlocked, SetActive and SetEmail change one profile and return it;
//     Delete soft-deletes (sets deleted_at, keeps the row). They fail with
//     authz.ErrNotFound for an unknown profile; SetEmail with ErrExists when
//     the new email is taken.
//   - List returns every profile ordered by email (bytewise); ByID looks one
//     up by id, authz.ErrNotFound for an unknown or malformed id.
//
// Emails arrive normalised by the caller and are stored exactly as given;
// the empty email is rejected with ErrInvalid. Profile ids are UUIDs in
// their canonical lower-case text form. Modified is the time of the last
// change, in UTC at microsecond precision.
//
// Every Postgres write that can change a decision publishes a
// pkg/store/notify profile event (id and email; both emails on an email
// change) in its own transaction, so other replicas drop cached answers.
// Error messages never contain an email: errors end up in logs.
package profile
