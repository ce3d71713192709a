// Package test renders deploy/kubernetes with kustomize's Go API (the base, the flagd
// overlay and the Jobs), decodes every object strictly into the Kubernetes API types, so
// a misspelt field fails, and checks what the sidecar pattern relies on.
package test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"hotswap/flags"
	"hotswap/translate"
)

// objects is one kustomization's output, decoded.
type objects struct {
	dir          string
	deployments  []*appsv1.Deployment
	jobs         []*batchv1.Job
	services     []*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	serviceAccts []*corev1.ServiceAccount
}

func render(t *testing.T, dir string) *objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join("..", dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	o := &objects{dir: dir, configMaps: map[string]*corev1.ConfigMap{}}
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("%s: %s/%s", dir, r.GetKind(), r.GetName())
		strict := func(into any) {
			if err := yaml.UnmarshalStrict(b, into); err != nil {
				t.Errorf("%s does not decode strictly into the Kubernetes type: %v", id, err)
			}
		}
		switch r.GetKind() {
		case "Deployment":
			var d appsv1.Deployment
			strict(&d)
			o.deployments = append(o.deployments, &d)
		case "Job":
			var j batchv1.Job
			strict(&j)
			o.jobs = append(o.jobs, &j)
		case "Service":
			var s corev1.Service
			strict(&s)
			o.services = append(o.services, &s)
		case "ConfigMap":
			var c corev1.ConfigMap
			strict(&c)
			o.configMaps[c.Name] = &c
		case "ServiceAccount":
			var s corev1.ServiceAccount
			strict(&s)
			o.serviceAccts = append(o.serviceAccts, &s)
		default:
			t.Errorf("%s: a kind this test does not decode: add it", id)
		}
	}
	return o
}

