// Command pulumi-language-nodejs is a small Node.js language host for the
// Pulumi engine, written for this project because the upstream host
// (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3) is not
// served by the Go module proxy reachable here.
//
// It implements the parts of the LanguageRuntime gRPC service that
// `pulumi preview/up/destroy/refresh` use: it runs the program with the
// Node.js SDK's own entry point (node_modules/@pulumi/pulumi/cmd/run), which
// does the TypeScript handling, and reports the resource plugins that the
// program's direct npm dependencies declare.
//
// Set PULUMI_NODEJS_LITE_REPORT_PLUGINS=false to report no required plugins
// (the engine then loads providers only when a resource needs one).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pbempty "google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version is reported to the engine; set with -ldflags "-X main.version=...".
var version = "3.274.1"

// bailExitCode is what @pulumi/pulumi/cmd/run exits with after it has already
// reported a user-actionable error.
const bailExitCode = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu         sync.Mutex
	engineAddr string
}

func main() {
	// The engine passes optional flags and, last, the engine's gRPC address.
	var engineAddr string
	for _, a := range os.Args[1:] {
		if !strings.HasPrefix(a, "-") {
			engineAddr = a
		}
	}
	h := &host{engineAddr: engineAddr}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: could not start: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
		os.Exit(1)
	}
}

func (h *host) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.GetEngineAddress() != "" {
		h.engineAddr = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func programDir(info *pulumirpc.ProgramInfo, fallback string) string {
	if info != nil && info.GetProgramDirectory() != "" {
		return info.GetProgramDirectory()
	}
	if fallback != "" {
		return fallback
	}
	wd, _ := os.Getwd()
	return wd
}

// findUp returns the first dir/rel that exists, walking from dir to the root.
func findUp(dir, rel string) (string, bool) {
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, rel)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
		if filepath.Dir(d) == d {
			return "", false
		}
	}
}

type npmPackage struct {
	Name            string            `json:"name"`
	Version         string            `json:"version"`
	Dependencies    map[string]string `json:"dependencies"`
	DevDependencies map[string]string `json:"devDependencies"`
	Pulumi          *struct {
		Resource bool   `json:"resource"`
		Name     string `json:"name"`
		Version  string `json:"version"`
		Server   string `json:"server"`
	} `json:"pulumi"`
}

func readPackage(path string) (*npmPackage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p npmPackage
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

// requiredPackages lists the resource plugins declared by the program's direct
// npm dependencies (package.json "pulumi": {"resource": true, ...}).
func requiredPackages(dir string) ([]*pulumirpc.PackageDependency, error) {
	if v := strings.ToLower(os.Getenv("PULUMI_NODEJS_LITE_REPORT_PLUGINS")); v == "false" || v == "0" {
		return nil, nil
	}
	pkgPath, ok := findUp(dir, "package.json")
	if !ok {
		return nil, nil
	}
	root, err := readPackage(pkgPath)
	if err != nil {
		return nil, err
	}
	var out []*pulumirpc.PackageDependency
	for name := range root.Dependencies {
		p, ok := findUp(filepath.Dir(pkgPath), filepath.Join("node_modules", name, "package.json"))
		if !ok {
			continue
		}
		dep, err := readPackage(p)
		if err != nil || dep.Pulumi == nil || !dep.Pulumi.Resource {
			continue
		}
		pname := dep.Pulumi.Name
		if pname == "" {
			pname = strings.TrimPrefix(name, "@pulumi/")
		}
		pver := dep.Pulumi.Version
		if pver == "" {
			pver = dep.Version
		}
		out = append(out, &pulumirpc.PackageDependency{
			Kind:    "resource",
			Name:    pname,
			Version: pver,
			Server:  dep.Pulumi.Server,
		})
	}
	return out, nil
}

func (h *host) GetRequiredPlugins(
	_ context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	pkgs, err := requiredPackages(programDir(req.GetInfo(), req.GetPwd()))
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPluginsResponse{}
	for _, p := range pkgs {
		resp.Plugins = append(resp.Plugins, &pulumirpc.PluginDependency{
			Name: p.Name, Kind: p.Kind, Version: p.Version, Server: p.Server,
		})
	}
	return resp, nil
}

func (h *host) GetRequiredPackages(
	_ context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	pkgs, err := requiredPackages(programDir(req.GetInfo(), ""))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: pkgs}, nil
}

