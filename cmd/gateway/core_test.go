package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartupFailures: when the core cannot be built, serve and the account
// commands end with the cause as their error, which main prints on one line
// before exiting 1, as migrate does. Audit finding: newCore's deferred
// cleanup called close on the nil core that `return nil, err` had just
// stored in its named result, so every such failure was a nil-pointer
// panic (exit 2) that never showed the cause.
func TestStartupFailures(t *testing.T) {
	dir := t.TempDir()
	notADir := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Should a case not fail, serve must not take a fixed port.
	base := []string{"GATEWAY_SERVER_ADDR=" + freeAddr(t), "GATEWAY_SERVER_ADMIN_ADDR=", "GATEWAY_LOG_LEVEL=error"}
	cases := []struct {
		name     string
		environ  []string
		commands [][]string
		want     string // in the error
	}{
		{
			name:     "postgres on a closed port",
			environ:  []string{"GATEWAY_STORAGE_DATABASE_URL=postgres://postgres@" + freeAddr(t) + "/x?sslmode=disable"},
			commands: [][]string{{"serve"}, {"user", "list"}, {"migrate"}},
			want:     "database: connect to postgres://postgres@127.0.0.1:",
		},
		{
			name:     "sqlite path that cannot be created",
			environ:  []string{"GATEWAY_STORAGE_DATABASE_URL=sqlite://" + filepath.Join(notADir, "x.db")},
			commands: [][]string{{"serve"}, {"user", "list"}, {"migrate"}},
			want:     notADir,
		},
		{
			// The database is open and migrated when the keys fail to load:
			// it is closed again, and the keys' error is the one reported.
			name: "keys_dir that is a file",
			environ: []string{"GATEWAY_STORAGE_DATABASE_URL=sqlite://" + filepath.Join(dir, "gateway.db"),
				"GATEWAY_TOKENS_KEYS_DIR=" + notADir},
			commands: [][]string{{"serve"}},
			want:     notADir,
		},
	}
	for _, tc := range cases {
		for _, args := range tc.commands {
			t.Run(tc.name+"/"+strings.Join(args, " "), func(t *testing.T) {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("gateway %s panicked: %v", strings.Join(args, " "), p)
					}
				}()
				r := runCLI(t, append(append([]string{}, base...), tc.environ...), "", args...).want(t, 1)
				if msg := r.message(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
					t.Errorf("gateway %s: error %q, want one line containing %q", strings.Join(args, " "), msg, tc.want)
				}
			})
		}
	}
}
