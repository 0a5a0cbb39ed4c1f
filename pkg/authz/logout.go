package authz

// "Log out everywhere" from the browser (logout_path): every session of
// the person at this browser, in every app, is revoked; this app's native
// cookies and the service cookie are expired, and the browser goes to the
// proxy's sign-out. Other apps flush their own native cookies on the next
// request of that browser, since a revoked binding is an absent one.

import (
	"context"
	"errors"
)

// ProfileRevoker is what a session store offers to revoke every session of
// a profile, in every app. A store without it can only drop the session
// the browser presents.
type ProfileRevoker interface {
	// RevokeByProfile deletes every session of profileID and returns how
	// many it deleted; errors wrap ErrUnavailable when transient.
	RevokeByProfile(ctx context.Context, profileID string) (int, error)
}

// isLogoutPath reports whether the request is for the app's logout path
// (the path alone, query ignored, compared exactly).
func isLogoutPath(in *Input, p *Policy) bool {
	if p.LogoutPath == "" {
		return false
	}
	path := in.Path
	for i := 0; i < len(path); i++ {
		if path[i] == '?' || path[i] == '#' {
			path = path[:i]
			break
		}
	}
	return path == p.LogoutPath
}

// logout decides a request for the logout path. The person is the live
// binding's profile, else the asserted (or verified) identity's; nobody
// known still gets the cookies expired and the redirect.
func (t *turn) logout(ctx context.Context) verdict {
	t.readServiceCookie()
	if err := t.loadSession(ctx); err != nil {
		return failed(err)
	}
	profileID := ""
	if t.state == sessLive || t.state == sessShared {
		profileID = t.sess.ProfileID
	} else if id, ok := t.logoutIdentity(ctx); ok && id.Present() {
		prof, err := t.lookupProfile(ctx, id.Email)
		switch {
		case err == nil:
			profileID = prof.ID
		case !errors.Is(err, ErrNotFound):
			return failed(err)
		}
	}
	v := verdict{answer: answerFlushHop, reason: ReasonLogout, drop: t.hash, expireService: t.presented,
		revokeProfile: profileID, location: t.p.SignOutURL}
	if v.location == "" {
		v.location = "/"
	} else {
		v.location = signOutLocation(v.location, &Input{Path: "/", Host: t.in.Host, Scheme: t.in.Scheme})
	}
	v.expireNatives = t.fit(t.serviceLines(v.expireService), t.p.NativeCookies)
	return v
}

// logoutIdentity is the identity of row 3 for the logout path; a request
// whose identity is malformed or unverifiable has none.
func (t *turn) logoutIdentity(ctx context.Context) (Identity, bool) {
	id, err := ParseIdentity(t.in.Headers, t.p)
	if err != nil {
		return Identity{}, false
	}
	if t.p.IdentityJWT.On() {
		id, _, ok := t.tokenIdentity(ctx, id)
		return id, ok
	}
	return id, true
}

// revoke performs the logout path's revocation of every session of the
// profile, when the store can.
func (t *turn) revoke(ctx context.Context, profileID string) error {
	if t.e.revoker == nil || profileID == "" {
		return nil
	}
	_, err := t.e.revoker.RevokeByProfile(ctx, profileID)
	return err
}
