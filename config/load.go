package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// EnvPrefix prefixes every environment override.
const EnvPrefix = "GATEWAY"

// DefaultFile is read when no --config is given and it exists.
const DefaultFile = "gateway.yaml"

// Error lists every configuration problem found at once.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

// Load builds the configuration from the defaults, then the YAML file at path
// (or ./gateway.yaml when path is empty and that file exists), then GATEWAY_*
// variables from environ (os.Environ() in production; tests pass their own).
// It reads *_file secrets and validates the result.
func Load(path string, environ []string) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	setDefaults(v, "", reflect.ValueOf(Default()))

	if path == "" {
		if _, err := os.Stat(DefaultFile); err == nil {
			path = DefaultFile
		}
	}
	if path != "" {
		f, err := os.Open(path) // #nosec G304 -- the configuration file named by --config
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		err = v.ReadConfig(f)
		_ = f.Close() // read-only: the read error is the one that matters
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
	}

	// Environment: viper's AutomaticEnv reads the process environment; we
	// bind explicitly from environ instead so that tests stay hermetic and
	// the set of variables is exactly the set of known keys.
	env := envMap(environ)
	for _, key := range v.AllKeys() {
		name := EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		if val, ok := env[name]; ok {
			v.Set(key, val)
		}
	}
	// Lists of structs are not in AllKeys as leaves; allow replacing them.
	if val, ok := env[EnvPrefix+"_UPSTREAMS"]; ok {
		v.Set("upstreams", val)
	}

	var cfg Config
	var problems []string
	err := v.UnmarshalExact(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.DecodeHook = decodeHook
		dc.WeaklyTypedInput = true
	})
	// Keys whose value could not be decoded or read: their zero value would
	// only add a confusing second problem from Validate.
	var failed []string
	if err != nil {
		for _, pr := range flattenDecodeErrors(err) {
			key, _, _ := strings.Cut(pr, ": ")
			failed = append(failed, key)
			problems = append(problems, pr)
		}
	}
	for i := range cfg.Upstreams {
		if cfg.Upstreams[i].Timeout == 0 {
			cfg.Upstreams[i].Timeout = DefaultUpstreamTimeout
		}
	}
	// Browsers and Go spell it Lax, operators write either.
	cfg.Cookies.SameSite = strings.ToLower(cfg.Cookies.SameSite)
	secretProblems, secretKeys := cfg.readSecretFiles()
	problems = append(problems, secretProblems...)
	failed = append(failed, secretKeys...)
	if err := cfg.Validate(); err != nil {
		var ve *Error
		if errors.As(err, &ve) {
			for _, pr := range ve.Problems {
				if key, _, _ := strings.Cut(pr, ": "); !coveredBy(key, failed) {
					problems = append(problems, pr)
				}
			}
		} else {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, &Error{Problems: slices.Compact(problems)}
	}
	return &cfg, nil
}

// coveredBy reports whether key is one of keys or lies under one of them
// ("server.addr" and "server.tls.cert_file" under "server", "upstreams[0].url"
// under "upstreams").
func coveredBy(key string, keys []string) bool {
	for _, k := range keys {
		if key == k || strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") {
			return true
		}
	}
	return false
}

// setDefaults registers every leaf of the default Config with viper so that
// each key is known (and therefore overridable from the environment).
func setDefaults(v *viper.Viper, prefix string, val reflect.Value) {
	t := val.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := joinKey(prefix, f.Tag.Get("mapstructure"))
		fv := val.Field(i)
		if fv.Kind() == reflect.Struct {
			setDefaults(v, key, fv)
			continue
		}
		v.SetDefault(key, fv.Interface())
	}
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string)
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix+"_") {
			m[k] = val
		}
	}
	return m
}

// readSecretFiles fills each secret from its *_file companion; when both are
// set, the file wins. It returns one problem per unreadable or empty file,
// keyed by the *_file key, and the secrets' own keys that it could not fill.
// Neither ever contains a secret: only the key, the file name and the OS
// error.
func (c *Config) readSecretFiles() (problems, failedKeys []string) {
	type secret struct {
		key, fileKey string
		value, file  *string
	}
	secrets := []secret{
		{"storage.database_url", "storage.database_url_file", &c.Storage.DatabaseURL, &c.Storage.DatabaseURLFile},
		{"storage.redis.url", "storage.redis.url_file", &c.Storage.Redis.URL, &c.Storage.Redis.URLFile},
		{"storage.redis.password", "storage.redis.password_file", &c.Storage.Redis.Password, &c.Storage.Redis.PasswordFile},
		{"tokens.hmac_secret", "tokens.hmac_secret_file", &c.Tokens.HMACSecret, &c.Tokens.HMACSecretFile},
		{"mail.smtp_url", "mail.smtp_url_file", &c.Mail.SMTPURL, &c.Mail.SMTPURLFile},
	}
	for _, s := range secrets {
		if *s.file == "" {
			continue
		}
		b, err := os.ReadFile(*s.file)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: cannot read secret file %q: %v", s.fileKey, *s.file, unwrapPathError(err)))
			failedKeys = append(failedKeys, s.key)
			continue
		}
		// A trailing newline is an artefact of editors and `echo`, never
		// part of a secret.
		*s.value = strings.TrimRight(string(b), "\r\n")
		if *s.value == "" {
			problems = append(problems, fmt.Sprintf("%s: secret file %q is empty", s.fileKey, *s.file))
			failedKeys = append(failedKeys, s.key)
		}
	}
	return problems, failedKeys
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
