package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps sessions in Redis through a redis.UniversalClient, so it
// works with a standalone server, Sentinel and Cluster alike.
//
// Key layout (P is the configured prefix, e.g. "gateway:"; times are Unix
// milliseconds):
//
//	P session:{SID}          hash  uid ua ip c l ie ae g r
//	                               (user, user agent, IP, created, last used,
//	                               idle expiry, absolute expiry, generation,
//	                               rotated); expires at the idle expiry, which
//	                               each refresh moves
//	P rt:HASH                string "SID|GEN|ISSUED|AE|UID" for every refresh
//	                               token ever issued (HASH = base64url SHA-256
//	                               of the token); immutable; expires at the
//	                               session's absolute expiry AE, so that a
//	                               replay of any old token is recognised while
//	                               the session could still be alive. Records
//	                               written before UID was added have four
//	                               fields and are read as well. UndoRotate
//	                               deletes the record of a token it takes
//	                               back (one never handed out)
//	P user:{UID}:sessions    zset  SID scored by its absolute expiry; expires
//	                               with the latest of them
//	P user:{UID}:stamp       int   the user's security stamp; no expiry
//	P revocations            stream, see RedisFeed
//
// Atomicity without cross-slot scripts. In Cluster a Lua script may only
// touch keys of one hash slot, and a presented token says nothing about its
// session (it is opaque), so Rotate takes two steps:
//
//  1. GET P rt:HASH: the token's session and generation. Token records are
//     written once and never change (UndoRotate deletes only records of
//     tokens never handed out), so reading one outside the script is safe.
//  2. One round trip that pipelines SET of the new token's record (in its own
//     slot), a script on the session's hash (one key) that compares the
//     token's generation with the session's current one and advances it,
//     issues a sibling, or deletes the session for reuse — a
//     check-and-set, so two concurrent rotations of one token cannot both
//     advance — and GET of the user's stamp (Session.UserStamp), the user
//     being named by the record. The new token's generation is known up
//     front (presented + 1 in both accepting cases), which is what lets its
//     record be written in the same round trip; if the script refuses, the
//     record is deleted again (and would be harmless anyway: a generation
//     ahead of the session is refused as invalid).
//
// Every script touches exactly one key. The {SID} and {UID} hash tags keep a
// session's and a user's keys in one slot each, for scripts that may need
// more than one key later; the prefix must therefore not contain braces.
//
// Revocation deletes the session's hash: its tokens then point nowhere and
// are refused as invalid, and nothing else is left to clean up. Stale members
// of a user's index (expired or revoked sessions) are removed lazily by
// ListByUser and RevokeUser.
type RedisStore struct {
	c      redis.UniversalClient
	prefix string
	opts   Options
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store over c. prefix namespaces every key (the
// storage.redis.key_prefix setting) and must not contain '{' or '}'.
func NewRedisStore(c redis.UniversalClient, prefix string, o Options) (*RedisStore, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("session: redis key prefix %q must not contain braces (they would change the keys' hash slots)", prefix)
	}
	return &RedisStore{c: c, prefix: prefix, opts: o}, nil
}

func (s *RedisStore) sessionKey(id string) string { return s.prefix + "session:{" + id + "}" }
func (s *RedisStore) tokenKey(h tokenHash) string { return s.prefix + "rt:" + b64.EncodeToString(h[:]) }
func (s *RedisStore) indexKey(userID string) string {
	return s.prefix + "user:{" + userID + "}:sessions"
}
func (s *RedisStore) stampKey(userID string) string { return s.prefix + "user:{" + userID + "}:stamp" }

// tokenRecord is the value of a token key.
type tokenRecord struct {
	sessionID string
	gen       int64
	issuedMS  int64
	absMS     int64
	// userID is the session's user, so that Rotate can read the user's
	// stamp in the rotation's round trip; "" in records written before it
	// was added.
	userID string
}

func (r tokenRecord) String() string {
	v := r.sessionID + "|" + strconv.FormatInt(r.gen, 10) + "|" +
		strconv.FormatInt(r.issuedMS, 10) + "|" + strconv.FormatInt(r.absMS, 10)
	if r.userID != "" {
		v += "|" + r.userID
	}
	return v
}

func parseTokenRecord(v string) (tokenRecord, bool) {
	f := strings.Split(v, "|")
	if len(f) < 4 || len(f) > 5 || !validID(f[0]) {
		return tokenRecord{}, false
	}
	var r tokenRecord
	if len(f) == 5 {
		if f[4] == "" {
			return tokenRecord{}, false
		}
		r.userID = f[4]
	}
	var err1, err2, err3 error
	r.sessionID = f[0]
	r.gen, err1 = strconv.ParseInt(f[1], 10, 64)
	r.issuedMS, err2 = strconv.ParseInt(f[2], 10, 64)
	r.absMS, err3 = strconv.ParseInt(f[3], 10, 64)
	return r, err1 == nil && err2 == nil && err3 == nil
}

// indexAddScript adds a session to its user's index, drops members whose
// absolute expiry has passed, and makes the index expire with its latest
// member. KEYS[1] index; ARGV abs expiry ms, session id, now ms.
var indexAddScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], top[2])
return 1
`)

// rotateScript is Rotate's check-and-set on one session hash; the same rules
// as decideRotation and Options.apply. KEYS[1] session; ARGV token
// generation, now, grace, idle TTL, max TTL (ms). Replies {"advance"|
// "sibling", uid, ua, ip, c, l, ie, ae, g, r, r before}, {"reused", uid},
// {"expired"} or {"invalid"}; "r before" is the rotated time the script
// found (for UndoRotate). Numbers are written with %d: Redis would
// otherwise format Lua's doubles itself.
var rotateScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'uid', 'ua', 'ip', 'c', 'l', 'ie', 'ae', 'g', 'r')
if not f[1] then return {'invalid'} end
local tg, now, grace = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local idle, maxttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local c, ie, ae = tonumber(f[4]), tonumber(f[6]), tonumber(f[7])
local g, r = tonumber(f[8]), tonumber(f[9])
local prev = r
if c + maxttl < ae then ae = c + maxttl end
if now >= ie or now >= ae then return {'expired'} end
local status
if tg == g then
  status = 'advance'
  g = g + 1
  r = now
elseif tg > g then
  return {'invalid'}
elseif tg == g - 1 and now - r <= grace then
  status = 'sibling'
else
  redis.call('DEL', KEYS[1])
  return {'reused', f[1]}
end
ie = now + idle
if ie > ae then ie = ae end
local fmt = string.format
redis.call('HSET', KEYS[1], 'l', fmt('%d', now), 'ie', fmt('%d', ie), 'ae', fmt('%d', ae),
  'g', fmt('%d', g), 'r', fmt('%d', r))
redis.call('PEXPIREAT', KEYS[1], fmt('%d', ie))
return {status, f[1], f[2], f[3], c, now, ie, ae, g, r, prev}
`)

