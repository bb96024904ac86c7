package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/viper"
)

const exampleFile = "../deploy/gateway.example.yaml"

// seedUpstreams are the upstreams the example file lists instead of the
// default single one (SPEC section 3).
var seedUpstreams = []Upstream{
	{Name: "api", Prefix: "/api", URL: "http://127.0.0.1:8000", Timeout: 60 * time.Second},
	{Name: "web", Prefix: "/", URL: "http://127.0.0.1:3000", Timeout: 60 * time.Second},
}

// writeFile writes content to name in a fresh temporary directory and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadYAML loads yaml (written to a temporary file) with env as the
// environment.
func loadYAML(t *testing.T, yaml string, env ...string) (*Config, error) {
	t.Helper()
	return Load(writeFile(t, "gateway.yaml", yaml), env)
}

// problemsOf returns the problems of a Load or Validate error, failing the
// test when err is not an *Error.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v (%T), want *config.Error", err, err)
	}
	return ce.Problems
}

// hasProblem reports whether one problem is about key and contains substr.
func hasProblem(problems []string, key, substr string) bool {
	for _, p := range problems {
		if strings.HasPrefix(p, key+": ") && strings.Contains(p, substr) {
			return true
		}
	}
	return false
}

func TestExampleFileLoads(t *testing.T) {
	cfg, err := Load(exampleFile, nil)
	if err != nil {
		t.Fatalf("Load(%s): %v", exampleFile, err)
	}
	// Every value in the example is the default, except the upstream list,
	// whose comment says it shows the seed system's two upstreams.
	want := Default()
	want.Upstreams = seedUpstreams
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("example file differs from the defaults:\n got %+v\nwant %+v", *cfg, want)
	}
}

// leafKeys lists every leaf key of t by its mapstructure tags. A slice of
// structs is a leaf itself and its element keys are listed as
// "upstreams[].name".
func leafKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		key := joinKey(prefix, f.Tag.Get("mapstructure"))
		switch {
		case f.Type.Kind() == reflect.Struct:
			keys = append(keys, leafKeys(f.Type, key)...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			keys = append(keys, key)
			keys = append(keys, leafKeys(f.Type.Elem(), key+"[]")...)
		default:
			keys = append(keys, key)
		}
	}
	return keys
}

// TestExampleFileHasEveryKey keeps deploy/gateway.example.yaml from drifting:
// a field added to Config must be documented there.
func TestExampleFileHasEveryKey(t *testing.T) {
	v := viper.New()
	v.SetConfigFile(exampleFile)
	if err := v.ReadInConfig(); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	for _, k := range v.AllKeys() {
		present[k] = true
	}
	list, ok := v.Get("upstreams").([]any)
	if !ok || len(list) == 0 {
		t.Fatalf("upstreams in the example = %#v, want a list", v.Get("upstreams"))
	}
	for i, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			t.Fatalf("upstreams[%d] = %#v, want a mapping", i, el)
		}
		for k := range m {
			present["upstreams[]."+k] = true
		}
	}

	want := leafKeys(reflect.TypeFor[Config](), "")
	if len(want) < 80 {
		t.Fatalf("leafKeys found only %d keys: %v", len(want), want)
	}
	for _, key := range want {
		if !present[key] {
			t.Errorf("%s: key of config.Config missing from %s", key, exampleFile)
		}
	}
}

func TestLoadWithoutFileGivesDefaults(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./gateway.yaml here
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := Default(); !reflect.DeepEqual(*cfg, want) {
		t.Errorf("Load without file:\n got %+v\nwant %+v", *cfg, want)
	}
	def := Default()
	if err := def.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestLoadReadsGatewayYAMLInWorkingDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, DefaultFile), []byte("server:\n  addr: \":7000\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Server.Addr != ":7000" {
		t.Errorf("server.addr = %q, want :7000 from ./%s", cfg.Server.Addr, DefaultFile)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want an error wrapping os.ErrNotExist", err)
	}
}

func TestLoadRefusesUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		key  string
	}{
		{name: "top level", yaml: "sever:\n  addr: \":1\"\n", key: "sever"},
		{name: "nested", yaml: "server:\n  adr: \":1\"\n", key: "server.adr"},
		{name: "two levels deep", yaml: "server:\n  tls:\n    cert: x\n", key: "server.tls.cert"},
		{name: "rate limit", yaml: "rate_limits:\n  login_per_ip: {limit: 1, window: 1m, burst: 2}\n", key: "rate_limits.login_per_ip.burst"},
		{
			name: "inside an upstream",
			yaml: "upstreams:\n  - {name: api, prefix: /, url: \"http://127.0.0.1:8000\", prefx: /api}\n",
			key:  "upstreams[0].prefx",
		},
		{
			name: "inside the second upstream",
			yaml: "upstreams:\n  - {name: api, prefix: /api, url: \"http://a\"}\n  - {name: web, prefix: /, url: \"http://b\", strip: true}\n",
			key:  "upstreams[1].strip",
		},
		{
			name: "inside GATEWAY_UPSTREAMS",
			yaml: "{}\n",
			env:  []string{`GATEWAY_UPSTREAMS=[{"name":"api","prefix":"/","url":"http://a","timout":"5s"}]`},
			key:  "upstreams[0].timout",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.yaml, tt.env...)
			if err == nil {
				t.Fatal("Load accepted an unknown key")
			}
			if p := problemsOf(t, err); !hasProblem(p, tt.key, "unknown key") {
				t.Errorf("problems = %q, want %q: unknown key", p, tt.key)
			}
		})
	}
}