func (h *host) GetProgramDependencies(
	_ context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	dir := programDir(req.GetInfo(), req.GetPwd())
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	pkgPath, ok := findUp(dir, "package.json")
	if !ok {
		return resp, nil
	}
	root, err := readPackage(pkgPath)
	if err != nil {
		return nil, err
	}
	for name := range root.Dependencies {
		p, ok := findUp(filepath.Dir(pkgPath), filepath.Join("node_modules", name, "package.json"))
		if !ok {
			continue
		}
		if dep, err := readPackage(p); err == nil {
			resp.Dependencies = append(resp.Dependencies,
				&pulumirpc.DependencyInfo{Name: name, Version: dep.Version})
		}
	}
	return resp, nil
}

func (h *host) About(context.Context, *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("could not find node on PATH")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: node,
		Version:    strings.TrimPrefix(strings.TrimSpace(string(out)), "v"),
	}, nil
}

func (h *host) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest,
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	return status.Error(codes.Unimplemented,
		"this language host does not install dependencies: run `npm ci` in the project")
}

// option reads a Pulumi.yaml runtime option (runtime.options.<key>).
func option(info *pulumirpc.ProgramInfo, key string) (interface{}, bool) {
	if info == nil || info.GetOptions() == nil {
		return nil, false
	}
	v, ok := info.GetOptions().AsMap()[key]
	return v, ok
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	pwd := req.GetPwd()
	if pwd == "" {
		pwd = programDir(info, "")
	}
	program := req.GetProgram()
	if info != nil && info.GetProgramDirectory() != "" {
		program = filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint())
	}
	if program == "" {
		program = "."
	}

	runJS, ok := findUp(pwd, filepath.Join("node_modules", "@pulumi", "pulumi", "cmd", "run"))
	if !ok {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf(
			"could not find node_modules/@pulumi/pulumi above %s: run `npm ci` first", pwd)}, nil
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return &pulumirpc.RunResponse{Error: "could not find `node` on PATH"}, nil
	}

	var args []string
	if v, ok := option(info, "nodeargs"); ok {
		if s, ok := v.(string); ok && s != "" {
			args = append(args, strings.Fields(s)...)
		}
	}
	args = append(args, runJS)
	if req.GetOrganization() != "" {
		args = append(args, "--organization="+req.GetOrganization())
	}
	args = append(args, "--project="+req.GetProject(), "--stack="+req.GetStack(), "--pwd="+pwd)
	if info != nil && info.GetRootDirectory() != "" {
		args = append(args, "--root-directory="+info.GetRootDirectory())
	}
	args = append(args, "--monitor="+req.GetMonitorAddress())
	h.mu.Lock()
	engine := h.engineAddr
	h.mu.Unlock()
	if engine != "" {
		args = append(args, "--engine="+engine)
	}
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	if req.GetParallel() > 0 {
		args = append(args, "--parallel="+strconv.Itoa(int(req.GetParallel())))
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	config := req.GetConfig()
	if config == nil {
		config = map[string]string{}
	}
	cfgJSON, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}

	env := append(os.Environ(),
		"PULUMI_CONFIG="+string(cfgJSON),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretJSON),
	)
	typescript := true
	if v, ok := option(info, "typescript"); ok {
		if b, ok := v.(bool); ok {
			typescript = b
		}
	}
	env = append(env, "PULUMI_NODEJS_TYPESCRIPT="+strconv.FormatBool(typescript))
	if v, ok := option(info, "tsconfig"); ok {
		if s, ok := v.(string); ok && s != "" {
			env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+s)
		}
	}

	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = pwd
	cmd.Env = env
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code := exitErr.ExitCode()
			if code == bailExitCode {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", code),
			}, nil
		}
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}
