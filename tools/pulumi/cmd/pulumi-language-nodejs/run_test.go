package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	pbempty "google.golang.org/protobuf/types/known/emptypb"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// fakeNode puts a `node` first on PATH that answers require.resolve with a path under its
// working directory and otherwise records its working directory, argv and environment in
// dir/record.*, then behaves as $FAKE_NODE says: "exit N", "trap" (exit 0 on SIGINT) or
// "ignore" (ignore SIGINT, run until killed).
func fakeNode(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script := `#!/bin/sh
if [ "$1" = "-e" ]; then printf '%s/node_modules/%s/index.js\n' "$PWD" "$3"; exit 0; fi
rec="` + dir + `/record"
pwd > "$rec.cwd"
for a in "$@"; do printf '%s\n' "$a"; done > "$rec.argv"
printf '%s\n%s\n%s\n' "$PULUMI_CONFIG" "$PULUMI_CONFIG_SECRET_KEYS" "${PULUMI_NODEJS_TYPESCRIPT-unset}" > "$rec.env"
case "$FAKE_NODE" in
exit*) exit "${FAKE_NODE#exit }" ;;
trap) trap 'echo INT > "$rec.signal"; exit 0' INT ;;
ignore) trap 'echo INT > "$rec.signal"' INT ;;
esac
: > "$rec.started"
while :; do sleep 0.05; done
`
	if err := os.WriteFile(filepath.Join(dir, "node"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("PULUMI_LANGUAGE_NODEJS_RUN_PATH", "")
	return dir
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func waitFor(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear", path)
}

// runRequest is what the engine sends for a project whose Pulumi.yaml says `main: prog/`:
// the program directory is root/prog and the entry point ".".
func runRequest(t *testing.T, root, programDir, entry string) *pulumirpc.RunRequest {
	t.Helper()
	opts, err := structpb.NewStruct(map[string]any{"typescript": true})
	if err != nil {
		t.Fatal(err)
	}
	return &pulumirpc.RunRequest{
		Project:          "proj",
		Stack:            "dev",
		Pwd:              programDir,
		Program:          entry,
		MonitorAddress:   "127.0.0.1:1111",
		Parallel:         16,
		Organization:     "organization",
		Config:           map[string]string{"proj:tag": "v1", "command:config:shell": "sh"},
		ConfigSecretKeys: []string{"proj:token"},
		Info: &pulumirpc.ProgramInfo{
			RootDirectory: root, ProgramDirectory: programDir, EntryPoint: entry, Options: opts,
		},
	}
}

// The engine starts the host in the program directory; Run must not move node elsewhere.
func startedIn(t *testing.T, dir string) {
	t.Helper()
	t.Chdir(dir)
}

func TestRun_ArgvFromProgramInfo_AsRealHost(t *testing.T) {
	rec := fakeNode(t)
	root := t.TempDir()
	prog := filepath.Join(root, "prog")
	if err := os.Mkdir(prog, 0o755); err != nil {
		t.Fatal(err)
	}
	startedIn(t, prog)
	t.Setenv("FAKE_NODE", "exit 0")
	h := newHost("127.0.0.1:2222", "")
	resp, err := h.Run(context.Background(), runRequest(t, root, prog, "."))
	if err != nil || resp.GetError() != "" {
		t.Fatalf("Run: %v %q", err, resp.GetError())
	}
	// The runner resolved from the program directory, "--flag value" pairs in upstream's order,
	// --pwd the program directory and the entry point as given ("." for a directory main).
	got := readLines(t, filepath.Join(rec, "record.argv"))
	// node gets the host's own proxy of the engine's monitor.
	if len(got) < 3 || got[2] == "127.0.0.1:1111" || !strings.HasPrefix(got[2], "127.0.0.1:") {
		t.Fatalf("monitor %q, want the host's proxy", got)
	}
	want := []string{
		filepath.Join(prog, "node_modules/@pulumi/pulumi/cmd/run/index.js"),
		"--monitor", got[2],
		"--engine", "127.0.0.1:2222",
		"--organization", "organization",
		"--project", "proj",
		"--root-directory", root,
		"--stack", "dev",
		"--pwd", prog,
		"--parallel", "16",
		".",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("argv\n got %q\nwant %q", got, want)
	}
}

func TestRun_EntryPointFileAndDryRunAndNodeargs_AsRealHost(t *testing.T) {
	rec := fakeNode(t)
	prog := t.TempDir()
	startedIn(t, prog)
	t.Setenv("FAKE_NODE", "exit 0")
	req := runRequest(t, prog, prog, "main.ts")
	req.DryRun = true
	req.Parallel = 0
	req.Organization = ""
	req.Args = []string{"extra"}
	req.Info.Options.Fields["nodeargs"] = structpb.NewStringValue(`--max-old-space-size=64 "--title=a b"`)
	if _, err := newHost("e:1", "").Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := readLines(t, filepath.Join(rec, "record.argv"))
	want := []string{
		"--max-old-space-size=64", "--title=a b",
		filepath.Join(prog, "node_modules/@pulumi/pulumi/cmd/run/index.js"),
		"--monitor", got[4], "--engine", "e:1", "--project", "proj",
		"--root-directory", prog, "--stack", "dev", "--pwd", prog,
		"--dry-run", "--parallel", "0", "main.ts", "extra",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("argv\n got %q\nwant %q", got, want)
	}
}

func TestRun_CwdIsTheHostsProgramDirectory_AsRealHost(t *testing.T) {
	rec := fakeNode(t)
	root := t.TempDir()
	prog := filepath.Join(root, "stacks")
	if err := os.Mkdir(prog, 0o755); err != nil {
		t.Fatal(err)
	}
	startedIn(t, prog)
	t.Setenv("FAKE_NODE", "exit 0")
	// A Pwd different from the program directory must not move node: upstream uses neither for cwd.
	req := runRequest(t, root, prog, ".")
	req.Pwd = root
	if _, err := newHost("e:1", "").Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, filepath.Join(rec, "record.cwd")); got[0] != prog {
		t.Fatalf("node ran in %s, want the host's directory %s", got[0], prog)
	}
	cmd, err := newHost("e:1", "").nodeCommand(context.Background(), req, "node", "run", "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Dir != "" {
		t.Fatalf("cmd.Dir = %q, want it unset", cmd.Dir)
	}
}

func TestRun_ConfigAndTypeScriptEnv_AsRealHost(t *testing.T) {
	rec := fakeNode(t)
	prog := t.TempDir()
	startedIn(t, prog)
	t.Setenv("FAKE_NODE", "exit 0")
	req := runRequest(t, prog, prog, ".")
	if _, err := newHost("e:1", "").Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	env := readLines(t, filepath.Join(rec, "record.env"))
	var cfg map[string]string
	if err := json.Unmarshal([]byte(env[0]), &cfg); err != nil {
		t.Fatal(err)
	}
	// Keys go to the runner in the old <namespace>:config:<name> form.
	want := map[string]string{"proj:config:tag": "v1", "command:config:shell": "sh"}
	if len(cfg) != len(want) || cfg["proj:config:tag"] != "v1" || cfg["command:config:shell"] != "sh" {
		t.Fatalf("PULUMI_CONFIG = %v, want %v", cfg, want)
	}
	if env[1] != `["proj:token"]` || env[2] != "true" {
		t.Fatalf("secret keys %q, typescript %q", env[1], env[2])
	}

	// typescript: false sets no PULUMI_NODEJS_TYPESCRIPT at all.
	req.Info.Options.Fields["typescript"] = structpb.NewBoolValue(false)
	if _, err := newHost("e:1", "").Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, filepath.Join(rec, "record.env"))[2]; got != "unset" {
		t.Fatalf("PULUMI_NODEJS_TYPESCRIPT = %q, want unset", got)
	}
}

func TestRun_ExitCodes_AsRealHost(t *testing.T) {
	fakeNode(t)
	prog := t.TempDir()
	startedIn(t, prog)
	h := newHost("e:1", "")
	t.Setenv("FAKE_NODE", "exit 32")
	if resp, _ := h.Run(context.Background(), runRequest(t, prog, prog, ".")); !resp.GetBail() || resp.GetError() != "" {
		t.Fatalf("exit 32: %v, want bail without an error", resp)
	}
	t.Setenv("FAKE_NODE", "exit 3")
	resp, _ := h.Run(context.Background(), runRequest(t, prog, prog, "."))
	if resp.GetError() != "Program exited with non-zero exit code: 3" || resp.GetBail() {
		t.Fatalf("exit 3: %v", resp)
	}
	if _, err := newHost("", "").Run(context.Background(), runRequest(t, prog, prog, ".")); err == nil {
		t.Fatal("Run without an engine address must fail, as upstream")
	}
}

// runCancelled starts a program that behaves as mode, cancels it with cancel once it runs,
// and returns how long Run took after the cancel.
func runCancelled(t *testing.T, mode string, cancel func(h *host, stop context.CancelFunc)) (*pulumirpc.RunResponse, time.Duration, string) {
	t.Helper()
	rec := fakeNode(t)
	prog := t.TempDir()
	startedIn(t, prog)
	t.Setenv("FAKE_NODE", mode)
	h := newHost("e:1", "")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	type result struct {
		resp *pulumirpc.RunResponse
		at   time.Time
	}
	done := make(chan result, 1)
	go func() {
		resp, err := h.Run(ctx, runRequest(t, prog, prog, "."))
		if err != nil {
			t.Error(err)
		}
		done <- result{resp, time.Now()}
	}()
	waitFor(t, filepath.Join(rec, "record.started"))
	start := time.Now()
	cancel(h, stop)
	select {
	case r := <-done:
		return r.resp, r.at.Sub(start), rec
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the cancel")
		return nil, 0, ""
	}
}

func TestRun_CancelSendsSIGINT_AsRealHost(t *testing.T) {
	engineCancel := func(h *host, _ context.CancelFunc) {
		if _, err := h.Cancel(context.Background(), &pbempty.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	resp, took, rec := runCancelled(t, "trap", engineCancel)
	if got := readLines(t, filepath.Join(rec, "record.signal")); got[0] != "INT" {
		t.Fatalf("signal %q", got)
	}
	if took > 2*time.Second {
		t.Fatalf("a program that exits on SIGINT took %v to stop", took)
	}
	if resp.GetError() == "" {
		t.Fatal("a cancelled run must report an error")
	}
}

func TestRun_RequestEndSendsSIGINT_AsRealHost(t *testing.T) {
	resp, took, rec := runCancelled(t, "trap", func(_ *host, stop context.CancelFunc) { stop() })
	if got := readLines(t, filepath.Join(rec, "record.signal")); got[0] != "INT" || took > 2*time.Second {
		t.Fatalf("signal %q after %v", got, took)
	}
	if resp.GetError() == "" {
		t.Fatal("a cancelled run must report an error")
	}
}

func TestRun_CancelKillsAfter5s_AsRealHost(t *testing.T) {
	engineCancel := func(h *host, _ context.CancelFunc) {
		if _, err := h.Cancel(context.Background(), &pbempty.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	resp, took, rec := runCancelled(t, "ignore", engineCancel)
	if got := readLines(t, filepath.Join(rec, "record.signal")); got[0] != "INT" {
		t.Fatalf("signal %q", got)
	}
	// SIGINT first, SIGKILL 5 s later: not before, and not much after.
	if took < killDelay || took > killDelay+2*time.Second {
		t.Fatalf("a program ignoring SIGINT stopped after %v, want %v", took, killDelay)
	}
	if killDelay != 5*time.Second {
		t.Fatalf("killDelay = %v, upstream waits 5s", killDelay)
	}
	if !strings.Contains(resp.GetError(), "exit code: -1") {
		t.Fatalf("killed run: %q", resp.GetError())
	}
}

func TestRun_OutOfMemoryHint_AsRealHost(t *testing.T) {
	var out strings.Builder
	w := &oomWatch{w: &out}
	for _, chunk := range []string{"some output\n<--- Last few", " GCs --->\n", "more\n"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if !w.detected() || out.String() != "some output\n<--- Last few GCs --->\nmore\n" {
		t.Fatalf("detected %v, passed %q", w.detected(), out.String())
	}
	if (&oomWatch{w: &out}).detected() {
		t.Fatal("nothing written, nothing detected")
	}
}
