package ui

import (
	"testing"

	"golang.org/x/net/html"

	"github.com/authgate/gateway/internal/htmltest"
)

// dom is a parsed page, for assertions on elements rather than on text.
type dom struct{ root *html.Node }

func parseDOM(t *testing.T, body string) *dom {
	t.Helper()
	return &dom{root: htmltest.Parse(t, body)}
}

// all returns the elements for which match holds, in document order.
func (d *dom) all(match func(*html.Node) bool) []*html.Node { return htmltest.All(d.root, match) }

// byID returns the element with id, or nil.
func (d *dom) byID(id string) *html.Node { return htmltest.ByID(d.root, id) }

// tag returns the elements named tag.
func (d *dom) tag(tag string) []*html.Node {
	return d.all(func(n *html.Node) bool { return n.Data == tag })
}

// The short names below keep this package's assertions readable; the
// helpers themselves are in internal/htmltest, shared with cmd/gateway.

func in(n *html.Node, match func(*html.Node) bool) []*html.Node { return htmltest.All(n, match) }
func input(n *html.Node, name string) *html.Node                { return htmltest.Input(n, name) }
func attr(n *html.Node, key string) string                      { return htmltest.Attr(n, key) }
func hasAttr(n *html.Node, key string) bool                     { return htmltest.HasAttr(n, key) }
func text(n *html.Node) string                                  { return htmltest.Text(n) }

// mustID fails t unless the page has an element with id.
func (d *dom) mustID(t *testing.T, id string) *html.Node {
	t.Helper()
	n := d.byID(id)
	if n == nil {
		t.Fatalf("the page has no #%s", id)
	}
	return n
}
