package deploy_test

// Checks of the deployment files: they parse, every GATEWAY_* variable they
// set names a real configuration key, the configuration they give a gateway
// (a mounted gateway.yaml plus the environment, with the secret files they
// name replaced by local stand-ins) passes config.Load, and the structural
// promises of each file hold (shared signing key, probes, hardening, alert
// rules on the SPEC's metric names).

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/policy"
)

// validEnvNames returns every GATEWAY_* variable config.Load reads: one per
// leaf of config.Default() (named by the mapstructure tags), plus
// GATEWAY_UPSTREAMS, which replaces the upstream list whole.
func validEnvNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{config.EnvPrefix + "_UPSTREAMS": true}
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			if tag == "" {
				t.Fatalf("config field %s%s has no mapstructure tag", prefix, f.Name)
			}
			key := prefix + tag
			switch {
			case f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == typ.PkgPath() && f.Type.NumField() > 0 && f.Type.Name() != "ByteSize":
				walk(key+".", f.Type)
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				// upstreams: GATEWAY_UPSTREAMS (JSON) only.
			default:
				names[config.EnvPrefix+"_"+strings.ToUpper(strings.ReplaceAll(key, ".", "_"))] = true
			}
		}
	}
	walk("", reflect.TypeOf(config.Default()))
	for _, must := range []string{"GATEWAY_SERVER_ADDR", "GATEWAY_STORAGE_REDIS_URL", "GATEWAY_STORAGE_DATABASE_URL_FILE", "GATEWAY_RATE_LIMITS_LOGIN_PER_IP_LIMIT"} {
		if !names[must] {
			t.Fatalf("derived env names miss %s: %v", must, slices.Sorted(maps.Keys(names)))
		}
	}
	return names
}

// secretStandIns is what a secret file named by each *_file key holds in
// these tests: a value of the right shape.
var secretStandIns = map[string]string{
	"GATEWAY_STORAGE_DATABASE_URL_FILE":   "postgres://gateway:secret@postgres:5432/gateway?sslmode=disable",
	"GATEWAY_STORAGE_REDIS_URL_FILE":      "redis://:secret@redis:6379/0",
	"GATEWAY_STORAGE_REDIS_PASSWORD_FILE": "secret",
	"GATEWAY_TOKENS_HMAC_SECRET_FILE":     "0123456789abcdef0123456789abcdef0123456789abcdef",
	"GATEWAY_MAIL_SMTP_URL_FILE":          "smtp://user:secret@mail:587",
}

