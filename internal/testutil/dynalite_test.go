//go:build integration && linux

package testutil

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// dynalite, as the scripts start it (tools/dynalite/serve.js), keeps serving after a
// client dies in the middle of a request body. dynalite alone throws from the request's
// error handler and exits: one SIGKILLed hotswap under load took every later test's
// DynamoDB with it.
func TestDynalite_SurvivesAbortedRequest(t *testing.T) {
	bin := os.Getenv("HOTSWAP_DYNALITE")
	if bin == "" {
		t.Fatal("HOTSWAP_DYNALITE is not set: run the tests with `make test`")
	}
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", "0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{}) // closed when the process has exited; waitErr then says how
	var waitErr error
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

	listening := regexp.MustCompile(`listening at: (http://\S+)`)
	var endpoint string
	for endpoint == "" {
		select {
		case l := <-lines:
			if m := listening.FindStringSubmatch(l); m != nil {
				endpoint = m[1]
			}
		case <-exited:
			t.Fatalf("dynalite exited at start: %v", waitErr)
		case <-time.After(20 * time.Second):
			t.Fatal("dynalite did not say where it listens within 20s")
		}
	}

	// Half a request body, then a reset: the server sees the request abort.
	conn, err := net.Dial("tcp", endpoint[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n" +
		"X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 1000\r\n\r\n{\"Limit\":"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the server start reading the body
	_ = conn.(*net.TCPConn).SetLinger(0)
	_ = conn.Close()

	select {
	case <-exited:
		t.Fatalf("dynalite exited after an aborted request: %v", waitErr)
	case <-time.After(300 * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := MustDynamoClient(t, endpoint).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("list tables after an aborted request: %v", err)
	}
}
