// Package htmltest holds the HTML DOM helpers that tests use to assert on
// the gateway's pages by element (an id, an input, an attribute) rather
// than by substring, so that a changed layout does not hide a missing
// field. It is imported only by tests (gateway/ui and the cmd/gateway
// end-to-end suite).
package htmltest

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Parse parses an HTML document, failing t if it cannot.
func Parse(t testing.TB, body string) *html.Node {
	t.Helper()
	n, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the page: %v", err)
	}
	return n
}

// All returns the elements under n (n included) for which match holds, in
// document order. A nil n has no elements.
func All(n *html.Node, match func(*html.Node) bool) []*html.Node {
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
	if n != nil {
		walk(n)
	}
	return out
}

// First returns the first element under n for which match holds, or nil.
func First(n *html.Node, match func(*html.Node) bool) *html.Node {
	if l := All(n, match); len(l) > 0 {
		return l[0]
	}
	return nil
}

// ByID returns the element under n whose id is id, or nil.
func ByID(n *html.Node, id string) *html.Node {
	return First(n, func(e *html.Node) bool { return Attr(e, "id") == id })
}

// Input returns the input named name under n, or nil (also when n is nil).
func Input(n *html.Node, name string) *html.Node {
	return First(n, func(e *html.Node) bool { return e.Data == "input" && Attr(e, "name") == name })
}

// Attr returns n's attribute key, or "" when n is nil or has no such
// attribute; HasAttr tells the two apart.
func Attr(n *html.Node, key string) string {
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

// HasAttr reports whether n (non-nil) has the attribute key, for boolean
// attributes such as required or disabled.
func HasAttr(n *html.Node, key string) bool {
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

// Text is n's text content with whitespace collapsed, as a reader sees it;
// "" for a nil n.
func Text(n *html.Node) string {
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
