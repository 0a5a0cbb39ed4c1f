package explain

import (
	"encoding/json"
	"io"
	"strings"

	"github.com/extauthz/extauthz/pkg/authz"
)

// JSONHeader is one header of a JSON explanation.
type JSONHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// JSON is an explanation as `extauthz check --output json` prints it.
// Lists are never null; upstream headers are only set on an allow (a
// denial never reaches the upstream). New session tokens are redacted as
// in Print.
type JSON struct {
	Decision       string       `json:"decision"` // "allow" or "deny"
	Allow          bool         `json:"allow"`
	Status         int          `json:"status"`
	Reason         string       `json:"reason"`
	App            string       `json:"app"`
	ProfileID      string       `json:"profile_id,omitempty"`
	UpstreamSet    []JSONHeader `json:"upstream_set"`
	UpstreamRemove []string     `json:"upstream_remove"`
	SetCookies     []string     `json:"set_cookies"`
	// ResponseHeaders go to the browser (with the local reply on a deny).
	ResponseHeaders []JSONHeader `json:"response_headers"`
	// Body is the local reply's body on a deny.
	Body string `json:"body,omitempty"`
	// Effects are the store writes the decision would make.
	Effects []string `json:"store_effects"`
}

// ToJSON returns r in its JSON form.
func ToJSON(r Result) JSON {
	d := r.Decision
	out := JSON{
		Decision: "deny", Allow: d.Allow, Status: d.Status, Reason: string(d.Reason), App: d.App, ProfileID: d.ProfileID,
		UpstreamSet: []JSONHeader{}, UpstreamRemove: []string{}, SetCookies: r.RedactedSetCookies(),
		ResponseHeaders: jsonHeaders(d.ResponseHeaders), Effects: append([]string{}, r.Effects...),
	}
	if d.Allow {
		out.Decision = "allow"
		out.UpstreamSet = jsonHeaders(d.UpstreamSet)
		out.UpstreamRemove = append(out.UpstreamRemove, d.UpstreamRemove...)
	} else {
		out.Body = strings.TrimSpace(d.Body)
	}
	return out
}

func jsonHeaders(hs []authz.Header) []JSONHeader {
	out := make([]JSONHeader, 0, len(hs))
	for _, h := range hs {
		out = append(out, JSONHeader{Name: h.Name, Value: h.Value})
	}
	return out
}

// PrintJSON writes r as one indented JSON object.
func PrintJSON(w io.Writer, r Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "<new token>" as written
	return enc.Encode(ToJSON(r))
}
