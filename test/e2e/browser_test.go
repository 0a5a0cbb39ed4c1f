package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// findChromium returns Debian's Chromium, installing it with
// scripts/deps.sh when missing; "" when it cannot be had.
func findChromium(t *testing.T) (string, string) {
	t.Helper()
	look := func() string {
		for _, name := range []string{"chromium", "chromium-browser"} {
			if p, err := exec.LookPath(name); err == nil {
				return p
			}
		}
		return ""
	}
	if p := look(); p != "" {
		return p, ""
	}
	out, err := command(10*time.Minute, repoRoot(), "scripts/deps.sh", "browser")
	if p := look(); p != "" {
		return p, ""
	}
	return "", "Chromium could not be installed with scripts/deps.sh browser (" + errString(err) + "): " + tail(string(out), 10)
}

func errString(err error) string {
	if err == nil {
		return "no error, but no chromium on PATH"
	}
	return err.Error()
}

// browserPersonChanges plays the story in headless Chromium through the
// front end, oauth2-proxy's real sign-in page and the IdP's redirects:
// alice signs in and sees herself, signs out, bob signs in and sees bob.
// Screenshots of each step go to test/artifacts/, prefixed with the front
// end's name.
func browserPersonChanges(t *testing.T, s *stack) {
	chromium, why := findChromium(t)
	if chromium == "" {
		t.Skip("e2e: " + why)
	}
	artifacts := filepath.Join(repoRoot(), "test", "artifacts")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 700),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	const signInButton = chromedp.CSS(`form[action$="/oauth2/start"] button`)
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("browser: screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(artifacts, s.FE.name+"-"+name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	signIn := func(u user, prefix string) string {
		t.Helper()
		step("waiting for oauth2-proxy's sign-in page", chromedp.WaitVisible(signInButton))
		shot(prefix + "-sign-in-page.png")
		s.IdP.QueueUser(u.mock())
		step("pressing the sign-in button", chromedp.Click(signInButton))
		step("waiting for the app", chromedp.WaitVisible(chromedp.ID("user")))
		who, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("user")))
		if err != nil {
			t.Fatalf("browser: reading the app's page: %v", err)
		}
		shot(prefix + "-app.png")
		return strings.TrimSpace(who)
	}

	step("opening the app", chromedp.Navigate(s.Edge+"/"))
	if who := signIn(alice, "1-alice"); who != "Signed in as "+alice.Email {
		t.Fatalf("alice's page says %q", who)
	}
	step("signing out of oauth2-proxy", chromedp.Navigate(s.Edge+"/oauth2/sign_out?rd=%2F"))
	before := len(s.App.requests())
	if who := signIn(bob, "2-bob"); who != "Signed in as "+bob.Email {
		t.Fatalf("bob's first page says %q (the stale-user bug)", who)
	}
	for i, r := range s.App.requests()[before:] {
		if r.Shown != bob.Email {
			t.Errorf("app request %d after bob signed in: %+v", i, r)
		}
	}
	t.Logf("screenshots in %s", artifacts)
}