// undoScript is UndoRotate's compare-and-set on one session hash: if the
// session is live at now and its generation, rotated and last-used times
// are what the advance wrote, it puts back the generation before and the
// rotated time before, and replies 1; else it changes nothing and replies
// 0. KEYS[1] session; ARGV generation, rotated, last used, rotated before,
// now, max TTL (ms).
var undoScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'g', 'r', 'l', 'c', 'ie', 'ae')
if not f[1] then return 0 end
local g = tonumber(ARGV[1])
if tonumber(f[1]) ~= g or tonumber(f[2]) ~= tonumber(ARGV[2]) or tonumber(f[3]) ~= tonumber(ARGV[3]) then
  return 0
end
local now, ae = tonumber(ARGV[5]), tonumber(f[6])
local cm = tonumber(f[4]) + tonumber(ARGV[6])
if cm < ae then ae = cm end
if now >= tonumber(f[5]) or now >= ae then return 0 end
redis.call('HSET', KEYS[1], 'g', string.format('%d', g - 1), 'r', string.format('%d', tonumber(ARGV[4])))
return 1
`)

// revokeScript deletes a session hash and replies its user id if the
// session was live, else nil. KEYS[1] session; ARGV now, max TTL (ms).
var revokeScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'uid', 'c', 'ie', 'ae')
if not f[1] then return false end
redis.call('DEL', KEYS[1])
local now, ae = tonumber(ARGV[1]), tonumber(f[4])
local cm = tonumber(f[2]) + tonumber(ARGV[2])
if cm < ae then ae = cm end
if now >= tonumber(f[3]) or now >= ae then return false end
return f[1]
`)