func TestLoadReportsEveryProblemInOneError(t *testing.T) {
	yaml := `
server:
  idle_timeout: 2 minutes
  bogus: true
upstreams:
  - {name: api, prefix: /api, url: "ftp://127.0.0.1:8000"}
`
	_, err := loadYAML(t, yaml)
	if err == nil {
		t.Fatal("Load accepted three problems")
	}
	p := problemsOf(t, err)
	for _, want := range []struct{ key, substr string }{
		{"server.bogus", "unknown key"},
		{"server.idle_timeout", "not a duration"},
		{"upstreams[0].url", "http(s) URL"},
	} {
		if !hasProblem(p, want.key, want.substr) {
			t.Errorf("problems = %q, want one for %s containing %q", p, want.key, want.substr)
		}
		if !strings.Contains(err.Error(), want.key) {
			t.Errorf("Error() = %q does not name %s", err.Error(), want.key)
		}
	}
	if len(p) != 3 {
		t.Errorf("got %d problems, want exactly 3 (no follow-on problems): %q", len(p), p)
	}
}

// A value of the wrong shape is one problem, not one plus a problem for every
// zero-valued field under it.
func TestLoadUndecodableSectionIsOneProblem(t *testing.T) {
	_, err := loadYAML(t, "server: 5\n")
	p := problemsOf(t, err)
	if len(p) != 1 || !strings.HasPrefix(p[0], "server: ") {
		t.Errorf("problems = %q, want exactly one for server", p)
	}
}

