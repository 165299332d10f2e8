// Command pulumi-resource-command is a small stand-in for the Pulumi "command"
// provider (npm @pulumi/command 1.2.1), written for this project because the
// upstream provider module (github.com/pulumi/pulumi-command/provider) is not
// served by the Go module proxy reachable here.
//
// It implements command:local:Command (create/update/delete, dir,
// environment, interpreter, stdin, triggers, addPreviousOutputInEnv), the
// command:local:run invoke, command:remote:Command (over SSH: host, port, user,
// privateKey, password, agent, hostKey, dialErrorLimit, perDialTimeout; no proxy)
// and command:remote:CopyToRemote (an asset is written to remotePath, an
// archive is extracted into it with tar). Local assetPaths/archivePaths,
// remote CopyFile and connection.proxy are not implemented and fail clearly.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pbempty "google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version must match the npm @pulumi/command package the program uses.
var version = "1.2.1"

const (
	localCommandType  = "command:local:Command"
	remoteCommandType = "command:remote:Command"
	copyToRemoteType  = "command:remote:CopyToRemote"
	runToken          = "command:local:run"
)

// Inputs that are not passed back as-is; everything else is compared by Diff.
var outputOnly = map[string]bool{"stdout": true, "stderr": true, "assets": true, "archive": true}

type commandProvider struct {
	pulumirpc.UnimplementedResourceProviderServer
}

func main() {
	err := provider.Main("command", func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return &commandProvider{}, nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: %v\n", err)
		os.Exit(1)
	}
}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(s, plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true})
}

func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true})
}

func (p *commandProvider) GetPluginInfo(context.Context, *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (p *commandProvider) GetSchema(
	context.Context, *pulumirpc.GetSchemaRequest,
) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":"command","version":%q}`, version)}, nil
}

func (p *commandProvider) CheckConfig(
	_ context.Context, req *pulumirpc.CheckRequest,
) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *commandProvider) DiffConfig(
	context.Context, *pulumirpc.DiffRequest,
) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *commandProvider) Configure(
	context.Context, *pulumirpc.ConfigureRequest,
) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{SupportsPreview: true}, nil
}

func checkType(urn string) (string, error) {
	switch t := string(resource.URN(urn).Type()); t {
	case localCommandType, remoteCommandType, copyToRemoteType:
		return t, nil
	}
	return "", status.Errorf(codes.Unimplemented,
		"this build of the command provider implements only %s, %s and %s (got %s)",
		localCommandType, remoteCommandType, copyToRemoteType, urn)
}

// runFor runs a command line locally or over SSH, depending on the resource type.
func runFor(ctx context.Context, typ, line string, in resource.PropertyMap, env []string) (string, string, error) {
	if typ == remoteCommandType {
		return runRemote(ctx, line, in, env)
	}
	return run(ctx, line, in, env)
}

