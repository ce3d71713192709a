//go:build integration

package observe_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"hotswap/observe"
)

// artifactDir is where tests leave files for people to look at: $HOTSWAP_ARTIFACTS,
// else a new directory under the system's temp dir (kept after the test).
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HOTSWAP_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "hotswap-artifacts-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chromium finds the browser; its absence fails the test, since `make test`
// installs it (scripts/deps.sh).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run `make test` (scripts/deps.sh installs the Debian packages chromium and chromium-driver)")
	return ""
}

// The status page in a real headless Chromium: it loads without console errors and
// shows the families, their stages and the numbers the traffic caused.
func TestPage_Chromium(t *testing.T) {
	browser := chromium(t)
	e := mustStartObs(t)
	const n = 7
	e.traffic(t, n)
	deadline := time.Now().Add(10 * time.Second)
	var sum observe.Summary
	for {
		_, body := httpGet(t, "http://"+e.admin+"/summary")
		if err := json.Unmarshal([]byte(body), &sum); err != nil {
			t.Fatalf("/summary: %v\n%s", err, body)
		}
		if sum.Shadow != nil && sum.Shadow.Total.Match >= 2*n || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // root in CI
		chromedp.WindowSize(1400, 1200),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
				problems = append(problems, fmt.Sprintf("log %s: %s %s", ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
			}
		}
	}); err != nil {
		t.Fatalf("chromium (%s): %v", browser, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+e.admin+"/"),
		chromedp.WaitVisible("#families"),
	); err != nil {
		t.Fatalf("chromium (%s): %v", browser, err)
	}
	text := func(sel string) string {
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("chromium: text of %s: %v", sel, err)
		}
		return s
	}
	families, traffic, header, backends, fleet := text("#families"), text("#traffic"), text("header"), text("#backends"), text("#fleet")
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("chromium: screenshot: %v", err)
	}
	dir := artifactDir(t)
	shot := filepath.Join(dir, "status-page.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("status page screenshot: %s", shot)

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser reported: %s", p)
	}
	for _, f := range stageFamilies {
		if !strings.Contains(families, f.name) {
			t.Errorf("family %s not on the page:\n%s", f.name, families)
		}
	}
	// Each family served 2n commands, all at its stage: the legend says 100%.
	for _, f := range stageFamilies {
		if !strings.Contains(families, f.stage+" 100%") {
			t.Errorf("stage mix %q not on the page:\n%s", f.stage+" 100%", families)
		}
	}
	if !strings.Contains(families, fmt.Sprintf("%d recent", 2*n)) {
		t.Errorf("per-family command count %d not on the page:\n%s", 2*n, families)
	}
	if !strings.Contains(families, "100.00%") {
		t.Errorf("shadow agreement not on the page:\n%s", families)
	}
	total := 5*2*n + n + 1 // the families' SETs and GETs, the plain SETs, one HGET
	if !strings.Contains(traffic, fmt.Sprint(total)) {
		t.Errorf("total commands %d not on the page:\n%s", total, traffic)
	}
	if !strings.Contains(header, "ready") || !strings.Contains(header, "obs-test") {
		t.Errorf("header: %q", header)
	}
	for _, b := range []string{"redis", "dynamodb"} {
		if !strings.Contains(backends, b) {
			t.Errorf("backend %s not on the page:\n%s", b, backends)
		}
	}
	if !strings.Contains(fleet, "obs-test") || !strings.Contains(fleet, "r1") {
		t.Errorf("fleet from /status not rendered:\n%s", fleet)
	}
}