// Create implements Store. One pipelined round trip writes the session, its
// index entry and the first token's record; the token is returned only if
// all three were written.
func (s *RedisStore) Create(ctx context.Context, n NewSession, now time.Time) (*Session, string, error) {
	if n.UserID == "" {
		return nil, "", errors.New("session: Create needs a user id")
	}
	now = roundMS(now)
	sess := s.opts.newSession(n, now)
	tok, h := newToken()
	rec := tokenRecord{sess.ID, sess.Generation, now.UnixMilli(), sess.AbsoluteExpiresAt.UnixMilli(), sess.UserID}
	idxKeys := []string{s.indexKey(n.UserID)}
	idxArgs := []any{rec.absMS, sess.ID, now.UnixMilli()}

	pipe := s.c.Pipeline()
	hset := pipe.HSet(ctx, s.sessionKey(sess.ID),
		"uid", sess.UserID, "ua", sess.UserAgent, "ip", sess.IP,
		"c", ms(sess.CreatedAt), "l", ms(sess.LastUsedAt), "ie", ms(sess.IdleExpiresAt),
		"ae", ms(sess.AbsoluteExpiresAt), "g", sess.Generation, "r", ms(sess.RotatedAt))
	exp := pipe.PExpireAt(ctx, s.sessionKey(sess.ID), sess.IdleExpiresAt)
	idx := indexAddScript.EvalSha(ctx, pipe, idxKeys, idxArgs...)
	set := pipe.SetArgs(ctx, s.tokenKey(h), rec.String(), redis.SetArgs{ExpireAt: sess.AbsoluteExpiresAt})
	_, _ = pipe.Exec(ctx)
	if isNoScript(idx.Err()) {
		idx = indexAddScript.Run(ctx, s.c, idxKeys, idxArgs...)
	}
	for _, cmd := range []redis.Cmder{hset, exp, idx, set} {
		if err := cmd.Err(); err != nil {
			return nil, "", fmt.Errorf("session: redis create: %w", err)
		}
	}
	return sess, tok, nil
}