// hotswapFlags: the flags each hotswap command accepts, from its --help, so that a
// HOTSWAP_* variable naming no flag (silently ignored by hotswap) fails here.
var hotswapFlags = map[string]map[string]bool{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hotswap-deploy-test")
	if err != nil {
		panic(err)
	}
	bin := filepath.Join(dir, "hotswap")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hotswap")
	build.Dir = filepath.Join("..", "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build hotswap: %v\n%s", err, out)
		os.Exit(1)
	}
	re := regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`)
	for _, cmd := range []string{"serve", "backfill", "verify", "table create"} {
		out, err := exec.Command(bin, append(strings.Fields(cmd), "--help")...).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "hotswap %s --help: %v\n%s", cmd, err, out)
			os.Exit(1)
		}
		hotswapFlags[cmd] = map[string]bool{}
		for _, m := range re.FindAllStringSubmatch(string(out), -1) {
			hotswapFlags[cmd][m[1]] = true
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func container(cs []corev1.Container, name string) (int, *corev1.Container) {
	for i := range cs {
		if cs[i].Name == name {
			return i, &cs[i]
		}
	}
	return -1, nil
}

// env returns the container's variables: its envFrom ConfigMaps first, then env (which
// wins, as in Kubernetes). valueFrom entries map to "".
func env(t *testing.T, o *objects, c *corev1.Container) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		cm := o.configMaps[ef.ConfigMapRef.Name]
		if cm == nil {
			t.Errorf("%s: container %s: envFrom names ConfigMap %s, which the output lacks", o.dir, c.Name, ef.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			vars[k] = v
		}
	}
	for _, e := range c.Env {
		vars[e.Name] = e.Value
	}
	return vars
}

// checkHotswapEnv: every HOTSWAP_* variable names a flag of the command. The shared
// hotswap-env ConfigMap also reaches `table create`, which takes fewer flags (hotswap
// ignores the others): for it only the container's own env is checked.
func checkHotswapEnv(t *testing.T, where, cmd string, c *corev1.Container, vars map[string]string) {
	t.Helper()
	known := hotswapFlags[cmd]
	for k := range vars {
		if !strings.HasPrefix(k, "HOTSWAP_") {
			continue
		}
		if cmd == "table create" && !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == k }) {
			continue
		}
		flag := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, "HOTSWAP_")), "_", "-")
		if !known[flag] {
			t.Errorf("%s: %s names no flag of hotswap %s (--%s)", where, k, cmd, flag)
		}
	}
}

// mountedFile returns the content of the file at p as the container sees it: p's
// directory must be a volumeMount (no subPath) of a ConfigMap volume in the output.
func mountedFile(t *testing.T, o *objects, spec *corev1.PodSpec, c *corev1.Container, p string) []byte {
	t.Helper()
	dir, file := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		if m.SubPath != "" {
			t.Errorf("%s: %s mounts %s with subPath: ConfigMap updates never reach it", o.dir, c.Name, dir)
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.ConfigMap == nil {
				t.Fatalf("%s: %s: volume %s at %s is not a ConfigMap", o.dir, c.Name, v.Name, dir)
			}
			cm := o.configMaps[v.ConfigMap.Name]
			if cm == nil {
				t.Fatalf("%s: %s: volume %s names ConfigMap %s, which the output lacks", o.dir, c.Name, v.Name, v.ConfigMap.Name)
			}
			data, ok := cm.Data[file]
			if !ok {
				t.Fatalf("%s: %s: ConfigMap %s has no key %s (the file %s)", o.dir, c.Name, cm.Name, file, p)
			}
			return []byte(data)
		}
		t.Fatalf("%s: %s: mount %s names volume %s, which the pod lacks", o.dir, c.Name, dir, m.Name)
	}
	t.Fatalf("%s: %s reads %s, but nothing is mounted at %s", o.dir, c.Name, p, dir)
	return nil
}

// checkMappingAndFlags loads the mapping with hotswap's parser and the flags with its
// flagd evaluator, and checks that every family's flag is in the flags with a stage range.
func checkMappingAndFlags(t *testing.T, where string, mapping, flagData []byte) *translate.Mapping {
	t.Helper()
	m, err := translate.ParseMapping(mapping, "mapping.yaml")
	if err != nil {
		t.Fatalf("%s: the mapping does not load: %v", where, err)
	}
	if len(m.Families) == 0 {
		t.Errorf("%s: the mapping has no families", where)
	}
	if flagData == nil {
		return m
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	src, err := flags.OpenBytes(ctx, flagData, nil)
	if err != nil {
		t.Fatalf("%s: the flags do not load: %v", where, err)
	}
	defer src.Close()
	for _, f := range m.Families {
		lo, hi, ok, err := flags.StageRange(flagData, f.Flag)
		if err != nil || !ok {
			t.Errorf("%s: family %s: flag %s: no stage range (ok %v, err %v)", where, f.Name, f.Flag, ok, err)
			continue
		}
		// As shipped, a migration starts with every entity at off.
		if lo != translate.StageOff || hi != translate.StageOff {
			t.Errorf("%s: family %s: flag %s gives stages %v..%v; ship it at off..off", where, f.Name, f.Flag, lo, hi)
		}
		if st := src.Stage(ctx, f, []byte("42")); st != translate.StageOff {
			t.Errorf("%s: family %s: entity 42 evaluates to %v, want off", where, f.Name, st)
		}
	}
	return m
}

func port(t *testing.T, hostPort string) (string, int32) {
	t.Helper()
	host, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatalf("%q: %v", hostPort, err)
	}
	var n int32
	fmt.Sscan(p, &n)
	return host, n
}

func containerPort(c *corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func nonRoot(spec *corev1.PodSpec, c *corev1.Container) bool {
	if c.SecurityContext != nil && c.SecurityContext.RunAsNonRoot != nil {
		return *c.SecurityContext.RunAsNonRoot
	}
	return spec.SecurityContext != nil && spec.SecurityContext.RunAsNonRoot != nil && *spec.SecurityContext.RunAsNonRoot
}

func readOnlyRoot(c *corev1.Container) bool {
	return c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem
}

// checkSidecarDeployment checks the sidecar pattern in base and its overlays; flagd says
// whether the flags come from a flagd sidecar.
func checkSidecarDeployment(t *testing.T, o *objects, flagd bool) {
	if len(o.deployments) != 1 {
		t.Fatalf("%s: want one Deployment, have %d", o.dir, len(o.deployments))
	}
	d := o.deployments[0]
	spec := &d.Spec.Template.Spec
	hi, hs := container(spec.InitContainers, "hotswap")
	if hs == nil {
		t.Fatalf("%s: no hotswap init container (a native sidecar)", o.dir)
	}
	if hs.RestartPolicy == nil || *hs.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("%s: hotswap init container: restartPolicy must be Always (a native sidecar), is %v", o.dir, hs.RestartPolicy)
	}
	if strings.HasPrefix(hs.Image, "hotswap") || !strings.Contains(hs.Image, ":") {
		t.Errorf("%s: hotswap image %q: the images transformer did not apply", o.dir, hs.Image)
	}
	if len(hs.Args) == 0 || hs.Args[0] != "serve" {
		t.Errorf("%s: hotswap args %v: want serve", o.dir, hs.Args)
	}
	vars := env(t, o, hs)
	checkHotswapEnv(t, o.dir+": sidecar", "serve", hs, vars)

	// Admin on the pod IP, probes on it.
	adminHost, adminPort := port(t, vars["HOTSWAP_ADMIN"])
	if adminHost != "0.0.0.0" && adminHost != "" {
		t.Errorf("%s: HOTSWAP_ADMIN %q: the kubelet's probes come from outside the pod's loopback: listen on 0.0.0.0", o.dir, vars["HOTSWAP_ADMIN"])
	}
	if p := containerPort(hs, "admin"); p != adminPort {
		t.Errorf("%s: port admin is %d, hotswap's admin listens on %d", o.dir, p, adminPort)
	}
	probes := map[string]*corev1.Probe{"startup": hs.StartupProbe, "readiness": hs.ReadinessProbe, "liveness": hs.LivenessProbe}
	wantPath := map[string]string{"startup": "/readyz", "readiness": "/readyz", "liveness": "/healthz"}
	for kind, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: hotswap has no HTTP %s probe", o.dir, kind)
			continue
		}
		if p.HTTPGet.Path != wantPath[kind] {
			t.Errorf("%s: %s probe path %s, want %s", o.dir, kind, p.HTTPGet.Path, wantPath[kind])
		}
		if p.HTTPGet.Port.String() != "admin" && p.HTTPGet.Port.IntVal != adminPort {
			t.Errorf("%s: %s probe port %s is not the admin port", o.dir, kind, p.HTTPGet.Port.String())
		}
	}

	// The application talks to hotswap on loopback.
	listenHost, listenPort := port(t, vars["HOTSWAP_LISTEN"])
	if listenHost != "127.0.0.1" {
		t.Errorf("%s: HOTSWAP_LISTEN %s: the application is in the pod: loopback only", o.dir, vars["HOTSWAP_LISTEN"])
	}
	if len(spec.Containers) == 0 {
		t.Fatalf("%s: no application container", o.dir)
	}
	app := &spec.Containers[0]
	if got, want := env(t, o, app)["REDIS_URL"], fmt.Sprintf("redis://127.0.0.1:%d", listenPort); got != want {
		t.Errorf("%s: the application's REDIS_URL is %q, want %q (hotswap)", o.dir, got, want)
	}

	// Security.
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		if !readOnlyRoot(&c) {
			t.Errorf("%s: container %s: readOnlyRootFilesystem must be true", o.dir, c.Name)
		}
		if !nonRoot(spec, &c) {
			t.Errorf("%s: container %s: runAsNonRoot must be true", o.dir, c.Name)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: container %s: set a CPU request and a memory limit", o.dir, c.Name)
		}
	}
	if spec.ServiceAccountName == "" {
		t.Errorf("%s: no serviceAccountName (AWS credentials come from it)", o.dir)
	}
	checkServiceAccount(t, o, spec.ServiceAccountName)

	// Draining: the grace period covers hotswap's shutdown timeout with room to spare.
	shutdown := 10 * time.Second
	if s := vars["HOTSWAP_SHUTDOWN_TIMEOUT"]; s != "" {
		var err error
		if shutdown, err = time.ParseDuration(s); err != nil {
			t.Errorf("%s: HOTSWAP_SHUTDOWN_TIMEOUT %q: %v", o.dir, s, err)
		}
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second < shutdown+20*time.Second {
		t.Errorf("%s: terminationGracePeriodSeconds %v: want at least the shutdown timeout (%v) + 20 s for the application's own drain", o.dir, g, shutdown)
	}

	// Mapping and flags: mounted where the variables say, and loadable by hotswap.
	mapping := mountedFile(t, o, spec, hs, vars["HOTSWAP_MAPPING"])
	var flagData []byte
	if flagd {
		if vars["HOTSWAP_FLAGS"] != "" {
			t.Errorf("%s: both HOTSWAP_FLAGS and HOTSWAP_FLAGD are set", o.dir)
		}
		fi, fd := container(spec.InitContainers, "flagd")
		if fd == nil {
			t.Fatalf("%s: no flagd sidecar", o.dir)
		}
		if fi > hi {
			t.Errorf("%s: flagd is init container %d, after hotswap (%d): hotswap would wait for flags that never come", o.dir, fi, hi)
		}
		if fd.RestartPolicy == nil || *fd.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Errorf("%s: flagd: restartPolicy must be Always", o.dir)
		}
		host, p := port(t, vars["HOTSWAP_FLAGD"])
		if host != "127.0.0.1" {
			t.Errorf("%s: HOTSWAP_FLAGD %q: flagd is in the pod", o.dir, vars["HOTSWAP_FLAGD"])
		}
		args := strings.Join(fd.Args, " ")
		if !strings.Contains(args, fmt.Sprintf("--sync-port %d", p)) {
			t.Errorf("%s: flagd args %q: its sync port must be %d (HOTSWAP_FLAGD)", o.dir, args, p)
		}
		uri := regexp.MustCompile(`--uri file:(\S+)`).FindStringSubmatch(args)
		if uri == nil {
			t.Fatalf("%s: flagd args %q: no --uri file:...", o.dir, args)
		}
		flagData = mountedFile(t, o, spec, fd, uri[1])
		for _, m := range hs.VolumeMounts {
			if m.Name == "flags" {
				t.Errorf("%s: hotswap still mounts the flag file", o.dir)
			}
		}
	} else {
		if vars["HOTSWAP_FLAGD"] != "" {
			t.Errorf("%s: HOTSWAP_FLAGD set in the file-flags base", o.dir)
		}
		flagData = mountedFile(t, o, spec, hs, vars["HOTSWAP_FLAGS"])
	}
	checkMappingAndFlags(t, o.dir, mapping, flagData)
	// The flags ConfigMap keeps its name (no content hash), so an edit reaches running pods
	// through the volume's ..data swap instead of rolling them.
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil && strings.HasPrefix(v.ConfigMap.Name, "hotswap-flags") && v.ConfigMap.Name != "hotswap-flags" {
			t.Errorf("%s: volume %s: ConfigMap %s has a hash suffix: a flag change would roll the pods instead of reloading", o.dir, v.Name, v.ConfigMap.Name)
		}
	}

	// Prometheus: pod annotations and a Service on the admin port.
	ann := d.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" || ann["prometheus.io/port"] != fmt.Sprint(adminPort) {
		t.Errorf("%s: pod annotations %v: want prometheus.io/scrape true, path /metrics, port %d", o.dir, ann, adminPort)
	}
	found := false
	for _, s := range o.services {
		if s.Annotations["prometheus.io/scrape"] != "true" {
			continue
		}
		found = true
		for k, v := range s.Spec.Selector {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("%s: Service %s selects %s=%s, which the pods lack", o.dir, s.Name, k, v)
			}
		}
		if s.Annotations["prometheus.io/port"] != fmt.Sprint(adminPort) || len(s.Spec.Ports) == 0 || s.Spec.Ports[0].TargetPort.String() != "admin" {
			t.Errorf("%s: Service %s: want port %d targeting admin", o.dir, s.Name, adminPort)
		}
	}
	if !found {
		t.Errorf("%s: no Service annotated for Prometheus scraping", o.dir)
	}
}

func checkServiceAccount(t *testing.T, o *objects, name string) {
	t.Helper()
	for _, sa := range o.serviceAccts {
		if sa.Name == name {
			if sa.Annotations["eks.amazonaws.com/role-arn"] == "" {
				t.Errorf("%s: ServiceAccount %s: no eks.amazonaws.com/role-arn (IRSA)", o.dir, name)
			}
			return
		}
	}
	t.Errorf("%s: the pods use ServiceAccount %s, which the output lacks", o.dir, name)
}

func TestBase(t *testing.T) {
	checkSidecarDeployment(t, render(t, "base"), false)
}

func TestOverlayFlagd(t *testing.T) {
	checkSidecarDeployment(t, render(t, "overlays/flagd"), true)
}

// TestJobs: table create, backfill and verify as Jobs, with the sidecars' configuration.
func TestJobs(t *testing.T) {
	for _, tc := range []struct {
		dir, cmd string
		jobs     int
	}{
		{"jobs/table-create", "table create", 1},
		{"jobs/backfill", "backfill", 3},
		{"jobs/verify", "verify", 3},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			o := render(t, tc.dir)
			if len(o.jobs) != tc.jobs {
				t.Fatalf("%s: want %d Jobs, have %d", tc.dir, tc.jobs, len(o.jobs))
			}
			families := map[string]bool{}
			for _, j := range o.jobs {
				spec := &j.Spec.Template.Spec
				if len(spec.Containers) != 1 {
					t.Fatalf("%s: Job %s: want one container", tc.dir, j.Name)
				}
				c := &spec.Containers[0]
				where := tc.dir + ": Job " + j.Name
				if got := strings.Join(c.Args, " "); got != tc.cmd {
					t.Errorf("%s: args %q, want %q", where, got, tc.cmd)
				}
				if strings.HasPrefix(c.Image, "hotswap") {
					t.Errorf("%s: image %q: the images transformer did not apply", where, c.Image)
				}
				if spec.RestartPolicy != corev1.RestartPolicyNever && spec.RestartPolicy != corev1.RestartPolicyOnFailure {
					t.Errorf("%s: restartPolicy %q", where, spec.RestartPolicy)
				}
				if !readOnlyRoot(c) || !nonRoot(spec, c) {
					t.Errorf("%s: want readOnlyRootFilesystem and runAsNonRoot", where)
				}
				checkServiceAccount(t, o, spec.ServiceAccountName)
				vars := env(t, o, c)
				checkHotswapEnv(t, where, tc.cmd, c, vars)
				mapping := mountedFile(t, o, spec, c, vars["HOTSWAP_MAPPING"])
				var flagData []byte
				if vars["HOTSWAP_FLAGS"] != "" {
					flagData = mountedFile(t, o, spec, c, vars["HOTSWAP_FLAGS"])
				}
				m := checkMappingAndFlags(t, where, mapping, flagData)
				if tc.cmd == "table create" {
					continue
				}
				fam := vars["HOTSWAP_FAMILY"]
				if m.Family(fam) == nil {
					t.Errorf("%s: HOTSWAP_FAMILY %q is no family of the mapping", where, fam)
				}
				if flagData == nil {
					t.Errorf("%s: no HOTSWAP_FLAGS: the stage of each entity would be the family's floor", where)
				}
				if u := vars["HOTSWAP_UNMIGRATABLE"]; u != "" {
					ok := false
					for _, vm := range c.VolumeMounts {
						if strings.HasPrefix(u, vm.MountPath+"/") && !vm.ReadOnly {
							ok = true
						}
					}
					if !ok {
						t.Errorf("%s: HOTSWAP_UNMIGRATABLE %s is on the read-only root filesystem", where, u)
					}
				}
				families[fam] = true
			}
			if tc.cmd != "table create" {
				// One Job per family of the mapping.
				m := checkMappingAndFlags(t, tc.dir, []byte(o.configMaps[firstMappingCM(o)].Data["mapping.yaml"]), nil)
				for _, f := range m.Families {
					if !families[f.Name] {
						t.Errorf("%s: no Job for family %s", tc.dir, f.Name)
					}
				}
			}
		})
	}
}

func firstMappingCM(o *objects) string {
	for name := range o.configMaps {
		if strings.HasPrefix(name, "hotswap-mapping") {
			return name
		}
	}
	return ""
}
