package ratelimit

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/authgate/gateway/config"
)

// Redis is a Limiter shared by every replica that uses the same Redis and
// key prefix. Each (limit, subject) is one Redis key,
// <prefix>rl:<hex SHA-256 of the key>, holding the GCRA's "theoretical
// arrival time" and expiring when the key would be back to a full burst.
type Redis struct {
	lim *redis_rate.Limiter
}

// NewRedis returns a Limiter on rdb (a client, a failover client or a
// cluster client) whose keys start with keyPrefix + "rl:".
func NewRedis(rdb redis.UniversalClient, keyPrefix string) *Redis {
	return &Redis{lim: redis_rate.NewLimiter(prefixed{rdb, keyPrefix + "rl:"})}
}

// Allow implements Limiter.
func (l *Redis) Allow(ctx context.Context, key string, r config.Rate) (Result, error) {
	res, err := l.lim.Allow(ctx, hashKey(key), redis_rate.Limit{Rate: r.Limit, Burst: r.Limit, Period: r.Window})
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if res.Allowed > 0 {
		return Result{Allowed: true}, nil
	}
	return refused(res.RetryAfter), nil
}

// Check implements Limiter. It runs the same script with cost 0 and a burst
// one smaller: "one more event would fit in a burst of Limit" is "no event
// is over a burst of Limit-1". Nothing changes (the script may rewrite the
// same value with the same expiry).
func (l *Redis) Check(ctx context.Context, key string, r config.Rate) (Result, error) {
	res, err := l.lim.AllowN(ctx, hashKey(key), redis_rate.Limit{Rate: r.Limit, Burst: r.Limit - 1, Period: r.Window}, 0)
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if res.RetryAfter < 0 {
		return Result{Allowed: true}, nil
	}
	return refused(res.RetryAfter), nil
}

// prefixed gives redis_rate the client it needs, with every key it names
// ("rate:" + ours) renamed into the gateway's key space (prefix + ours),
// so that the configured storage.redis.key_prefix namespaces these keys
// like every other key the gateway writes.
type prefixed struct {
	redis.UniversalClient
	prefix string
}

// libPrefix is the prefix redis_rate puts before every key.
const libPrefix = "rate:"

func (p prefixed) keys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = p.prefix + strings.TrimPrefix(k, libPrefix)
	}
	return out
}

func (p prefixed) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.UniversalClient.Eval(ctx, script, p.keys(keys), args...)
}

func (p prefixed) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return p.UniversalClient.EvalSha(ctx, sha1, p.keys(keys), args...)
}

func (p prefixed) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.UniversalClient.EvalRO(ctx, script, p.keys(keys), args...)
}

func (p prefixed) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return p.UniversalClient.EvalShaRO(ctx, sha1, p.keys(keys), args...)
}

func (p prefixed) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return p.UniversalClient.Del(ctx, p.keys(keys)...)
}
