package dashboard

import (
	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/dashboard/ui"
)

// Policy is what the head's dashboard listener lets through without the
// token: the health probes, the web page's shell (runtime/dashboard/ui: it
// holds no data and asks for the token) and the page's login
// (auth.LoginPath), whose session cookie then opens the API to the browser.
func Policy() auth.HTTPPolicy {
	return auth.HTTPPolicy{Open: []string{HeadHealthPath, HealthPath}, Page: ui.Paths(), Login: true}
}
