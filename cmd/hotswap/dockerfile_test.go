package main_test

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dockerBuild is the Dockerfile's `RUN ... go build ...` line, split into its leading
// environment assignments and the go command's arguments.
type dockerBuild struct {
	env  []string // NAME=VALUE before the command
	args []string // after "go"
}

// TestDockerfile_StaticVersionedBinary builds hotswap exactly as the Dockerfile's build stage
// does (its flags are read from the Dockerfile, not repeated here: no container engine is
// needed) and checks what the image relies on: a static binary (no ELF interpreter, no dynamic
// section, no shared libraries) that runs on distroless/static or scratch, stripped and
// without the build machine's paths (-trimpath), and `hotswap version` printing the
// VERSION build argument. It also checks the runtime stage: non-root, the binary as
// entrypoint.
func TestDockerfile_StaticVersionedBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hotswap from scratch with -trimpath (a minute on a small machine)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	b, stages := parseDockerfile(t, string(src))

	// The build line must say what the image needs; if someone drops a flag, this fails here
	// rather than in a container registry.
	envs := strings.Join(b.env, " ")
	if !strings.Contains(envs, "CGO_ENABLED=0") {
		t.Errorf("Dockerfile go build: want CGO_ENABLED=0 (a static binary), have env %q", envs)
	}
	joined := strings.Join(b.args, " ")
	for _, want := range []string{"build", "-trimpath", "-ldflags", "-X main.version=${VERSION}", "./cmd/hotswap"} {
		if !strings.Contains(joined, want) {
			t.Errorf("Dockerfile go build: %q missing from %q", want, joined)
		}
	}
	if !regexp.MustCompile(`(?m)^ARG VERSION\b`).MatchString(string(src)) {
		t.Error("Dockerfile: no ARG VERSION (the version stamped into the binary)")
	}
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("runtime stage FROM %s: want distroless/static (or scratch with a passwd entry)", final.from)
	}
	if final.user == "" || final.user == "0" || strings.HasPrefix(final.user, "0:") || strings.HasPrefix(final.user, "root") {
		t.Errorf("runtime stage USER %q: want a non-root numeric uid (runAsNonRoot can check only a number)", final.user)
	} else if !regexp.MustCompile(`^[1-9][0-9]*(:[0-9]+)?$`).MatchString(final.user) {
		t.Errorf("runtime stage USER %q: want a numeric uid[:gid] (runAsNonRoot can check only a number)", final.user)
	}
	if !strings.Contains(final.entrypoint, "/usr/local/bin/hotswap") {
		t.Errorf("runtime stage ENTRYPOINT %q: want the hotswap binary", final.entrypoint)
	}

	const version = "v9.9.9-dockerfile-test"
	out := filepath.Join(t.TempDir(), "hotswap")
	args := make([]string, 0, len(b.args))
	for i := 0; i < len(b.args); i++ {
		a := strings.ReplaceAll(strings.ReplaceAll(b.args[i], "${VERSION}", version), "$VERSION", version)
		if a == "-o" && i+1 < len(b.args) {
			args = append(args, "-o", out)
			i++
			continue
		}
		args = append(args, a)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), b.env...)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, o)
	}

	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			t.Error("the binary has an ELF interpreter (PT_INTERP): it is dynamically linked and will not run on distroless/static")
		case elf.PT_DYNAMIC:
			t.Error("the binary has a dynamic section (PT_DYNAMIC): it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: -ldflags -s did not apply")
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(root+"/")) {
		t.Errorf("the binary contains the build directory %s: -trimpath did not apply", root)
	}

	o, err := exec.Command(out, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("hotswap version: %v\n%s", err, o)
	}
	if got, want := strings.TrimSpace(string(o)), "hotswap "+version; got != want {
		t.Errorf("hotswap version printed %q, want %q", got, want)
	}
}

type dockerStage struct {
	from, user, entrypoint string
}

// parseDockerfile returns the go build line and the stages (FROM, last USER, ENTRYPOINT).
// It understands what the Dockerfile uses: line continuations, comments, and shell words
// with single or double quotes.
func parseDockerfile(t *testing.T, src string) (dockerBuild, []dockerStage) {
	t.Helper()
	src = strings.ReplaceAll(src, "\\\n", " ")
	var b dockerBuild
	var stages []dockerStage
	found := 0
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			stages = append(stages, dockerStage{from: strings.Fields(rest)[0]})
		case "USER":
			if len(stages) > 0 {
				stages[len(stages)-1].user = rest
			}
		case "ENTRYPOINT":
			if len(stages) > 0 {
				stages[len(stages)-1].entrypoint = rest
			}
		case "RUN":
			words := shellWords(t, rest)
			i := 0
			for i < len(words) && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(words[i]) {
				i++
			}
			if i+1 < len(words) && words[i] == "go" && words[i+1] == "build" {
				b = dockerBuild{env: words[:i], args: words[i+1:]}
				found++
			}
		}
	}
	if found != 1 {
		t.Fatalf("Dockerfile: want exactly one RUN line with go build, found %d", found)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: want a multi-stage build (build, runtime), found %d stage(s)", len(stages))
	}
	return b, stages
}

// shellWords splits a POSIX shell command line into words (quotes removed, variables left
// as written). Operators (&&, ;, |) are not expected on the build line and fail the test.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'' || c == '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				t.Fatalf("Dockerfile: unbalanced %c in %q", c, s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '&' || c == ';' || c == '|':
			if strings.Contains(s, " go build ") || strings.HasPrefix(s, "go build") {
				t.Fatalf("Dockerfile: keep the go build line one plain command (found %q in %q)", c, s)
			}
			return nil
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