// Rotate implements Store; see the type's documentation for the two steps.
func (s *RedisStore) Rotate(ctx context.Context, token string, now time.Time) (*Session, string, error) {
	h, ok := parseToken(token)
	if !ok {
		return nil, "", ErrInvalid
	}
	now = roundMS(now)
	v, err := s.c.Get(ctx, s.tokenKey(h)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, "", ErrInvalid
	}
	if err != nil {
		return nil, "", fmt.Errorf("session: redis rotate: %w", err)
	}
	rec, ok := parseTokenRecord(v)
	if !ok {
		return nil, "", ErrInvalid
	}
	if now.UnixMilli() >= rec.absMS {
		return nil, "", ErrExpired
	}

	newTok, newHash := newToken()
	newRec := tokenRecord{rec.sessionID, rec.gen + 1, now.UnixMilli(), rec.absMS, rec.userID}
	newKey := s.tokenKey(newHash)
	keys := []string{s.sessionKey(rec.sessionID)}
	args := []any{rec.gen, now.UnixMilli(), s.opts.ReuseGrace.Milliseconds(),
		s.opts.IdleTTL.Milliseconds(), s.opts.MaxTTL.Milliseconds()}

	pipe := s.c.Pipeline()
	set := pipe.SetArgs(ctx, newKey, newRec.String(), redis.SetArgs{ExpireAt: time.UnixMilli(rec.absMS)})
	res := rotateScript.EvalSha(ctx, pipe, keys, args...)
	var stamp *redis.StringCmd
	if rec.userID != "" {
		stamp = pipe.Get(ctx, s.stampKey(rec.userID))
	}
	_, _ = pipe.Exec(ctx)
	if isNoScript(res.Err()) {
		res = rotateScript.Run(ctx, s.c, keys, args...)
	}
	reply, err := res.Slice()
	if err == nil && len(reply) == 0 {
		err = errMalformedReply
	}
	if err != nil {
		s.forget(newKey)
		return nil, "", fmt.Errorf("session: redis rotate: %w", err)
	}
	status, _ := reply[0].(string)
	switch status {
	case "advance", "sibling":
	case "reused":
		s.forget(newKey)
		uid, _ := reply[len(reply)-1].(string)
		if uid != "" {
			_ = s.c.ZRem(context.WithoutCancel(ctx), s.indexKey(uid), rec.sessionID).Err()
		}
		// Name the revoked session, so that the caller can publish its
		// revocation and its access tokens stop too.
		return &Session{ID: rec.sessionID, UserID: uid}, "", ErrReused
	case "expired":
		s.forget(newKey)
		return nil, "", ErrExpired
	default:
		s.forget(newKey)
		return nil, "", ErrInvalid
	}
	if err := set.Err(); err != nil {
		// The session moved on but the new token was not recorded: the
		// client gets an error and may retry with its old token, which
		// within the grace gets a sibling.
		return nil, "", fmt.Errorf("session: redis rotate: record new token: %w", err)
	}
	sess, err := sessionFromReply(rec.sessionID, reply)
	if err != nil {
		return nil, "", err
	}
	if stamp == nil || rec.userID != sess.UserID {
		// The stamp read must be the session's user's, whatever the
		// record said.
		stamp, err = s.upgradeRecord(ctx, newKey, newRec, sess.UserID)
	}
	if err == nil {
		sess.UserStamp, err = stampValue(stamp)
	}
	if err != nil {
		return nil, "", fmt.Errorf("session: redis rotate: %w", err)
	}
	return sess, newTok, nil
}

// UndoRotate implements Store: one pipelined round trip of undoScript on
// the session's hash and a DEL of the new token's record (in its own slot).
func (s *RedisStore) UndoRotate(ctx context.Context, sess *Session, newToken string, now time.Time) (bool, error) {
	h, ok := parseToken(newToken)
	if sess == nil || !sess.advanced || !ok {
		return false, nil
	}
	keys := []string{s.sessionKey(sess.ID)}
	args := []any{sess.Generation, ms(sess.RotatedAt), ms(sess.LastUsedAt), ms(sess.prevRotatedAt),
		ms(roundMS(now)), s.opts.MaxTTL.Milliseconds()}
	pipe := s.c.Pipeline()
	res := undoScript.EvalSha(ctx, pipe, keys, args...)
	del := pipe.Del(ctx, s.tokenKey(h))
	_, _ = pipe.Exec(ctx)
	if isNoScript(res.Err()) {
		res = undoScript.Run(ctx, s.c, keys, args...)
	}
	n, err := res.Int64()
	if err == nil {
		err = del.Err()
	}
	if err != nil {
		return false, fmt.Errorf("session: redis undo rotate: %w", err)
	}
	return n == 1, nil
}

