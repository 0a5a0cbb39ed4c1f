package config

import (
	"strings"
	"testing"
)

const goodAdminToken = "0123456789abcdef-admin"

func TestAdminOffByDefault(t *testing.T) {
	c := mustParse(t, "", nil)
	if c.AdminAddr != "" || c.AdminToken != "" {
		t.Errorf("admin on by default: addr %q", c.AdminAddr)
	}
}

func TestAdminKeysFromFileEnvAndFlags(t *testing.T) {
	c := mustParse(t, "admin_addr: 127.0.0.1:9292\nadmin_token: "+goodAdminToken+"\n", nil)
	if c.AdminAddr != "127.0.0.1:9292" || c.AdminToken != goodAdminToken {
		t.Errorf("file: %q %q", c.AdminAddr, c.AdminToken)
	}
	c = mustParse(t, "", map[string]string{"EXTAUTHZ_ADMIN_ADDR": "127.0.0.1:9393", "EXTAUTHZ_ADMIN_TOKEN": goodAdminToken + "-env"},
		"--admin-addr", "127.0.0.1:9494")
	if c.AdminAddr != "127.0.0.1:9494" || c.AdminToken != goodAdminToken+"-env" {
		t.Errorf("env+flag: %q %q", c.AdminAddr, c.AdminToken)
	}
}

func TestAdminValidation(t *testing.T) {
	tests := []struct {
		name        string
		addr, token string
		want        string // "" = valid
	}{
		{"off needs no token", "", "", ""},
		{"token without addr is harmless", "", "short", ""},
		{"on with a token", "127.0.0.1:9292", goodAdminToken, ""},
		{"on without a token", "127.0.0.1:9292", "", "admin_token: is required when admin_addr is set"},
		{"short token", "127.0.0.1:9292", "tooshort", "admin_token: must be at least 16 characters, got 8"},
		{"whitespace in token", "127.0.0.1:9292", goodAdminToken + " x", "admin_token: must not contain whitespace"},
		{"bad address", "9292", goodAdminToken, "admin_addr: must be host:port"},
		{"same as grpc_addr", ":9191", goodAdminToken, "admin_addr: must differ from grpc_addr"},
		{"same as http_addr", ":9090", goodAdminToken, "admin_addr: must differ from http_addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.AdminAddr, c.AdminToken = tt.addr, tt.token
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("want %q, got %v", tt.want, err)
			}
			if err != nil && tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Errorf("error echoes the token: %v", err)
			}
		})
	}
}

// The token is a secret: a bad value in the environment is never echoed,
// and Redacted hides it.
func TestAdminTokenIsSecret(t *testing.T) {
	c := mustParse(t, "admin_addr: 127.0.0.1:9292\nadmin_token: "+goodAdminToken+"\n", nil)
	if r := c.Redacted(); r.AdminToken == goodAdminToken || r.AdminToken == "" {
		t.Errorf("Redacted().AdminToken = %q", r.AdminToken)
	}
	if c.AdminToken != goodAdminToken {
		t.Error("Redacted modified the original")
	}
	_, err := parse(t, "admin_addr: 127.0.0.1:9292\n", map[string]string{"EXTAUTHZ_ADMIN_TOKEN": "s3cr3t-short"})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("want a problem not echoing the token, got %v", err)
	}
}