func TestLoadDurations(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		env   []string
		key   string // problem key when refused
		check func(*Config) time.Duration
		want  time.Duration // when accepted
	}{
		{
			name: "bare number for upstream timeout is refused",
			yaml: "upstreams:\n  - {name: api, prefix: /, url: \"http://a\", timeout: 60}\n",
			key:  "upstreams[0].timeout",
		},
		{name: "bare number refused", yaml: "server:\n  idle_timeout: 60\n", key: "server.idle_timeout"},
		{name: "bare number from env refused", yaml: "{}", env: []string{"GATEWAY_SERVER_IDLE_TIMEOUT=60"}, key: "server.idle_timeout"},
		{name: "garbage refused", yaml: "tokens:\n  access_ttl: soon\n", key: "tokens.access_ttl"},
		{name: "negative refused", yaml: "tokens:\n  reuse_grace: -1s\n", key: "tokens.reuse_grace"},
		{name: "boolean refused", yaml: "server:\n  idle_timeout: true\n", key: "server.idle_timeout"},
		{name: "fractional days refused", yaml: "tokens:\n  refresh_idle_ttl: 1.5d\n", key: "tokens.refresh_idle_ttl"},
		{
			name:  "days accepted",
			yaml:  "tokens:\n  refresh_idle_ttl: 7d\n  refresh_max_ttl: 30d\n",
			check: func(c *Config) time.Duration { return c.Tokens.RefreshIdleTTL },
			want:  7 * 24 * time.Hour,
		},
		{
			name:  "compound accepted",
			yaml:  "server:\n  shutdown_timeout: 1m30s\n",
			check: func(c *Config) time.Duration { return c.Server.ShutdownTimeout },
			want:  90 * time.Second,
		},
		{
			name:  "one second is a valid lifetime",
			yaml:  "tokens:\n  access_ttl: 1s\n",
			check: func(c *Config) time.Duration { return c.Tokens.AccessTTL },
			want:  time.Second,
		},
		{
			name:  "env accepted",
			yaml:  "{}",
			env:   []string{"GATEWAY_RATE_LIMITS_LOGIN_PER_IP_WINDOW=2m"},
			check: func(c *Config) time.Duration { return c.RateLimits.LoginPerIP.Window },
			want:  2 * time.Minute,
		},
		{
			name:  "unset upstream timeout is the default",
			yaml:  "upstreams:\n  - {name: api, prefix: /, url: \"http://a\"}\n",
			check: func(c *Config) time.Duration { return c.Upstreams[0].Timeout },
			want:  DefaultUpstreamTimeout,
		},
		{
			name:  "zero upstream timeout is the default",
			yaml:  "upstreams:\n  - {name: api, prefix: /, url: \"http://a\", timeout: 0s}\n",
			check: func(c *Config) time.Duration { return c.Upstreams[0].Timeout },
			want:  DefaultUpstreamTimeout,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadYAML(t, tt.yaml, tt.env...)
			if tt.check == nil {
				if err == nil {
					t.Fatal("Load accepted it")
				}
				if p := problemsOf(t, err); !hasProblem(p, tt.key, "") {
					t.Errorf("problems = %q, want one for %s", p, tt.key)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tt.check(cfg); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadByteSizes(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     []string
		want    ByteSize
		wantErr string // substring of the server.max_header_bytes problem
	}{
		{name: "KiB", yaml: "server:\n  max_header_bytes: 16KiB\n", want: 16 * 1024},
		{name: "MiB", yaml: "server:\n  max_header_bytes: 1MiB\n", want: 1 << 20},
		{name: "plain number", yaml: "server:\n  max_header_bytes: 20000\n", want: 20000},
		{name: "number as string", yaml: "server:\n  max_header_bytes: \"20000\"\n", want: 20000},
		{name: "bytes unit", yaml: "server:\n  max_header_bytes: 4096B\n", want: 4096},
		{name: "env", yaml: "{}", env: []string{"GATEWAY_SERVER_MAX_HEADER_BYTES=32KiB"}, want: 32 * 1024},
		{name: "decimal unit refused", yaml: "server:\n  max_header_bytes: 16KB\n", wantErr: "not a size"},
		{name: "negative refused", yaml: "server:\n  max_header_bytes: -1\n", wantErr: "negative"},
		{name: "fraction refused", yaml: "server:\n  max_header_bytes: 1.5\n", wantErr: "whole number"},
		{name: "boolean refused", yaml: "server:\n  max_header_bytes: true\n", wantErr: "boolean"},
		{name: "too large refused", yaml: "server:\n  max_header_bytes: 2MiB\n", wantErr: "between 1KiB and 1MiB"},
		{name: "too small refused", yaml: "server:\n  max_header_bytes: 100\n", wantErr: "between 1KiB and 1MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadYAML(t, tt.yaml, tt.env...)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Load accepted it: max_header_bytes = %d", cfg.Server.MaxHeaderBytes)
				}
				if p := problemsOf(t, err); !hasProblem(p, "server.max_header_bytes", tt.wantErr) {
					t.Errorf("problems = %q, want server.max_header_bytes: ...%s...", p, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Server.MaxHeaderBytes != tt.want {
				t.Errorf("max_header_bytes = %d, want %d", cfg.Server.MaxHeaderBytes, tt.want)
			}
		})
	}
}

// Regression: mapstructure's weak typing wrapped iterations: -1 into
// 4294967295 argon2 passes, truncated parallelism: 257 to 1 and min_length:
// 12.7 to 12, and took an empty GATEWAY_COOKIES_SECURE as false. All of these
// must be refused with their key.
func TestLoadRefusesNumbersAndBooleansThatDoNotFit(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		key  string
	}{
		{name: "negative into uint32", yaml: "passwords:\n  iterations: -1\n", key: "passwords.iterations"},
		{name: "too big for uint32", yaml: "passwords:\n  memory_kib: 4294967297\n", key: "passwords.memory_kib"},
		{name: "too big for uint8", yaml: "passwords:\n  parallelism: 257\n", key: "passwords.parallelism"},
		{name: "too big for uint8 from env", yaml: "{}", env: []string{"GATEWAY_PASSWORDS_PARALLELISM=300"}, key: "passwords.parallelism"},
		{name: "fraction into int", yaml: "passwords:\n  min_length: 12.7\n", key: "passwords.min_length"},
		{name: "boolean into int", yaml: "rate_limits:\n  login_per_ip: {limit: true, window: 1m}\n", key: "rate_limits.login_per_ip.limit"},
		{name: "words into int from env", yaml: "{}", env: []string{"GATEWAY_PASSWORDS_MIN_LENGTH=twelve"}, key: "passwords.min_length"},
		{name: "empty bool from env", yaml: "{}", env: []string{"GATEWAY_COOKIES_SECURE="}, key: "cookies.secure"},
		{name: "yes is not a bool", yaml: "cookies:\n  secure: \"yes\"\n", key: "cookies.secure"},
		{name: "number is not a bool", yaml: "policy:\n  watch: 1\n", key: "policy.watch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadYAML(t, tt.yaml, tt.env...)
			if err == nil {
				t.Fatalf("Load accepted it: passwords=%+v cookies=%+v", cfg.Passwords, cfg.Cookies)
			}
			if p := problemsOf(t, err); !hasProblem(p, tt.key, "") {
				t.Errorf("problems = %q, want one for %s", p, tt.key)
			}
		})
	}

	cfg, err := loadYAML(t, "{}", "GATEWAY_PASSWORDS_MIN_LENGTH=16", "GATEWAY_PASSWORDS_PARALLELISM=4")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Passwords.MinLength != 16 || cfg.Passwords.Parallelism != 4 {
		t.Errorf("passwords = %+v, want min_length 16, parallelism 4", cfg.Passwords)
	}
}

func TestLoadRefusesBadUpstreamURL(t *testing.T) {
	tests := []struct {
		name, url string
	}{
		{"other scheme", "ftp://127.0.0.1:8000"},
		{"no scheme", "127.0.0.1:8000"},
		{"no host", "http://"},
		{"relative", "/api"},
		{"empty", ""},
		{"query", "http://127.0.0.1:8000/?a=b"},
		{"user info", "http://user:pw@127.0.0.1:8000"},
		{"bad escape", "http://127.0.0.1:8000/%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := "upstreams:\n  - {name: api, prefix: /, url: \"" + tt.url + "\"}\n"
			_, err := loadYAML(t, yaml)
			if err == nil {
				t.Fatalf("Load accepted url %q", tt.url)
			}
			if p := problemsOf(t, err); !hasProblem(p, "upstreams[0].url", "") {
				t.Errorf("problems = %q, want one for upstreams[0].url", p)
			}
		})
	}
}

