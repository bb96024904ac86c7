package testenv

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/authgate/gateway/gateway/database"
)

// SQLite returns a migrated SQLite database in a file of t.TempDir(),
// closed when t ends: the storage of package tests that need the real SQL
// schema but not PostgreSQL. Unlike PostgresURL, it needs no service, so it
// never skips.
func SQLite(t testing.TB) *database.DB {
	t.Helper()
	return OpenMigrated(t, "sqlite://"+filepath.Join(t.TempDir(), "gateway.db"))
}

// OpenMigrated opens the database at url (sqlite:// or postgres://, as
// from PostgresURL), applies the migrations and closes it when t ends.
func OpenMigrated(t testing.TB, url string) *database.DB {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, url)
	if err != nil {
		t.Fatalf("database.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}
