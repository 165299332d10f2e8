package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/shlex"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/nodejs/npm"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const (
	// defaultRunPath is the SDK's program runner, resolved from the program directory;
	// PULUMI_LANGUAGE_NODEJS_RUN_PATH overrides it, as upstream.
	defaultRunPath = "@pulumi/pulumi/cmd/run"

	// bailExitCode is what the SDK's runner exits with after it has shown the user an actionable error.
	bailExitCode = 32

	// killDelay is how long a cancelled program has between SIGINT and SIGKILL (upstream: cmd.WaitDelay = 5s).
	killDelay = 5 * time.Second
)

// nodeOptions are the runtime options of Pulumi.yaml that the host reads.
type nodeOptions struct {
	typescript     bool
	tsconfig       string
	nodeargs       string
	packageManager npm.PackageManagerType
}

func parseOptions(m map[string]any) (nodeOptions, error) {
	opts := nodeOptions{typescript: true, packageManager: npm.AutoPackageManager}
	if v, ok := m["typescript"]; ok {
		b, ok := v.(bool)
		if !ok {
			return opts, errors.New("typescript option must be a boolean")
		}
		opts.typescript = b
	}
	if v, ok := m["tsconfig"]; ok {
		s, ok := v.(string)
		if !ok {
			return opts, errors.New("tsconfigpath option must be a string")
		}
		opts.tsconfig = s
	}
	if v, ok := m["nodeargs"]; ok {
		s, ok := v.(string)
		if !ok {
			return opts, errors.New("nodeargs option must be a string")
		}
		opts.nodeargs = s
	}
	if v, ok := m["production"]; ok {
		if _, ok := v.(bool); !ok {
			return opts, errors.New("production option must be a boolean")
		}
	}
	if v, ok := m["packagemanager"]; ok {
		s, ok := v.(string)
		if !ok {
			return opts, errors.New("packagemanager option must be a string")
		}
		switch pm := npm.PackageManagerType(s); pm {
		case npm.AutoPackageManager, npm.NpmPackageManager, npm.YarnPackageManager,
			npm.PnpmPackageManager, npm.BunPackageManager:
			opts.packageManager = pm
		default:
			return opts, fmt.Errorf("packagemanager option must be one of auto, npm, yarn, pnpm or bun, got %q", s)
		}
	}
	return opts, nil
}

