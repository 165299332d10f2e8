// Command pulumi-resource-command is a small stand-in for the Pulumi "command"
// provider (npm @pulumi/command 1.2.1), written for this project because the
// upstream provider module (github.com/pulumi/pulumi-command/provider) is not
// served by the Go module proxy reachable here.
//
// It implements command:local:Command (create/update/delete, dir,
// environment, interpreter, stdin, triggers, logging, addPreviousOutputInEnv),
// the command:local:run invoke, command:remote:Command (over SSH: host, port,
// user, privateKey, password, agent, hostKey, dialErrorLimit, perDialTimeout;
// no proxy) and command:remote:CopyToRemote (over SFTP). Local
// assetPaths/archivePaths, remote CopyFile and connection.proxy are not
// implemented and fail clearly. tools/pulumi/README.md lists what matches
// pulumi-command v1.2.1 and the tests that show it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

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

type commandProvider struct {
	pulumirpc.UnimplementedResourceProviderServer
	host hostLogger
}

func main() {
	err := provider.Main("command", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return &commandProvider{host: host}, nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: %v\n", err)
		os.Exit(1)
	}
}

func (p *commandProvider) logger(ctx context.Context, urn string) *logger {
	return &logger{ctx: ctx, host: p.host, urn: resource.URN(urn)}
}

// unmarshal keeps secrets and unknowns, as pulumi-go-provider does (the engine sends secrets since
// Configure accepts them), so the state keeps the inputs' secretness.
func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(s, plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true, KeepSecrets: true})
}

func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true, KeepSecrets: true})
}

// plain drops secret markers, for reading input values.
func plain(m resource.PropertyMap) resource.PropertyMap {
	s, err := plugin.MarshalProperties(m, plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true})
	if err != nil {
		return m
	}
	out, err := plugin.UnmarshalProperties(s, plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true})
	if err != nil {
		return m
	}
	return out
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

