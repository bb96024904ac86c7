// Package ui serves the gateway's hosted pages (SPEC section 4 "Pages"):
// login, registration, the account page, and forgotten-password reset.
//
// Guarantees:
//   - The pages are rendered on the server with html/template and work
//     without JavaScript: they contain no script at all, and their
//     Content-Security-Policy allows none. The one stylesheet is embedded
//     in the binary and served under a content-hashed name, immutable.
//   - Every form posts to its own page's path and is refused when a
//     browser sent it from another origin (auth's guard), before anything
//     changes.
//   - Where a browser is sent after a login comes only from SafeRedirect:
//     a path on this origin, never another site.
//   - User errors re-render the form with a 4xx status, the entered values
//     (never a password) and an accessible error summary; passwords and
//     reset tokens are never logged.
package ui