// Precedence: environment > file > defaults.
func TestLoadEnvironmentBeatsFileBeatsDefaults(t *testing.T) {
	yaml := `
server:
  addr: ":7000"
  admin_addr: "127.0.0.1:7001"
  trusted_proxies: ["10.9.9.9"]
storage:
  redis:
    url: "redis://file:6379/0"
cookies:
  secure: true
  same_site: Lax
upstreams:
  - {name: file, prefix: /, url: "http://127.0.0.1:7002"}
`
	env := []string{
		"GATEWAY_SERVER_ADDR=:9000",
		"GATEWAY_STORAGE_REDIS_URL=redis://env:6379/1",
		"GATEWAY_SERVER_TRUSTED_PROXIES=10.0.0.0/8, 192.168.1.10 ,",
		"GATEWAY_COOKIES_SECURE=false",
		`GATEWAY_UPSTREAMS=[{"name":"api","prefix":"/api","url":"http://127.0.0.1:8000","strip_prefix":true,"timeout":"5s"},{"name":"web","prefix":"/","url":"http://127.0.0.1:3000"}]`,
		`GATEWAY_CORS_ALLOWED_ORIGINS=["https://a.example","https://b.example"]`,
		"OTHER_VARIABLE=ignored",
		"GATEWAY_TEST_REQUIRE_SERVICES=1", // not a key: ignored, CI sets it
	}
	cfg, err := loadYAML(t, yaml, env...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"env beats file: server.addr", cfg.Server.Addr, ":9000"},
		{"env beats file: storage.redis.url", cfg.Storage.Redis.URL, "redis://env:6379/1"},
		{"env comma list: server.trusted_proxies", cfg.Server.TrustedProxies, []string{"10.0.0.0/8", "192.168.1.10"}},
		{"env false beats file true: cookies.secure", cfg.Cookies.Secure, false},
		{"env JSON list: cors.allowed_origins", cfg.CORS.AllowedOrigins, []string{"https://a.example", "https://b.example"}},
		{"env JSON replaces upstreams", cfg.Upstreams, []Upstream{
			{Name: "api", Prefix: "/api", URL: "http://127.0.0.1:8000", StripPrefix: true, Timeout: 5 * time.Second},
			{Name: "web", Prefix: "/", URL: "http://127.0.0.1:3000", Timeout: DefaultUpstreamTimeout},
		}},
		{"file beats default: server.admin_addr", cfg.Server.AdminAddr, "127.0.0.1:7001"},
		{"file value normalised: cookies.same_site", cfg.Cookies.SameSite, "lax"},
		{"default kept: server.shutdown_timeout", cfg.Server.ShutdownTimeout, 15 * time.Second},
		{"default kept: tokens.algorithm", cfg.Tokens.Algorithm, "EdDSA"},
		{"default kept: registration.default_roles", cfg.Registration.DefaultRoles, []string{"user"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestLoadEnvironmentWithoutFile(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := Load("", []string{"GATEWAY_SERVER_PUBLIC_URL=https://app.example.com", "GATEWAY_SERVER_ADMIN_ADDR="})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Server.PublicURL != "https://app.example.com" {
		t.Errorf("public_url = %q", cfg.Server.PublicURL)
	}
	if cfg.Server.AdminAddr != "" {
		t.Errorf("admin_addr = %q, want empty (an empty variable disables the admin listener)", cfg.Server.AdminAddr)
	}
	if got := cfg.IssuerOrDefault(); got != "https://app.example.com" {
		t.Errorf("IssuerOrDefault() = %q, want the public URL", got)
	}
}

func TestLoadEnvironmentRefusesBadTrustedProxies(t *testing.T) {
	_, err := loadYAML(t, "{}", "GATEWAY_SERVER_TRUSTED_PROXIES=10.0.0.0/8,not-an-ip")
	if p := problemsOf(t, err); !hasProblem(p, "server.trusted_proxies", `"not-an-ip"`) {
		t.Errorf("problems = %q, want server.trusted_proxies naming the bad entry", p)
	}
}

func TestLoadSecretFiles(t *testing.T) {
	const dbURL = "postgres://gateway:s3cr3t-db-pass@db.internal:5432/gateway"
	const hmac = "0123456789abcdef0123456789abcdef-hmac"
	dbFile := writeFile(t, "database_url", dbURL+"\n")
	hmacFile := writeFile(t, "hmac", hmac+"\r\n")

	t.Run("file keys fill the secrets without the trailing newline", func(t *testing.T) {
		yaml := "storage:\n  database_url_file: " + dbFile + "\ntokens:\n  algorithm: HS256\n  hmac_secret_file: " + hmacFile + "\n"
		cfg, err := loadYAML(t, yaml)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.Storage.DatabaseURL != dbURL {
			t.Errorf("database_url = %q, want %q", cfg.Storage.DatabaseURL, dbURL)
		}
		if cfg.Tokens.HMACSecret != hmac {
			t.Errorf("hmac_secret = %q, want %q", cfg.Tokens.HMACSecret, hmac)
		}
	})
	t.Run("file keys from the environment; the file wins over the inline value", func(t *testing.T) {
		cfg, err := loadYAML(t, "tokens:\n  hmac_secret: inline-inline-inline-inline-inline\n",
			"GATEWAY_TOKENS_ALGORITHM=HS256", "GATEWAY_TOKENS_HMAC_SECRET_FILE="+hmacFile)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.Tokens.HMACSecret != hmac {
			t.Errorf("hmac_secret = %q, want the file's %q", cfg.Tokens.HMACSecret, hmac)
		}
	})

	missing := filepath.Join(t.TempDir(), "absent")
	empty := writeFile(t, "empty", "\n")
	tests := []struct {
		name    string
		yaml    string
		key     string // the problem's key
		notKeys []string
	}{
		{
			name:    "missing hmac file",
			yaml:    "tokens:\n  algorithm: HS256\n  hmac_secret_file: " + missing + "\n",
			key:     "tokens.hmac_secret_file",
			notKeys: []string{"tokens.hmac_secret"}, // no follow-on "HS256 needs a secret"
		},
		{name: "missing database file", yaml: "storage:\n  database_url_file: " + missing + "\n", key: "storage.database_url_file"},
		{name: "missing redis url file", yaml: "storage:\n  redis:\n    url_file: " + missing + "\n", key: "storage.redis.url_file"},
		{name: "missing redis password file", yaml: "storage:\n  redis:\n    password_file: " + missing + "\n", key: "storage.redis.password_file"},
		{name: "missing smtp file", yaml: "mail:\n  smtp_url_file: " + missing + "\n", key: "mail.smtp_url_file"},
		{name: "empty file", yaml: "storage:\n  database_url_file: " + empty + "\n", key: "storage.database_url_file", notKeys: []string{"storage.database_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.yaml)
			p := problemsOf(t, err)
			if !hasProblem(p, tt.key, "") {
				t.Errorf("problems = %q, want one for %s", p, tt.key)
			}
			for _, k := range tt.notKeys {
				if hasProblem(p, k, "") {
					t.Errorf("problems = %q, want none for %s", p, k)
				}
			}
		})
	}

	// A secret that is invalid is reported by its key, never echoed.
	leaks := []struct {
		name, secret, yaml, key string
	}{
		{
			name:   "database url",
			secret: "mysql://root:hunter2-db@db/x",
			yaml:   "storage:\n  database_url_file: %s\n",
			key:    "storage.database_url",
		},
		{
			name:   "redis url",
			secret: "http://:hunter2-redis@redis:6379",
			yaml:   "storage:\n  redis:\n    url_file: %s\n",
			key:    "storage.redis.url",
		},
		{
			name:   "short hmac secret",
			secret: "hunter2-too-short",
			yaml:   "tokens:\n  algorithm: HS256\n  hmac_secret_file: %s\n",
			key:    "tokens.hmac_secret",
		},
		{
			name:   "smtp url",
			secret: "imap://user:hunter2-smtp@mail",
			yaml:   "mail:\n  from: a@example.com\n  smtp_url_file: %s\n",
			key:    "mail.smtp_url",
		},
	}
	for _, tt := range leaks {
		t.Run("never echoes the "+tt.name, func(t *testing.T) {
			file := writeFile(t, "secret", tt.secret+"\n")
			_, err := loadYAML(t, strings.Replace(tt.yaml, "%s", file, 1))
			if p := problemsOf(t, err); !hasProblem(p, tt.key, "") {
				t.Errorf("problems = %q, want one for %s", p, tt.key)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error message leaks the secret: %q", err.Error())
			}
		})
	}
	t.Run("never echoes an inline secret from the environment", func(t *testing.T) {
		_, err := loadYAML(t, "{}", "GATEWAY_STORAGE_DATABASE_URL=mysql://root:hunter2@db/x")
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error = %v, want a problem without the secret", err)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		key    string // "" = valid
		substr string
	}{
		{name: "defaults are valid", modify: func(*Config) {}},
		{name: "seed upstreams are valid", modify: func(c *Config) { c.Upstreams = slices.Clone(seedUpstreams) }},
		{
			name: "duplicate prefix",
			modify: func(c *Config) {
				c.Upstreams = append(slices.Clone(seedUpstreams), Upstream{Name: "other", Prefix: "/api", URL: "http://b", Timeout: time.Second})
			},
			key: "upstreams[2].prefix", substr: "duplicate",
		},
		{
			name: "duplicate name",
			modify: func(c *Config) {
				c.Upstreams = append(slices.Clone(seedUpstreams), Upstream{Name: "api", Prefix: "/v2", URL: "http://b", Timeout: time.Second})
			},
			key: "upstreams[2].name", substr: "duplicate",
		},
		{name: "prefix under /auth", modify: func(c *Config) { c.Upstreams[0].Prefix = "/auth/admin" }, key: "upstreams[0].prefix", substr: "gateway itself"},
		{name: "prefix /auth", modify: func(c *Config) { c.Upstreams[0].Prefix = "/auth" }, key: "upstreams[0].prefix", substr: "gateway itself"},
		{name: "prefix /healthz", modify: func(c *Config) { c.Upstreams[0].Prefix = "/healthz" }, key: "upstreams[0].prefix", substr: "gateway itself"},
		{name: "prefix /authors is not /auth", modify: func(c *Config) { c.Upstreams[0].Prefix = "/authors" }},
		{name: "prefix with trailing slash", modify: func(c *Config) { c.Upstreams[0].Prefix = "/api/" }, key: "upstreams[0].prefix"},
		// Regression: "." and ".." matched the segment pattern, so
		// "/api/../auth" passed as a prefix outside /auth.
		{name: "prefix with dot-dot segment", modify: func(c *Config) { c.Upstreams[0].Prefix = "/api/../auth" }, key: "upstreams[0].prefix", substr: "segments"},
		{name: "prefix with dot segment", modify: func(c *Config) { c.Upstreams[0].Prefix = "/." }, key: "upstreams[0].prefix", substr: "segments"},
		{name: "prefix with dots inside a segment", modify: func(c *Config) { c.Upstreams[0].Prefix = "/v1.2/..x" }},
		{name: "prefix encoded", modify: func(c *Config) { c.Upstreams[0].Prefix = "/a%2Fb" }, key: "upstreams[0].prefix"},
		{name: "upper-case name", modify: func(c *Config) { c.Upstreams[0].Name = "API" }, key: "upstreams[0].name"},
		{name: "no upstream", modify: func(c *Config) { c.Upstreams = nil }, key: "upstreams", substr: "at least one"},
		{name: "zero upstream timeout", modify: func(c *Config) { c.Upstreams[0].Timeout = 0 }, key: "upstreams[0].timeout"},
		{name: "same_site none without secure", modify: func(c *Config) { c.Cookies.SameSite, c.Cookies.Secure = "none", false }, key: "cookies.same_site", substr: "secure"},
		{name: "same_site none with secure", modify: func(c *Config) { c.Cookies.SameSite = "none" }},
		{name: "same_site bogus", modify: func(c *Config) { c.Cookies.SameSite = "loose" }, key: "cookies.same_site"},
		{name: "cookie name with __ prefix", modify: func(c *Config) { c.Cookies.AccessName = "__Host-a" }, key: "cookies.access_name"},
		{name: "same cookie names", modify: func(c *Config) { c.Cookies.RefreshName = c.Cookies.AccessName }, key: "cookies.refresh_name"},
		{name: "cookie domain with path", modify: func(c *Config) { c.Cookies.Domain = "example.com/x" }, key: "cookies.domain"},
		{name: "HS256 without secret", modify: func(c *Config) { c.Tokens.Algorithm = "HS256" }, key: "tokens.hmac_secret", substr: "32 bytes"},
		{name: "HS256 with short secret", modify: func(c *Config) { c.Tokens.Algorithm, c.Tokens.HMACSecret = "HS256", "short" }, key: "tokens.hmac_secret"},
		{name: "HS256 with 32-byte secret", modify: func(c *Config) { c.Tokens.Algorithm, c.Tokens.HMACSecret = "HS256", strings.Repeat("k", 32) }},
		{name: "algorithm none", modify: func(c *Config) { c.Tokens.Algorithm = "none" }, key: "tokens.algorithm"},
		{name: "algorithm case matters", modify: func(c *Config) { c.Tokens.Algorithm = "eddsa" }, key: "tokens.algorithm"},
		{name: "empty keys dir", modify: func(c *Config) { c.Tokens.KeysDir = "" }, key: "tokens.keys_dir"},
		{name: "empty audience", modify: func(c *Config) { c.Tokens.Audience = "" }, key: "tokens.audience"},
		{name: "access ttl below 1s", modify: func(c *Config) { c.Tokens.AccessTTL = 500 * time.Millisecond }, key: "tokens.access_ttl"},
		{name: "negative reuse grace", modify: func(c *Config) { c.Tokens.ReuseGrace = -time.Second }, key: "tokens.reuse_grace"},
		{name: "token cache empty", modify: func(c *Config) { c.Tokens.CacheSize = 0 }, key: "tokens.cache_size"},
		{name: "token cache small", modify: func(c *Config) { c.Tokens.CacheSize = 1 }},
		{name: "sessions redis without redis", modify: func(c *Config) { c.Storage.Sessions = "redis" }, key: "storage.sessions", substr: "redis"},
		{name: "sessions redis with redis url", modify: func(c *Config) { c.Storage.Sessions, c.Storage.Redis.URL = "redis", "redis://127.0.0.1:6379/0" }},
		{name: "sessions redis with cluster", modify: func(c *Config) { c.Storage.Sessions, c.Storage.Redis.Addrs = "redis", []string{"a:7000", "b:7000"} }},
		{name: "sessions bogus", modify: func(c *Config) { c.Storage.Sessions = "memory" }, key: "storage.sessions"},
		{name: "redis url and addrs", modify: func(c *Config) { c.Storage.Redis.URL, c.Storage.Redis.Addrs = "redis://a:6379", []string{"b:6379"} }, key: "storage.redis"},
		{name: "redis url scheme", modify: func(c *Config) { c.Storage.Redis.URL = "http://a:6379" }, key: "storage.redis.url"},
		{name: "redis addr without port", modify: func(c *Config) { c.Storage.Redis.Addrs = []string{"a"} }, key: "storage.redis.addrs[0]"},
		{name: "sentinel without addrs", modify: func(c *Config) { c.Storage.Redis.SentinelMaster = "mymaster" }, key: "storage.redis.sentinel_master"},
		{name: "database url scheme", modify: func(c *Config) { c.Storage.DatabaseURL = "mysql://db/x" }, key: "storage.database_url"},
		{name: "database url empty", modify: func(c *Config) { c.Storage.DatabaseURL = "" }, key: "storage.database_url"},
		{name: "postgres url", modify: func(c *Config) { c.Storage.DatabaseURL = "postgres://u:p@db:5432/gateway?sslmode=disable" }},
		{name: "trusted_proxies garbage", modify: func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "garbage"} }, key: "server.trusted_proxies", substr: `"garbage"`},
		{name: "trusted_proxies bad mask", modify: func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/33"} }, key: "server.trusted_proxies"},
		{name: "trusted_proxies empty entry", modify: func(c *Config) { c.Server.TrustedProxies = []string{""} }, key: "server.trusted_proxies"},
		{name: "trusted_proxies valid", modify: func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "192.168.1.10", "fd00::/8", "::1"} }},
		{name: "empty addr", modify: func(c *Config) { c.Server.Addr = "" }, key: "server.addr"},
		{name: "addr without port", modify: func(c *Config) { c.Server.Addr = "localhost" }, key: "server.addr"},
		{name: "admin addr equals addr", modify: func(c *Config) { c.Server.AdminAddr = c.Server.Addr }, key: "server.admin_addr"},
		{name: "admin addr empty disables", modify: func(c *Config) { c.Server.AdminAddr = "" }},
		{name: "tls cert without key", modify: func(c *Config) { c.Server.TLS.CertFile = "cert.pem" }, key: "server.tls"},
		{name: "zero read header timeout", modify: func(c *Config) { c.Server.ReadHeaderTimeout = 0 }, key: "server.read_header_timeout"},
		{name: "public url with path", modify: func(c *Config) { c.Server.PublicURL = "https://example.com/app" }, key: "server.public_url"},
		{name: "public url without scheme", modify: func(c *Config) { c.Server.PublicURL = "example.com" }, key: "server.public_url"},
		{name: "public url origin", modify: func(c *Config) { c.Server.PublicURL = "https://example.com" }},
		{name: "duplicate header names", modify: func(c *Config) { c.Headers.Email = "x-auth-user-id" }, key: "headers.", substr: "same header"},
		{name: "header name with space", modify: func(c *Config) { c.Headers.Roles = "X Roles" }, key: "headers.roles"},
		{name: "assertion ttl above 5m", modify: func(c *Config) { c.Headers.AssertionTTL = 10 * time.Minute }, key: "headers.assertion_ttl"},
		{name: "assertion ttl unchecked when off", modify: func(c *Config) { c.Headers.SignAssertion, c.Headers.AssertionTTL = false, 0 }},
		{name: "min length zero", modify: func(c *Config) { c.Passwords.MinLength = 0 }, key: "passwords.min_length"},
		{name: "max below min", modify: func(c *Config) { c.Passwords.MaxLength = 8 }, key: "passwords.max_length"},
		{name: "zero parallelism", modify: func(c *Config) { c.Passwords.Parallelism = 0 }, key: "passwords.parallelism"},
		{name: "zero iterations", modify: func(c *Config) { c.Passwords.Iterations = 0 }, key: "passwords.iterations"},
		{name: "tiny memory", modify: func(c *Config) { c.Passwords.MemoryKiB = 4 }, key: "passwords.memory_kib"},
		{name: "negative max concurrent", modify: func(c *Config) { c.Passwords.MaxConcurrent = -1 }, key: "passwords.max_concurrent"},
		{name: "bad role", modify: func(c *Config) { c.Registration.DefaultRoles = []string{"user", "bad role"} }, key: "registration.default_roles[1]"},
		{name: "no default roles", modify: func(c *Config) { c.Registration.DefaultRoles = nil }},
		{name: "zero rate limit", modify: func(c *Config) { c.RateLimits.ForgotPerIP.Limit = 0 }, key: "rate_limits.forgot_per_ip.limit"},
		{name: "sub-second window", modify: func(c *Config) { c.RateLimits.LoginPerIP.Window = time.Millisecond }, key: "rate_limits.login_per_ip.window"},
		{name: "empty policy file", modify: func(c *Config) { c.Policy.File = "" }, key: "policy.file"},
		{name: "smtp without from", modify: func(c *Config) { c.Mail.SMTPURL = "smtp://mail:587" }, key: "mail.from"},
		{name: "smtp bad scheme", modify: func(c *Config) { c.Mail.SMTPURL, c.Mail.From = "http://mail", "a@example.com" }, key: "mail.smtp_url"},
		{name: "smtp valid", modify: func(c *Config) {
			c.Mail.SMTPURL, c.Mail.From, c.Server.PublicURL = "smtps://u:p@mail:465", "Gateway <a@example.com>", "https://gw.example.com"
		}},
		{name: "smtp without public url", modify: func(c *Config) { c.Mail.SMTPURL, c.Mail.From = "smtp://mail:587", "a@example.com" }, key: "server.public_url", substr: "Host header"},
		{name: "smtp url with path", modify: func(c *Config) {
			c.Mail.SMTPURL, c.Mail.From, c.Server.PublicURL = "smtp://u:hunter2@mail:587/x", "a@example.com", "https://gw.example.com"
		}, key: "mail.smtp_url", substr: "path"},
		{name: "smtp url without host", modify: func(c *Config) {
			c.Mail.SMTPURL, c.Mail.From, c.Server.PublicURL = "smtp://u:hunter2@:587", "a@example.com", "https://gw.example.com"
		}, key: "mail.smtp_url"},
		{name: "smtp url password without user", modify: func(c *Config) {
			c.Mail.SMTPURL, c.Mail.From, c.Server.PublicURL = "smtp://:hunter2@mail:587", "a@example.com", "https://gw.example.com"
		}, key: "mail.smtp_url", substr: "user name"},
		{name: "smtp url bad port", modify: func(c *Config) {
			c.Mail.SMTPURL, c.Mail.From, c.Server.PublicURL = "smtp://mail:0", "a@example.com", "https://gw.example.com"
		}, key: "mail.smtp_url", substr: "port"},
		{name: "log mailer needs no public url", modify: func(c *Config) { c.Mail.SMTPURL, c.Server.PublicURL = "", "" }},
		{name: "log level", modify: func(c *Config) { c.Log.Level = "trace" }, key: "log.level"},
		{name: "log format", modify: func(c *Config) { c.Log.Format = "xml" }, key: "log.format"},
		{name: "cors origin with path", modify: func(c *Config) { c.CORS.AllowedOrigins = []string{"https://a.example/app"} }, key: "cors.allowed_origins[0]"},
		{name: "cors wildcard", modify: func(c *Config) { c.CORS.AllowedOrigins = []string{"*"} }, key: "cors.allowed_origins[0]"},
		{name: "cors origin", modify: func(c *Config) { c.CORS.AllowedOrigins = []string{"https://a.example:8443"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			tt.modify(&cfg)
			err := cfg.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want a problem for %s", tt.key)
			}
			p := problemsOf(t, err)
			found := false
			for _, pr := range p {
				if strings.HasPrefix(pr, tt.key) && strings.Contains(pr, tt.substr) {
					found = true
				}
			}
			if !found {
				t.Errorf("problems = %q, want one for %s containing %q", p, tt.key, tt.substr)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := Default()
	cfg.Server.Addr = ""
	cfg.Tokens.Algorithm = "HS256"
	cfg.Log.Level = "loud"
	p := problemsOf(t, cfg.Validate())
	for _, key := range []string{"server.addr", "tokens.hmac_secret", "log.level"} {
		if !hasProblem(p, key, "") {
			t.Errorf("problems = %q, want one for %s", p, key)
		}
	}
	if !slices.IsSorted(p) {
		t.Errorf("problems are not sorted: %q", p)
	}
}

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		in      string
		want    string // "" = error
		matches string // an address the prefix must contain
	}{
		{in: "10.0.0.0/8", want: "10.0.0.0/8", matches: "10.1.2.3"},
		{in: "10.1.2.3/8", want: "10.0.0.0/8"},
		{in: "192.168.1.10", want: "192.168.1.10/32", matches: "192.168.1.10"},
		{in: "::1", want: "::1/128"},
		{in: "fd00::/8", want: "fd00::/8", matches: "fd12::1"},
		{in: "fe80::1%eth0", want: "fe80::1/128"},
		// Regression: peers are compared unmapped, so an IPv4-mapped entry
		// kept as it was would never match anything.
		{in: "::ffff:10.0.0.0/104", want: "10.0.0.0/8", matches: "10.200.0.1"},
		{in: "::ffff:10.0.0.1", want: "10.0.0.1/32", matches: "10.0.0.1"},
		{in: "::ffff:0:0/95"},
		{in: "10.0.0.0/33"},
		{in: "garbage"},
		{in: ""},
		{in: "10.0.0.1:80"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePrefixes([]string{tt.in})
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParsePrefixes(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePrefixes(%q): %v", tt.in, err)
			}
			if len(got) != 1 || got[0].String() != tt.want {
				t.Fatalf("ParsePrefixes(%q) = %v, want [%s]", tt.in, got, tt.want)
			}
			if tt.matches != "" && !got[0].Contains(netip.MustParseAddr(tt.matches)) {
				t.Errorf("%v does not contain %s", got[0], tt.matches)
			}
		})
	}
}
