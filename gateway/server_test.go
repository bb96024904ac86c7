package gateway

import (
	"io"
	"net/http"
	"testing"
)

func TestProxyForwardsToUpstream(t *testing.T) {
	rec := &recorder{}
	gw := startGateway(t, rec, nil)

	resp, err := http.Get(gw.URL + "/api/items/42?x=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "upstream ok" {
		t.Fatalf("got %d %q, want 200 from the upstream", resp.StatusCode, body)
	}
	got := rec.last(t)
	if got.RequestURI != "/api/items/42?x=1" {
		t.Errorf("upstream saw %q, want /api/items/42?x=1", got.RequestURI)
	}
	if id := resp.Header.Get("X-Request-Id"); id == "" || got.Header.Get("X-Request-Id") != id {
		t.Errorf("request id: response %q, upstream %q; want the same non-empty id", id, got.Header.Get("X-Request-Id"))
	}
}