func (p *commandProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	typ, err := checkType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	if typ != localCommandType {
		return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
	}
	for _, k := range []resource.PropertyKey{"assetPaths", "archivePaths"} {
		if v, ok := news[k]; ok && !v.IsNull() {
			failures = append(failures, &pulumirpc.CheckFailure{
				Property: string(k), Reason: "not supported by this build of the command provider",
			})
		}
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

// inputsOf drops the output-only keys from a state or input map.
func inputsOf(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		if !outputOnly[string(k)] {
			out[k] = v
		}
	}
	return out
}

func (p *commandProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := unmarshal(req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	if len(olds) == 0 {
		if olds, err = unmarshal(req.GetOlds()); err != nil {
			return nil, err
		}
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	olds, news = inputsOf(olds), inputsOf(news)
	ignored := map[string]bool{}
	for _, k := range req.GetIgnoreChanges() {
		ignored[k] = true
	}
	keys := map[resource.PropertyKey]bool{}
	for k := range olds {
		keys[k] = true
	}
	for k := range news {
		keys[k] = true
	}
	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
		HasDetailedDiff: true,
	}
	var names []string
	for k := range keys {
		names = append(names, string(k))
	}
	sort.Strings(names)
	for _, name := range names {
		k := resource.PropertyKey(name)
		if ignored[name] {
			continue
		}
		o, hasOld := olds[k]
		n, hasNew := news[k]
		if hasOld && hasNew && o.DeepEquals(n) && !n.ContainsUnknowns() {
			continue
		}
		if !hasOld && hasNew && n.IsNull() || hasOld && !hasNew && o.IsNull() {
			continue
		}
		kind := pulumirpc.PropertyDiff_UPDATE
		switch {
		case !hasOld:
			kind = pulumirpc.PropertyDiff_ADD
		case !hasNew:
			kind = pulumirpc.PropertyDiff_DELETE
		}
		// As in pulumi-command: new triggers replace the resource unless it has an update command.
		if name == "triggers" && str(news, "update") == "" {
			kind += pulumirpc.PropertyDiff_ADD_REPLACE - pulumirpc.PropertyDiff_ADD
			resp.Replaces = append(resp.Replaces, name)
		}
		resp.Diffs = append(resp.Diffs, name)
		resp.DetailedDiff[name] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return resp, nil
}

func str(m resource.PropertyMap, k resource.PropertyKey) string {
	if v, ok := m[k]; ok && v.IsString() {
		return v.StringValue()
	}
	return ""
}

// run executes one command line the way pulumi-command's local provider does:
// through the interpreter (default /bin/sh -c), in dir, with environment added
// to this process's environment and stdout/stderr captured (trailing newline
// trimmed).
func run(ctx context.Context, line string, in resource.PropertyMap, extraEnv []string) (string, string, error) {
	interp := []string{"/bin/sh", "-c"}
	if v, ok := in["interpreter"]; ok && v.IsArray() && len(v.ArrayValue()) > 0 {
		interp = nil
		for _, e := range v.ArrayValue() {
			if e.IsString() {
				interp = append(interp, e.StringValue())
			}
		}
	}
	args := append(append([]string{}, interp[1:]...), line)
	cmd := exec.CommandContext(ctx, interp[0], args...)
	cmd.Dir = str(in, "dir")
	cmd.Env = os.Environ()
	if v, ok := in["environment"]; ok && v.IsObject() {
		for k, e := range v.ObjectValue() {
			if e.IsString() {
				cmd.Env = append(cmd.Env, string(k)+"="+e.StringValue())
			}
		}
	}
	cmd.Env = append(cmd.Env, extraEnv...)
	if s := str(in, "stdin"); s != "" {
		cmd.Stdin = strings.NewReader(s)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	out := strings.TrimSuffix(stdout.String(), "\n")
	errOut := strings.TrimSuffix(stderr.String(), "\n")
	if err != nil {
		return out, errOut, fmt.Errorf("%w: running %q:\nStdout:\n%s\nStderr:\n%s", err, line, out, errOut)
	}
	return out, errOut, nil
}

func previousOutputEnv(in, state resource.PropertyMap) []string {
	if v, ok := in["addPreviousOutputInEnv"]; ok && v.IsBool() && !v.BoolValue() {
		return nil
	}
	return []string{
		"PULUMI_COMMAND_STDOUT=" + str(state, "stdout"),
		"PULUMI_COMMAND_STDERR=" + str(state, "stderr"),
	}
}

func withOutputs(in resource.PropertyMap, stdout, stderr string, computed bool) resource.PropertyMap {
	out := in.Copy()
	if computed {
		out["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
		out["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
	} else {
		out["stdout"] = resource.NewStringProperty(stdout)
		out["stderr"] = resource.NewStringProperty(stderr)
	}
	return out
}

func (p *commandProvider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	typ, err := checkType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	in, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	id := ""
	if !req.GetPreview() {
		id = uuid.NewString()
	}
	if typ == copyToRemoteType {
		if !req.GetPreview() {
			if err := copyToRemote(ctx, in); err != nil {
				return nil, err
			}
		}
		props, err := marshal(in)
		return &pulumirpc.CreateResponse{Id: id, Properties: props}, err
	}
	if req.GetPreview() {
		props, err := marshal(withOutputs(in, "", "", true))
		return &pulumirpc.CreateResponse{Id: id, Properties: props}, err
	}
	var stdout, stderr string
	if line := str(in, "create"); line != "" {
		if stdout, stderr, err = runFor(ctx, typ, line, in, nil); err != nil {
			return nil, err
		}
	}
	props, err := marshal(withOutputs(in, stdout, stderr, false))
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, err
}

func (p *commandProvider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	typ, err := checkType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	in, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	if typ == copyToRemoteType {
		if !req.GetPreview() {
			if err := copyToRemote(ctx, in); err != nil {
				return nil, err
			}
		}
		props, err := marshal(in)
		return &pulumirpc.UpdateResponse{Properties: props}, err
	}
	if req.GetPreview() {
		props, err := marshal(withOutputs(in, "", "", true))
		return &pulumirpc.UpdateResponse{Properties: props}, err
	}
	line := str(in, "update")
	if line == "" {
		line = str(in, "create")
	}
	var stdout, stderr string
	if line != "" {
		if stdout, stderr, err = runFor(ctx, typ, line, in, previousOutputEnv(in, olds)); err != nil {
			return nil, err
		}
	}
	props, err := marshal(withOutputs(in, stdout, stderr, false))
	return &pulumirpc.UpdateResponse{Properties: props}, err
}

func (p *commandProvider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*pbempty.Empty, error) {
	state, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	typ, err := checkType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	if typ == copyToRemoteType {
		// As upstream: copied files are left on the host.
		return &pbempty.Empty{}, nil
	}
	if line := str(state, "delete"); line != "" {
		if _, _, err := runFor(ctx, typ, line, state, previousOutputEnv(state, state)); err != nil {
			return nil, err
		}
	}
	return &pbempty.Empty{}, nil
}

func (p *commandProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	// A command's state cannot be read back: keep what is recorded.
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (p *commandProvider) Invoke(ctx context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	if req.GetTok() != runToken {
		return nil, status.Errorf(codes.Unimplemented, "invoke %s is not implemented by this build", req.GetTok())
	}
	in, err := unmarshal(req.GetArgs())
	if err != nil {
		return nil, err
	}
	stdout, stderr, err := run(ctx, str(in, "command"), in, nil)
	if err != nil {
		return nil, err
	}
	ret, err := marshal(withOutputs(in, stdout, stderr, false))
	return &pulumirpc.InvokeResponse{Return: ret}, err
}

func (p *commandProvider) Cancel(context.Context, *pbempty.Empty) (*pbempty.Empty, error) {
	return &pbempty.Empty{}, nil
}