// upgradeRecord finishes the rotation of a token whose record was written
// before records named the user (or names another user than the session,
// which only a damaged record can): one more round trip rewrites the new
// token's record, not yet handed out, with the session's user (so that its
// own rotation takes the short way) and reads that user's stamp.
func (s *RedisStore) upgradeRecord(ctx context.Context, key string, rec tokenRecord, userID string) (*redis.StringCmd, error) {
	rec.userID = userID
	pipe := s.c.Pipeline()
	set := pipe.SetArgs(ctx, key, rec.String(), redis.SetArgs{ExpireAt: time.UnixMilli(rec.absMS)})
	stamp := pipe.Get(ctx, s.stampKey(userID))
	_, _ = pipe.Exec(ctx)
	return stamp, set.Err()
}

// forget deletes the record of a token that was never handed out. Best
// effort: a leftover record is harmless (its generation is ahead of the
// session's, which Rotate refuses) and expires with the session.
func (s *RedisStore) forget(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.c.Del(ctx, key).Err()
}

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, id string) (*Session, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	m, err := s.c.HGetAll(ctx, s.sessionKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("session: redis get: %w", err)
	}
	sess, ok := sessionFromHash(id, m)
	if !ok || !s.opts.live(sess, roundMS(s.opts.Now())) {
		return nil, ErrNotFound
	}
	s.opts.normalize(sess)
	return sess, nil
}

// ListByUser implements Store. It removes index members whose session is
// gone.
func (s *RedisStore) ListByUser(ctx context.Context, userID string) ([]Session, error) {
	now := roundMS(s.opts.Now())
	ids, err := s.indexMembers(ctx, userID, now)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	pipe := s.c.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, s.sessionKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("session: redis list: %w", err)
	}
	out := make([]Session, 0, len(ids))
	var gone []any
	for i, cmd := range cmds {
		sess, ok := sessionFromHash(ids[i], cmd.Val())
		switch {
		case !ok:
			gone = append(gone, ids[i])
		case s.opts.live(sess, now):
			s.opts.normalize(sess)
			out = append(out, *sess)
		}
	}
	if len(gone) > 0 {
		_ = s.c.ZRem(ctx, s.indexKey(userID), gone...).Err()
	}
	sortNewestFirst(out)
	return out, nil
}

// indexMembers drops expired members of the user's index and returns the
// rest.
func (s *RedisStore) indexMembers(ctx context.Context, userID string, now time.Time) ([]string, error) {
	key := s.indexKey(userID)
	pipe := s.c.Pipeline()
	pipe.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(now.UnixMilli(), 10))
	members := pipe.ZRange(ctx, key, 0, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("session: redis index: %w", err)
	}
	return members.Val(), nil
}

// Revoke implements Store.
func (s *RedisStore) Revoke(ctx context.Context, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	now := roundMS(s.opts.Now())
	uid, err := revokeScript.Run(ctx, s.c, []string{s.sessionKey(id)}, now.UnixMilli(), s.opts.MaxTTL.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("session: redis revoke: %w", err)
	}
	_ = s.c.ZRem(ctx, s.indexKey(uid), id).Err()
	return nil
}

// RevokeUser implements Store. The sessions are revoked in one pipelined
// round trip (in Cluster, one per node), each by its own atomic script.
func (s *RedisStore) RevokeUser(ctx context.Context, userID, exceptID string) ([]string, error) {
	now := roundMS(s.opts.Now())
	ids, err := s.indexMembers(ctx, userID, now)
	if err != nil {
		return nil, err
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return id == exceptID })
	if len(ids) == 0 {
		return nil, nil
	}
	args := []any{now.UnixMilli(), s.opts.MaxTTL.Milliseconds()}
	pipe := s.c.Pipeline()
	cmds := make([]*redis.Cmd, len(ids))
	for i, id := range ids {
		cmds[i] = revokeScript.EvalSha(ctx, pipe, []string{s.sessionKey(id)}, args...)
	}
	_, _ = pipe.Exec(ctx)
	var revoked []string
	var done []any
	for i, cmd := range cmds {
		if isNoScript(cmd.Err()) {
			cmd = revokeScript.Run(ctx, s.c, []string{s.sessionKey(ids[i])}, args...)
		}
		switch err := cmd.Err(); {
		case err == nil:
			revoked = append(revoked, ids[i])
			done = append(done, ids[i])
		case errors.Is(err, redis.Nil):
			done = append(done, ids[i])
		default:
			return revoked, fmt.Errorf("session: redis revoke user: %w", err)
		}
	}
	_ = s.c.ZRem(ctx, s.indexKey(userID), done...).Err()
	return revoked, nil
}

