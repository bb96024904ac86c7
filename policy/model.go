package policy

import (
	_ "embed"
	"errors"
	"fmt"

	casbin "github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
)

// ModelText is the Casbin model every policy file is read against: RBAC with
// a role hierarchy (g), keyMatch2 paths, a method regex or "*", and the
// "some allow and no deny" effect.
//
//go:embed model.conf
var ModelText string

// maxRoleDepth is the longest chain of g links a policy may have. Casbin's
// default role manager silently stops following links after 10 hops; the
// request's synthetic subject (see model.conf) spends one of them, so a chain
// longer than 9 would be cut short without a word. Load refuses it instead.
const maxRoleDepth = 9

// casbinRequestUser is the synthetic subject that the Casbin reference
// evaluation gives every role of a request. Subjects may not contain spaces,
// so no policy line can name it.
const casbinRequestUser = "request user"

// newCasbin builds a Casbin enforcer over the model and the given rules,
// each in Casbin's own form: {"p", sub, obj, act, eft} or {"g", role, parent}.
// It goes through Casbin's adapter path, so Casbin parses the model, stores
// the policy (dropping exact duplicates as it does for a file) and builds the
// role hierarchy exactly as for any Casbin application.
func newCasbin(rules [][]string) (*casbin.Enforcer, error) {
	m, err := model.NewModelFromString(ModelText)
	if err != nil {
		return nil, fmt.Errorf("policy model: %w", err)
	}
	return casbin.NewEnforcer(m, rulesAdapter(rules))
}

// rulesAdapter is a read-only Casbin adapter over rules already parsed.
type rulesAdapter [][]string

var _ persist.Adapter = rulesAdapter(nil)

var errReadOnly = errors.New("policy: the policy is read-only; edit the file")

// LoadPolicy implements persist.Adapter.
func (a rulesAdapter) LoadPolicy(m model.Model) error {
	for _, r := range a {
		if err := persist.LoadPolicyArray(r, m); err != nil {
			return err
		}
	}
	return nil
}

// SavePolicy implements persist.Adapter.
func (rulesAdapter) SavePolicy(model.Model) error { return errReadOnly }

// AddPolicy implements persist.Adapter.
func (rulesAdapter) AddPolicy(string, string, []string) error { return errReadOnly }

// RemovePolicy implements persist.Adapter.
func (rulesAdapter) RemovePolicy(string, string, []string) error { return errReadOnly }

// RemoveFilteredPolicy implements persist.Adapter.
func (rulesAdapter) RemoveFilteredPolicy(string, string, int, ...string) error { return errReadOnly }