// loadAsDeployed runs config.Load as the gateway would start: configFile
// (may be "") and env, from an empty working directory, with every secret
// GATEWAY_*_FILE path replaced by a local file holding a stand-in secret.
// check, when not nil, vets each original secret path first.
func loadAsDeployed(t *testing.T, configFile string, env map[string]string, check func(name, path string)) *config.Config {
	t.Helper()
	dir := t.TempDir()
	var environ []string
	for _, name := range slices.Sorted(maps.Keys(env)) {
		val := env[name]
		if standIn, ok := secretStandIns[name]; ok {
			if check != nil {
				check(name, val)
			}
			local := filepath.Join(dir, strings.ToLower(name))
			if err := os.WriteFile(local, []byte(standIn+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			val = local
		}
		environ = append(environ, name+"="+val)
	}
	t.Chdir(dir) // no ./gateway.yaml here: only configFile and env count
	cfg, err := config.Load(configFile, environ)
	if err != nil {
		t.Fatalf("config.Load(%q) with %v:\n%v", configFile, environ, err)
	}
	return cfg
}

func readYAMLDocs(t *testing.T, file string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML document", file)
	}
	return docs
}

// dig walks a decoded YAML tree along keys (string: map key, int: list index).
func dig(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// composeEnv reads a compose service's environment, a map or a KEY=VALUE list.
func composeEnv(t *testing.T, svc string, v any) map[string]string {
	t.Helper()
	env := map[string]string{}
	switch e := v.(type) {
	case nil:
	case map[string]any:
		for k, val := range e {
			s, ok := val.(string)
			if !ok {
				t.Errorf("service %s: environment %s: %v is not a string (quote it)", svc, k, val)
			}
			env[k] = s
		}
	case []any:
		for _, item := range e {
			k, val, _ := strings.Cut(str(item), "=")
			env[k] = val
		}
	default:
		t.Fatalf("service %s: environment is %T", svc, v)
	}
	return env
}

func checkEnvNames(t *testing.T, where string, env map[string]string, valid map[string]bool) {
	t.Helper()
	for name := range env {
		if strings.HasPrefix(name, config.EnvPrefix+"_") && !valid[name] {
			t.Errorf("%s: %s is not a configuration key", where, name)
		}
	}
}

func TestDeployCompose(t *testing.T) {
	valid := validEnvNames(t)
	base, err := os.Getwd() // loadAsDeployed changes the working directory
	if err != nil {
		t.Fatal(err)
	}
	doc := readYAMLDocs(t, "docker-compose.yml")[0]
	services, _ := doc["services"].(map[string]any)
	if len(services) == 0 {
		t.Fatal("no services")
	}
	topSecrets, _ := doc["secrets"].(map[string]any)
	topVolumes, _ := doc["volumes"].(map[string]any)

	var gateways []string
	for _, name := range slices.Sorted(maps.Keys(services)) {
		svc := services[name]
		env := composeEnv(t, name, dig(svc, "environment"))
		checkEnvNames(t, "service "+name, env, valid)
		for _, d := range dependsOn(t, name, dig(svc, "depends_on")) {
			if services[d] == nil {
				t.Errorf("service %s depends on unknown service %s", name, d)
			}
		}
		for _, s := range list(dig(svc, "secrets")) {
			if topSecrets[str(s)] == nil {
				t.Errorf("service %s uses undeclared secret %v", name, s)
			}
		}
		for _, v := range list(dig(svc, "volumes")) {
			src, _, _ := strings.Cut(str(v), ":")
			if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") && topVolumes == nil {
				t.Errorf("service %s uses undeclared volume %s", name, src)
			} else if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if _, ok := topVolumes[src]; !ok {
					t.Errorf("service %s uses undeclared volume %s", name, src)
				}
			}
		}
		if strings.HasPrefix(name, "gateway") {
			gateways = append(gateways, name)
		}
	}
	if !slices.Equal(gateways, []string{"gateway-1", "gateway-2"}) {
		t.Fatalf("gateway services %v, want gateway-1 and gateway-2", gateways)
	}
	for _, need := range []string{"postgres", "redis", "whoami"} {
		if services[need] == nil {
			t.Errorf("no %s service", need)
		}
	}
	for _, need := range []string{"gateway-1", "gateway-2", "postgres", "redis"} {
		if len(list(dig(services[need], "healthcheck", "test"))) == 0 {
			t.Errorf("service %s has no healthcheck", need)
		}
	}
	if test := list(dig(services["gateway-1"], "healthcheck", "test")); len(test) < 3 || str(test[0]) != "CMD" || str(test[2]) != "healthcheck" {
		t.Errorf("gateway healthcheck %v: want the exec form of `gateway healthcheck`", test)
	}

	keyVolumes := map[string]string{} // service -> volume spec holding keys_dir
	for i, name := range gateways {
		svc := services[name]
		wantPort := []string{"8081:8080", "8082:8080"}[i]
		if ports := list(dig(svc, "ports")); len(ports) != 1 || str(ports[0]) != wantPort {
			t.Errorf("%s ports %v, want [%s]", name, ports, wantPort)
		}
		deps := dependsOn(t, name, dig(svc, "depends_on"))
		for _, d := range []string{"postgres", "redis"} {
			if cond := str(dig(svc, "depends_on", d, "condition")); cond != "service_healthy" {
				t.Errorf("%s depends_on %s: condition %q, want service_healthy (deps %v)", name, d, cond, deps)
			}
		}
		env := composeEnv(t, name, dig(svc, "environment"))
		if env["GATEWAY_STORAGE_SESSIONS"] != "redis" || env["GATEWAY_STORAGE_REDIS_URL"] == "" {
			t.Errorf("%s: replicas need sessions in Redis: %v", name, env)
		}
		if _, inline := env["GATEWAY_STORAGE_DATABASE_URL"]; inline {
			t.Errorf("%s: the database URL carries a password: use GATEWAY_STORAGE_DATABASE_URL_FILE", name)
		}
		svcSecrets := list(dig(svc, "secrets"))
		cfg := loadAsDeployed(t, "", env, func(envName, p string) {
			if !strings.HasPrefix(p, "/run/secrets/") || !slices.Contains(svcSecrets, any(path.Base(p))) {
				t.Errorf("%s: %s=%s is not one of its Docker secrets %v", name, envName, p, svcSecrets)
			}
		})
		if !strings.HasPrefix(cfg.Storage.DatabaseURL, "postgres://") {
			t.Errorf("%s: database %q, want PostgreSQL", name, cfg.Storage.DatabaseURL)
		}
		if cfg.Server.AdminAddr != ":9090" {
			t.Errorf("%s: admin_addr %q: Prometheus cannot scrape it from another container", name, cfg.Server.AdminAddr)
		}
		if len(cfg.Upstreams) == 0 || !slices.ContainsFunc(cfg.Upstreams, func(u config.Upstream) bool { return strings.Contains(u.URL, "whoami") }) {
			t.Errorf("%s: upstreams %+v do not reach the whoami service", name, cfg.Upstreams)
		}

		// The policy is mounted read-only where policy.file points.
		var policyMounted bool
		for _, v := range list(dig(svc, "volumes")) {
			parts := strings.Split(str(v), ":")
			if len(parts) >= 2 && parts[1] == cfg.Policy.File {
				policyMounted = len(parts) == 3 && parts[2] == "ro"
				if _, err := os.Stat(filepath.Join(base, filepath.FromSlash(parts[0]))); err != nil {
					t.Errorf("%s: policy source %s: %v", name, parts[0], err)
				}
			}
			// The image's working directory is /data-root: a relative
			// keys_dir lives under it.
			keysDir := cfg.Tokens.KeysDir
			if !path.IsAbs(keysDir) {
				keysDir = path.Join("/data-root", keysDir)
			}
			if len(parts) >= 2 && (keysDir == parts[1] || strings.HasPrefix(keysDir, parts[1]+"/")) {
				keyVolumes[name] = str(v)
			}
		}
		if !policyMounted {
			t.Errorf("%s: policy.file %s is not a read-only mount", name, cfg.Policy.File)
		}
	}
	// Both replicas sign with the same key: one volume, written by at most one.
	k1, k2 := keyVolumes["gateway-1"], keyVolumes["gateway-2"]
	src1, _, _ := strings.Cut(k1, ":")
	src2, _, _ := strings.Cut(k2, ":")
	if k1 == "" || k2 == "" || src1 != src2 {
		t.Errorf("the replicas do not share their keys_dir volume: %q, %q", k1, k2)
	}
	if !strings.HasSuffix(k2, ":ro") || str(dig(services["gateway-2"], "depends_on", "gateway-1", "condition")) != "service_healthy" {
		t.Errorf("gateway-2 must wait for gateway-1 (which creates the key) and mount the keys read-only: %q", k2)
	}
}

