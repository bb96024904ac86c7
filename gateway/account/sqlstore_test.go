package account_test

import (
	"path/filepath"
	"testing"

	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/account/accounttest"
	"github.com/authgate/gateway/internal/testenv"
)

func newSQLStore(t *testing.T, url string) accounttest.Store {
	t.Helper()
	db := testenv.OpenMigrated(t, url)
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
