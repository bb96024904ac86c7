package account_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/account/accounttest"
	"github.com/authgate/gateway/gateway/database"
	"github.com/authgate/gateway/internal/testenv"
)

func newSQLStore(t *testing.T, url string) accounttest.Store {
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
	return account.NewSQLStore(db)
}

func TestSQLStoreSQLite(t *testing.T) {
	t.Parallel()
	accounttest.Run(t, func(t *testing.T) accounttest.Store {
		return newSQLStore(t, "sqlite://"+filepath.Join(t.TempDir(), "gateway.db"))
	})
}

func TestSQLStorePostgres(t *testing.T) {
	t.Parallel()
	accounttest.Run(t, func(t *testing.T) accounttest.Store {
		return newSQLStore(t, testenv.PostgresURL(t))
	})
}