// resolveModule asks node where mod is, resolving from dir as the program itself would.
func resolveModule(ctx context.Context, node, dir, mod string) (string, error) {
	script := `try { console.log(require.resolve(process.argv[1])); } catch (e) {` +
		` if (e.code === "MODULE_NOT_FOUND") { console.error("It looks like the Pulumi SDK has not been installed.` +
		` Have you run pulumi install?"); } else { console.error(e.message); } process.exit(1); }`
	cmd := exec.CommandContext(ctx, node, "-e", script, mod)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return "", errors.New(stderr.String())
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// runnerArgs is the command line of the SDK's runner, flag for flag as upstream builds it: the
// program is the entry point of ProgramInfo ("." for a directory main, which the runner turns
// into the "main" of the nearest package.json) and --pwd is the program directory.
func runnerArgs(req *pulumirpc.RunRequest, runPath, monitor, engine, tracing string) []string {
	args := []string{runPath}
	add := func(flag, value string) {
		if value != "" {
			args = append(args, "--"+flag, value)
		}
	}
	info := req.GetInfo()
	add("monitor", monitor)
	add("engine", engine)
	add("organization", req.GetOrganization())
	add("project", req.GetProject())
	add("root-directory", info.GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", info.GetProgramDirectory())
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("tracing", tracing)
	args = append(args, info.GetEntryPoint())
	return append(args, req.GetArgs()...)
}

// configJSON renders the config as the runner reads it: keys in the old <namespace>:config:<name> form.
func configJSON(req *pulumirpc.RunRequest) (string, error) {
	in := req.GetConfig()
	if in == nil {
		return "{}", nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		key, err := config.ParseKey(k)
		if err != nil {
			return "", err
		}
		out[key.Namespace()+":config:"+key.Name()] = v
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func secretKeysJSON(req *pulumirpc.RunRequest) (string, error) {
	keys := req.GetConfigSecretKeys()
	if keys == nil {
		return "[]", nil
	}
	b, err := json.Marshal(keys)
	return string(b), err
}

// nodeCommand builds the node process of one Run. Its Dir stays empty: node runs where the
// engine started the host, which is the program directory (upstream sets no Dir either).
func (h *host) nodeCommand(
	ctx context.Context, req *pulumirpc.RunRequest, node, runPath, monitor string,
) (*exec.Cmd, error) {
	opts, err := parseOptions(req.GetInfo().GetOptions().AsMap())
	if err != nil {
		return nil, err
	}
	cfg, err := configJSON(req)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize configuration: %w", err)
	}
	secrets, err := secretKeysJSON(req)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize configuration secret keys: %w", err)
	}
	env := append(os.Environ(), "PULUMI_CONFIG="+cfg, "PULUMI_CONFIG_SECRET_KEYS="+secrets)
	if opts.typescript {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if opts.tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+opts.tsconfig)
	}
	args, err := shlex.Split(opts.nodeargs)
	if err != nil {
		return nil, err
	}
	args = append(args, runnerArgs(req, runPath, monitor, h.engine(), h.tracing)...)

	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = env
	// Cancellation interrupts the program first; exec kills it when it is still there after killDelay.
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = killDelay
	return cmd, nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if h.engine() == "" {
		return nil, errors.New("when debugging or running explicitly, must call Handshake before Run")
	}
	if req.GetInfo() == nil {
		return nil, errors.New("the run request has no program info")
	}
	if req.GetAttachDebugger() {
		return &pulumirpc.RunResponse{Error: "this language host does not support attaching a debugger"}, nil
	}
	// node talks to our proxy of the engine's monitor, as upstream.
	monitor, proxyDone, stopProxy, err := startMonitorProxy(req.GetMonitorAddress())
	if err != nil {
		return nil, err
	}
	defer stopProxy()

	node, err := exec.LookPath("node")
	if err != nil {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not find node on the $PATH: %s", err)}, nil
	}
	runPath := os.Getenv("PULUMI_LANGUAGE_NODEJS_RUN_PATH")
	if runPath == "" {
		runPath = defaultRunPath
	}
	runPath, err = resolveModule(ctx, node, req.GetInfo().GetProgramDirectory(), runPath)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	// The program ends on the engine's Cancel as well as when the Run call itself goes away.
	cmdCtx, cmdCancel := context.WithCancel(h.cancelCtx)
	defer cmdCancel()
	stopAfter := context.AfterFunc(ctx, cmdCancel)
	defer stopAfter()

	cmd, err := h.nodeCommand(cmdCtx, req, node, runPath, monitor)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	result := make(chan *pulumirpc.RunResponse, 1)
	go func() { result <- runProgram(cmd, os.Stdout, os.Stderr) }()
	for {
		select {
		case err := <-proxyDone:
			if err != nil {
				return &pulumirpc.RunResponse{Error: err.Error()}, nil
			}
			proxyDone = nil
		case resp := <-result:
			return resp, nil
		}
	}
}

// runProgram runs node and turns its exit into the engine's answer, with upstream's messages.
func runProgram(cmd *exec.Cmd, stdout, stderr io.Writer) *pulumirpc.RunResponse {
	// Through a pipe, not node's own fds: node may switch its stdio to non-blocking.
	cmd.Stdout = struct{ io.Writer }{stdout}
	oom := &oomWatch{w: stderr}
	cmd.Stderr = oom
	err := cmd.Run()
	if err == nil {
		return &pulumirpc.RunResponse{}
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err),
		}
	}
	switch code := exitErr.ExitCode(); code {
	case 0:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited unexpectedly: %v", exitErr)}
	case bailExitCode:
		return &pulumirpc.RunResponse{Bail: true}
	default:
		msg := fmt.Sprintf("Program exited with non-zero exit code: %d", code)
		if oom.detected() {
			msg += ". " + oomMessage
		}
		return &pulumirpc.RunResponse{Error: msg}
	}
}

const oomMessage = "Detected a possible out of memory error. Consider increasing the memory available to " +
	"the nodejs process by setting the `nodeargs` runtime option in Pulumi.yaml to " +
	"`nodeargs: --max-old-space-size=<size>` where `<size>` is the maximum memory in megabytes that can be " +
	"allocated to nodejs. See https://www.pulumi.com/docs/concepts/projects/project-file/#runtime-options"

// oomMarkers are stderr lines of a node that ran out of memory (the second one when the
// debugger hooks of the SDK hide the first).
var oomMarkers = []string{
	"<--- Last few GCs --->",
	"Check failed: needs_context && current_scope_ == closure_scope_",
}

// oomWatch passes node's stderr through and remembers whether a line showed an out-of-memory crash.
type oomWatch struct {
	w    io.Writer
	mu   sync.Mutex
	line []byte
	seen bool
}

func (o *oomWatch) Write(p []byte) (int, error) {
	o.mu.Lock()
	for _, c := range p {
		if c == '\n' {
			o.check()
			o.line = o.line[:0]
		} else if len(o.line) < 4096 {
			o.line = append(o.line, c)
		}
	}
	o.check()
	o.mu.Unlock()
	return o.w.Write(p)
}

func (o *oomWatch) check() {
	for _, m := range oomMarkers {
		if bytes.Contains(o.line, []byte(m)) {
			o.seen = true
		}
	}
}

func (o *oomWatch) detected() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen
}
