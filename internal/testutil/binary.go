package testutil

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// BuildHotswap builds the hotswap binary (package hotswap/cmd/hotswap) into dir, with
// version stamped as `hotswap version` prints it, and returns its path. Tests that
// drive real `hotswap` processes call it once (from TestMain or the test).
func BuildHotswap(dir, version string) (string, error) {
	bin := filepath.Join(dir, "hotswap")
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", bin, "hotswap/cmd/hotswap").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build hotswap: %w\n%s", err, out)
	}
	return bin, nil
}
