package ui

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// dom is a parsed page, for assertions on elements rather than on text.
type dom struct{ root *html.Node }

func parseDOM(t *testing.T, body string) *dom {
	t.Helper()
	n, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the page: %v", err)
	}
	return &dom{root: n}
}

// all returns the elements for which match holds, in document order.
func (d *dom) all(match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(d.root)
	return out
}

// byID returns the element with id, or nil.
func (d *dom) byID(id string) *html.Node {
	if l := d.all(func(n *html.Node) bool { return attr(n, "id") == id }); len(l) > 0 {
		return l[0]
	}
	return nil
}

// tag returns the elements named tag.
func (d *dom) tag(tag string) []*html.Node {
	return d.all(func(n *html.Node) bool { return n.Data == tag })
}

// in returns the elements under n for which match holds.
func in(n *html.Node, match func(*html.Node) bool) []*html.Node {
	return (&dom{root: n}).all(match)
}

// input returns the input named name inside n, or nil.
func input(n *html.Node, name string) *html.Node {
	if n == nil {
		return nil
	}
	l := in(n, func(e *html.Node) bool { return e.Data == "input" && attr(e, "name") == name })
	if len(l) == 0 {
		return nil
	}
	return l[0]
}

func attr(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	if n == nil {
		return false
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

// text is n's text content, whitespace collapsed.
func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// mustID fails t unless the page has an element with id.
func (d *dom) mustID(t *testing.T, id string) *html.Node {
	t.Helper()
	n := d.byID(id)
	if n == nil {
		t.Fatalf("the page has no #%s", id)
	}
	return n
}