// UserStamp implements Store.
func (s *RedisStore) UserStamp(ctx context.Context, userID string) (int64, error) {
	n, err := stampValue(s.c.Get(ctx, s.stampKey(userID)))
	if err != nil {
		return 0, fmt.Errorf("session: redis user stamp: %w", err)
	}
	return n, nil
}

// stampValue reads a GET of a stamp key: 0 when the key does not exist.
func stampValue(cmd *redis.StringCmd) (int64, error) {
	n, err := cmd.Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

// BumpUserStamp implements Store. The stamp key never expires: if it reset
// to 0, new access tokens would carry a stamp older than one a View may
// still hold, and be refused.
func (s *RedisStore) BumpUserStamp(ctx context.Context, userID string) (int64, error) {
	n, err := s.c.Incr(ctx, s.stampKey(userID)).Result()
	if err != nil {
		return 0, fmt.Errorf("session: redis bump user stamp: %w", err)
	}
	return n, nil
}

// Ping implements Store.
func (s *RedisStore) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("session: redis unavailable: %w", err)
	}
	return nil
}

var errMalformedReply = errors.New("malformed script reply")

func ms(t time.Time) int64 { return t.UnixMilli() }

func isNoScript(err error) bool { return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") }

// sessionFromHash decodes a session hash; ok is false when it is missing or
// damaged.
func sessionFromHash(id string, m map[string]string) (*Session, bool) {
	uid := m["uid"]
	if uid == "" {
		return nil, false
	}
	var n [6]int64
	for i, k := range [...]string{"c", "l", "ie", "ae", "g", "r"} {
		v, err := strconv.ParseInt(m[k], 10, 64)
		if err != nil {
			return nil, false
		}
		n[i] = v
	}
	return &Session{
		ID: id, UserID: uid, UserAgent: m["ua"], IP: m["ip"],
		CreatedAt: msTime(n[0]), LastUsedAt: msTime(n[1]), IdleExpiresAt: msTime(n[2]),
		AbsoluteExpiresAt: msTime(n[3]), Generation: n[4], RotatedAt: msTime(n[5]),
	}, true
}

// sessionFromReply decodes rotateScript's {"advance"|"sibling", uid, ua,
// ip, c, l, ie, ae, g, r, r before}.
func sessionFromReply(id string, r []any) (*Session, error) {
	bad := fmt.Errorf("session: redis rotate: %w", errMalformedReply)
	if len(r) != 11 {
		return nil, bad
	}
	var str [4]string
	for i := range str {
		v, ok := r[i].(string)
		if !ok {
			return nil, bad
		}
		str[i] = v
	}
	var n [7]int64
	for i := range n {
		v, ok := r[4+i].(int64)
		if !ok {
			return nil, bad
		}
		n[i] = v
	}
	s := &Session{
		ID: id, UserID: str[1], UserAgent: str[2], IP: str[3],
		CreatedAt: msTime(n[0]), LastUsedAt: msTime(n[1]), IdleExpiresAt: msTime(n[2]),
		AbsoluteExpiresAt: msTime(n[3]), Generation: n[4], RotatedAt: msTime(n[5]),
	}
	if str[0] == "advance" {
		s.advanced, s.prevRotatedAt = true, msTime(n[6])
	}
	return s, nil
}

func msTime(v int64) time.Time { return time.UnixMilli(v).UTC() }

// sortNewestFirst orders sessions by CreatedAt descending, then by id for a
// stable order.
func sortNewestFirst(ss []Session) {
	slices.SortFunc(ss, func(a, b Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
}