// dependsOn lists the services of a depends_on (list or map form).
func dependsOn(t *testing.T, svc string, v any) []string {
	t.Helper()
	var deps []string
	switch d := v.(type) {
	case nil:
	case []any:
		for _, x := range d {
			deps = append(deps, str(x))
		}
	case map[string]any:
		deps = slices.Sorted(maps.Keys(d))
	default:
		t.Errorf("service %s: depends_on is %T", svc, v)
	}
	return deps
}

// k8sAPIVersions are the API versions the manifests must use.
var k8sAPIVersions = map[string]string{
	"Namespace":               "v1",
	"ConfigMap":               "v1",
	"Secret":                  "v1",
	"Service":                 "v1",
	"Deployment":              "apps/v1",
	"HorizontalPodAutoscaler": "autoscaling/v2",
	"PodDisruptionBudget":     "policy/v1",
	"NetworkPolicy":           "networking.k8s.io/v1",
	"Kustomization":           "kustomize.config.k8s.io/v1beta1",
}

func TestDeployKubernetes(t *testing.T) {
	valid := validEnvNames(t)
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	objects := map[string]map[string]any{} // kind/name -> object
	var fileNames []string
	for _, f := range files {
		fileNames = append(fileNames, filepath.Base(f))
		for _, doc := range readYAMLDocs(t, f) {
			kind, apiVersion := str(doc["kind"]), str(doc["apiVersion"])
			want, known := k8sAPIVersions[kind]
			if !known {
				t.Errorf("%s: unexpected kind %q", f, kind)
			} else if apiVersion != want {
				t.Errorf("%s: %s has apiVersion %q, want %q", f, kind, apiVersion, want)
			}
			name := str(dig(doc, "metadata", "name"))
			if kind != "Kustomization" && name == "" {
				t.Errorf("%s: %s without metadata.name", f, kind)
			}
			objects[kind+"/"+name] = doc
		}
	}
	// The kustomization lists every manifest.
	var kust map[string]any
	for key, o := range objects {
		if strings.HasPrefix(key, "Kustomization/") {
			kust = o
		}
	}
	if kust != nil {
		var res []string
		for _, r := range list(kust["resources"]) {
			res = append(res, str(r))
		}
		res = append(res, "kustomization.yaml")
		slices.Sort(res)
		if !slices.Equal(res, fileNames) {
			t.Errorf("kustomization resources %v, files %v", res, fileNames)
		}
	}
	for _, need := range []string{"Deployment/gateway", "Service/gateway", "ConfigMap/gateway-config", "HorizontalPodAutoscaler/gateway", "PodDisruptionBudget/gateway", "Secret/gateway-keys", "Secret/gateway-secrets"} {
		if objects[need] == nil {
			t.Fatalf("no %s among %v", need, slices.Sorted(maps.Keys(objects)))
		}
	}

	dep := objects["Deployment/gateway"]
	if r, _ := dig(dep, "spec", "replicas").(int); r != 3 {
		t.Errorf("replicas %v, want 3", dig(dep, "spec", "replicas"))
	}
	podLabels, _ := dig(dep, "spec", "template", "metadata", "labels").(map[string]any)
	if !reflect.DeepEqual(dig(dep, "spec", "selector", "matchLabels"), map[string]any{"app.kubernetes.io/name": podLabels["app.kubernetes.io/name"]}) {
		t.Errorf("selector %v does not match the pod labels %v", dig(dep, "spec", "selector"), podLabels)
	}
	pod := dig(dep, "spec", "template", "spec")
	if dig(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	containers := list(dig(pod, "containers"))
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	c := containers[0]
	for _, p := range []struct{ probe, path string }{{"readinessProbe", "/readyz"}, {"livenessProbe", "/healthz"}} {
		if got := str(dig(c, p.probe, "httpGet", "path")); got != p.path {
			t.Errorf("%s path %q, want %s", p.probe, got, p.path)
		}
	}
	for _, r := range []string{"requests", "limits"} {
		for _, res := range []string{"cpu", "memory"} {
			if dig(c, "resources", r, res) == nil {
				t.Errorf("resources.%s.%s missing", r, res)
			}
		}
	}
	if dig(c, "securityContext", "readOnlyRootFilesystem") != true || dig(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("container must have readOnlyRootFilesystem and no privilege escalation")
	}
	if !reflect.DeepEqual(dig(c, "securityContext", "capabilities", "drop"), []any{"ALL"}) {
		t.Errorf("capabilities.drop %v, want [ALL]", dig(c, "securityContext", "capabilities", "drop"))
	}

	// Volumes and where they are mounted.
	type mount struct{ kind, source string }
	volumes := map[string]map[string]any{}
	for _, v := range list(dig(pod, "volumes")) {
		volumes[str(dig(v, "name"))] = v.(map[string]any)
	}
	mounts := map[string]mount{} // mountPath -> volume
	for _, m := range list(dig(c, "volumeMounts")) {
		vol := volumes[str(dig(m, "name"))]
		if vol == nil {
			t.Errorf("volumeMount %v names no volume", m)
			continue
		}
		if dig(m, "subPath") != nil {
			t.Errorf("volumeMount %v uses subPath: its files would never update", m)
		}
		var mt mount
		switch {
		case vol["configMap"] != nil:
			mt = mount{"configMap", str(dig(vol, "configMap", "name"))}
		case vol["secret"] != nil:
			mt = mount{"secret", str(dig(vol, "secret", "secretName"))}
			if dig(m, "readOnly") != true {
				t.Errorf("secret mount %v is not readOnly", m)
			}
		case vol["emptyDir"] != nil:
			mt = mount{"emptyDir", ""}
		default:
			t.Errorf("volume %v: unexpected type", vol)
		}
		mounts[path.Clean(str(dig(m, "mountPath")))] = mt
	}
	if (mounts["/tmp"] != mount{"emptyDir", ""}) {
		t.Error("no emptyDir at /tmp for the read-only root filesystem")
	}
	inMount := func(p string) (string, mount, bool) {
		for dir, m := range mounts {
			if path.Dir(p) == dir {
				return dir, m, true
			}
		}
		return "", mount{}, false
	}

	env := map[string]string{}
	for _, e := range list(dig(c, "env")) {
		if dig(e, "valueFrom") != nil {
			t.Errorf("env %v: secrets go through *_FILE and a Secret volume, not valueFrom", dig(e, "name"))
		}
		env[str(dig(e, "name"))] = str(dig(e, "value"))
	}
	checkEnvNames(t, "Deployment/gateway", env, valid)

	// The configuration file: args --config points into the ConfigMap mount.
	args := list(dig(c, "args"))
	i := slices.Index(args, any("--config"))
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("args %v: no --config", args)
	}
	configPath := str(args[i+1])
	dir, m, ok := inMount(configPath)
	if !ok || m.kind != "configMap" {
		t.Fatalf("--config %s is not in a ConfigMap mount (%v)", configPath, mounts)
	}
	cm := objects["ConfigMap/"+m.source]
	if cm == nil {
		t.Fatalf("ConfigMap %s is not among the manifests", m.source)
	}
	local := filepath.Join(t.TempDir(), "gateway.yaml")
	gatewayYAML := str(dig(cm, "data", path.Base(configPath)))
	if gatewayYAML == "" {
		t.Fatalf("ConfigMap %s has no %s", m.source, path.Base(configPath))
	}
	if err := os.WriteFile(local, []byte(gatewayYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := loadAsDeployed(t, local, env, func(name, p string) {
		_, sm, ok := inMount(p)
		if !ok || sm.kind != "secret" {
			t.Errorf("%s=%s is not in a Secret volume", name, p)
			return
		}
		if sec := objects["Secret/"+sm.source]; sec == nil || dig(sec, "stringData", path.Base(p)) == nil && dig(sec, "data", path.Base(p)) == nil {
			t.Errorf("%s=%s: Secret %s has no key %s", name, p, sm.source, path.Base(p))
		}
	})
	if !strings.HasPrefix(cfg.Storage.DatabaseURL, "postgres://") || cfg.Storage.Sessions != "redis" || !cfg.Storage.Redis.Enabled() {
		t.Errorf("replicas need PostgreSQL and Redis sessions: %+v", cfg.Storage)
	}
	// The policy lives in the same ConfigMap mount, so edits reach it live.
	if path.Dir(cfg.Policy.File) != dir || !cfg.Policy.Watch {
		t.Errorf("policy.file %s (watch %v) is not in the ConfigMap mount %s", cfg.Policy.File, cfg.Policy.Watch, dir)
	}
	policyCSV := str(dig(cm, "data", path.Base(cfg.Policy.File)))
	policyFile := filepath.Join(t.TempDir(), "policy.csv")
	if err := os.WriteFile(policyFile, []byte(policyCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Validate(policyFile); err != nil {
		t.Errorf("the ConfigMap's policy.csv: %v", err)
	}
	// The signing keys come from a Secret mounted at keys_dir.
	if km, ok := mounts[path.Clean(cfg.Tokens.KeysDir)]; !ok || km.kind != "secret" {
		t.Errorf("tokens.keys_dir %s is not a Secret mount (%v)", cfg.Tokens.KeysDir, mounts)
	} else {
		keys, _ := dig(objects["Secret/"+km.source], "stringData").(map[string]any)
		for name := range keys {
			if !strings.HasSuffix(name, ".pem") {
				t.Errorf("Secret %s: key %s is not a *.pem file: the gateway would ignore it", km.source, name)
			}
		}
	}
	if cfg.Cookies.Secure != true {
		t.Error("cookies.secure is off in the production manifest")
	}
	if cfg.Server.AdminAddr == "" || strings.HasPrefix(cfg.Server.AdminAddr, "127.") {
		t.Errorf("admin_addr %q cannot be scraped from outside the pod", cfg.Server.AdminAddr)
	}

	// Autoscaling and disruption budget follow the Deployment.
	hpa := objects["HorizontalPodAutoscaler/gateway"]
	if str(dig(hpa, "spec", "scaleTargetRef", "kind")) != "Deployment" || str(dig(hpa, "spec", "scaleTargetRef", "name")) != "gateway" {
		t.Errorf("HPA target %v", dig(hpa, "spec", "scaleTargetRef"))
	}
	if minR, _ := dig(hpa, "spec", "minReplicas").(int); minR < 2 {
		t.Errorf("HPA minReplicas %v", dig(hpa, "spec", "minReplicas"))
	}
	pdb := objects["PodDisruptionBudget/gateway"]
	if !reflect.DeepEqual(dig(pdb, "spec", "selector", "matchLabels"), dig(dep, "spec", "selector", "matchLabels")) {
		t.Error("PDB selector differs from the Deployment's")
	}
	svc := objects["Service/gateway"]
	if !reflect.DeepEqual(dig(svc, "spec", "selector"), dig(dep, "spec", "selector", "matchLabels")) {
		t.Error("Service selector differs from the Deployment's")
	}

	// The NetworkPolicy admits only the gateway's pods to the upstream.
	var np map[string]any
	for key, o := range objects {
		if strings.HasPrefix(key, "NetworkPolicy/") {
			np = o
		}
	}
	if np == nil {
		t.Fatal("no NetworkPolicy")
	}
	if !slices.Contains(list(dig(np, "spec", "policyTypes")), any("Ingress")) {
		t.Error("NetworkPolicy does not restrict ingress")
	}
	from := list(dig(np, "spec", "ingress", 0, "from"))
	if len(list(dig(np, "spec", "ingress"))) != 1 || len(from) != 1 ||
		!reflect.DeepEqual(dig(from[0], "podSelector", "matchLabels"), dig(dep, "spec", "selector", "matchLabels")) ||
		str(dig(from[0], "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name")) != str(dig(dep, "metadata", "namespace")) {
		t.Errorf("NetworkPolicy ingress %v: want exactly the gateway's pods in its namespace", dig(np, "spec", "ingress"))
	}
}

func TestDeployPrometheus(t *testing.T) {
	prom := readYAMLDocs(t, filepath.Join("prometheus", "prometheus.yml"))[0]
	jobs := list(prom["scrape_configs"])
	if len(jobs) == 0 {
		t.Fatal("no scrape_configs")
	}
	for _, j := range jobs {
		if p := str(dig(j, "metrics_path")); p != "" && p != "/metrics" {
			t.Errorf("job %v: metrics_path %q", dig(j, "job_name"), p)
		}
		for _, sc := range list(dig(j, "static_configs")) {
			for _, target := range list(dig(sc, "targets")) {
				if !strings.HasSuffix(str(target), ":9090") {
					t.Errorf("target %v is not an admin listener (:9090)", target)
				}
			}
		}
	}
	var ruleFiles []string
	for _, f := range list(prom["rule_files"]) {
		ruleFiles = append(ruleFiles, str(f))
		if _, err := os.Stat(filepath.Join("prometheus", str(f))); err != nil {
			t.Errorf("rule file %v: %v", f, err)
		}
	}
	if !slices.Contains(ruleFiles, "alerts.yml") {
		t.Errorf("rule_files %v do not load alerts.yml", ruleFiles)
	}

	alerts := readYAMLDocs(t, filepath.Join("prometheus", "alerts.yml"))[0]
	exprs := map[string]string{}
	for _, g := range list(alerts["groups"]) {
		for _, r := range list(dig(g, "rules")) {
			name, expr := str(dig(r, "alert")), str(dig(r, "expr"))
			if name == "" || expr == "" || str(dig(r, "labels", "severity")) == "" || str(dig(r, "annotations", "summary")) == "" {
				t.Errorf("rule %v: needs alert, expr, labels.severity and annotations.summary", r)
			}
			if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") {
				t.Errorf("alert %s: unbalanced expression %q", name, expr)
			}
			exprs[name] = expr
		}
	}
	// Each alert the issue asks for, on the SPEC's metric names.
	for name, parts := range map[string][]string{
		"GatewayLoginFailureSpike":  {"rate(", `gateway_auth_events_total{event="login",result="failure"}`},
		"GatewayRefreshTokenReuse":  {`gateway_auth_events_total{event="refresh",result="reuse_detected"}`, "> 0"},
		"GatewayPolicyReloadFailed": {"increase(", `gateway_policy_reloads_total{result="failure"}`},
		"GatewayUpstream5xxRatio":   {`gateway_upstream_request_duration_seconds_count{status=~"5.."}`, "/", "gateway_upstream_request_duration_seconds_count["},
		"GatewayHighLatencyP99":     {"histogram_quantile(0.99", "gateway_http_request_duration_seconds_bucket", "by (le)"},
	} {
		expr, ok := exprs[name]
		if !ok {
			t.Errorf("no alert %s (have %v)", name, slices.Sorted(maps.Keys(exprs)))
			continue
		}
		for _, p := range parts {
			if !strings.Contains(expr, p) {
				t.Errorf("alert %s: expression %q lacks %q", name, expr, p)
			}
		}
	}
}