// Configure accepts secrets as pulumi-go-provider does, so the engine sends them as secrets.
func (p *commandProvider) Configure(
	context.Context, *pulumirpc.ConfigureRequest,
) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{SupportsPreview: true, AcceptSecrets: true}, nil
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
func (p *commandProvider) runFor(
	ctx context.Context, urn, typ, line string, in resource.PropertyMap, prev outputs,
) (outputs, error) {
	lg := p.logger(ctx, urn)
	if typ == remoteCommandType {
		return runRemote(ctx, lg, line, plain(in), prev)
	}
	return runLocal(ctx, lg, line, plain(in), prev)
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
	switch typ {
	case localCommandType:
		for _, k := range []resource.PropertyKey{"assetPaths", "archivePaths"} {
			if v, ok := news[k]; ok && !v.IsNull() {
				failures = append(failures, &pulumirpc.CheckFailure{
					Property: string(k), Reason: "not supported by this build of the command provider",
				})
			}
		}
	case copyToRemoteType:
		// Upstream's CopyToRemote.Check: text or path assets, path archives.
		if src, ok := news["source"]; ok && !src.ContainsUnknowns() {
			if _, err := sourceOf(plain(news)); err != nil {
				prop := "asset"
				if src.IsArchive() {
					prop = "archive"
				}
				failures = append(failures, &pulumirpc.CheckFailure{Property: prop, Reason: err.Error()})
			}
		}
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

func str(m resource.PropertyMap, k resource.PropertyKey) string {
	if v, ok := m[k]; ok && v.IsString() {
		return v.StringValue()
	}
	return ""
}

func addPreviousOutputInEnv(in resource.PropertyMap) bool {
	v, ok := in["addPreviousOutputInEnv"]
	return !ok || !v.IsBool() || v.BoolValue()
}

func outputsOf(state resource.PropertyMap) outputs {
	s := plain(state)
	return outputs{stdout: str(s, "stdout"), stderr: str(s, "stderr")}
}

// withOutputs is a Command's state: its inputs plus stdout and stderr.
func withOutputs(in resource.PropertyMap, o outputs) resource.PropertyMap {
	out := in.Copy()
	out["stdout"] = resource.NewStringProperty(o.stdout)
	out["stderr"] = resource.NewStringProperty(o.stderr)
	return out
}

// runLocal runs one command line like upstream's local run: through the interpreter (default
// /bin/sh -c), in dir, with environment added to this process's environment.
func runLocal(ctx context.Context, lg *logger, line string, in resource.PropertyMap, prev outputs) (outputs, error) {
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
	cmd := exec.CommandContext(ctx, interp[0], args...) // #nosec G204 -- running the user's command is the resource's purpose
	cmd.Dir = str(in, "dir")
	cmd.Env = os.Environ()
	if v, ok := in["environment"]; ok && v.IsObject() {
		for k, e := range v.ObjectValue() {
			if e.IsString() {
				cmd.Env = append(cmd.Env, string(k)+"="+e.StringValue())
			}
		}
	}
	if addPreviousOutputInEnv(in) {
		if prev.stdout != "" {
			cmd.Env = append(cmd.Env, envStdout+"="+prev.stdout)
		}
		if prev.stderr != "" {
			cmd.Env = append(cmd.Env, envStderr+"="+prev.stderr)
		}
	}
	if s := str(in, "stdin"); s != "" {
		cmd.Stdin = strings.NewReader(s)
	}
	capt := newCapture(ctx, lg, loggingOf(in))
	cmd.Stdout = capt.stdoutWriter()
	cmd.Stderr = capt.stderrWriter()
	err := cmd.Run()
	capt.finish()
	if err != nil {
		return outputs{}, fmt.Errorf("%w: running %q:\n%s", err, line, capt.combined.String())
	}
	return capt.outputs(), nil
}

// previewOutputs marks stdout/stderr unknown as pulumi-go-provider's default dependency flow does
// in a preview: always on create; on update when an input is unknown or an input present in the
// state differs from it (an input the state lacks does not count), else the old outputs stay.
func previewOutputs(state, news resource.PropertyMap, isCreate bool) resource.PropertyMap {
	out := news.Copy()
	computed := isCreate
	for _, v := range news {
		if v.ContainsUnknowns() {
			computed = true
		}
	}
	for k, old := range state {
		if k != "stdout" && k != "stderr" && !old.DeepEquals(news[k]) {
			computed = true
		}
	}
	for _, k := range []resource.PropertyKey{"stdout", "stderr"} {
		if computed {
			out[k] = resource.MakeComputed(resource.NewStringProperty(""))
		} else if v, ok := state[k]; ok {
			out[k] = v
		}
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
	if typ == copyToRemoteType {
		// Upstream: no id in a preview, and an id of 8 hex characters without the name.
		if req.GetPreview() {
			props, err := marshal(in)
			return &pulumirpc.CreateResponse{Properties: props}, err
		}
		if err := copyToRemote(ctx, p.logger(ctx, req.GetUrn()), plain(in)); err != nil {
			return nil, err
		}
		id, err := resource.NewUniqueHex("", 8, 0)
		if err != nil {
			return nil, err
		}
		props, err := marshal(in)
		return &pulumirpc.CreateResponse{Id: id, Properties: props}, err
	}
	// Upstream: the resource name plus 8 hex characters, made before the preview check.
	id, err := resource.NewUniqueHex(resource.URN(req.GetUrn()).Name(), 8, 0)
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		props, err := marshal(previewOutputs(nil, in, true))
		return &pulumirpc.CreateResponse{Id: id, Properties: props}, err
	}
	var out outputs
	if v, ok := plain(in)["create"]; ok && v.IsString() {
		if out, err = p.runFor(ctx, req.GetUrn(), typ, v.StringValue(), in, outputs{}); err != nil {
			return nil, err
		}
	}
	props, err := marshal(withOutputs(in, out))
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, err
}

// ignoreChanges gives ignored top-level inputs their value in the state, as pulumi-go-provider does.
func ignoreChanges(news, state resource.PropertyMap, paths []string) resource.PropertyMap {
	news = news.Copy()
	for _, k := range paths {
		if v, ok := state[resource.PropertyKey(k)]; ok {
			news[resource.PropertyKey(k)] = v
		}
	}
	return news
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
	in = ignoreChanges(in, olds, req.GetIgnoreChanges())
	if typ == copyToRemoteType {
		if !req.GetPreview() && needCopy(plain(olds), plain(in)) {
			if err := copyToRemote(ctx, p.logger(ctx, req.GetUrn()), plain(in)); err != nil {
				return nil, err
			}
		}
		props, err := marshal(in)
		return &pulumirpc.UpdateResponse{Properties: props}, err
	}
	if req.GetPreview() {
		props, err := marshal(previewOutputs(olds, in, false))
		return &pulumirpc.UpdateResponse{Properties: props}, err
	}
	// Upstream: the previous stdout/stderr stay unless a command runs.
	prev := outputsOf(olds)
	out := prev
	line, ok := plain(in)["update"]
	if !ok || !line.IsString() {
		line, ok = plain(in)["create"]
	}
	if ok && line.IsString() {
		if out, err = p.runFor(ctx, req.GetUrn(), typ, line.StringValue(), in, prev); err != nil {
			return nil, err
		}
	}
	props, err := marshal(withOutputs(in, out))
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
		// Upstream: copied files are left on the host.
		return &pbempty.Empty{}, nil
	}
	if v, ok := plain(state)["delete"]; ok && v.IsString() {
		if _, err := p.runFor(ctx, req.GetUrn(), typ, v.StringValue(), state, outputsOf(state)); err != nil {
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
	out, err := runLocal(ctx, p.logger(ctx, ""), str(plain(in), "command"), plain(in), outputs{})
	if err != nil {
		return nil, err
	}
	ret, err := marshal(withOutputs(in, out))
	return &pulumirpc.InvokeResponse{Return: ret}, err
}

func (p *commandProvider) Cancel(context.Context, *pbempty.Empty) (*pbempty.Empty, error) {
	return &pbempty.Empty{}, nil
}
