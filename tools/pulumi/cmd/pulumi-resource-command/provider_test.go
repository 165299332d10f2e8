package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/archive"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/asset"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func urnOf(typ, name string) string { return "urn:pulumi:test::proj::" + typ + "::" + name }

func toStruct(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fromStruct(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := unmarshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func props(kv map[string]any) resource.PropertyMap { return resource.NewPropertyMapFromMap(kv) }

// remote builds remote Command inputs with the connection wrapped in a secret, as the npm SDK sends it.
func remote(s *testServer, kv map[string]any) resource.PropertyMap {
	m := props(kv)
	m["connection"] = resource.MakeSecret(s.connection(nil))
	return m
}

func newProvider() (*commandProvider, *recordingHost) {
	h := &recordingHost{}
	return &commandProvider{host: h}, h
}

func create(t *testing.T, p *commandProvider, typ, name string, in resource.PropertyMap, preview bool) (string, resource.PropertyMap, error) {
	t.Helper()
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: urnOf(typ, name), Properties: toStruct(t, in), Preview: preview,
	})
	if err != nil {
		return "", nil, err
	}
	return resp.GetId(), fromStruct(t, resp.GetProperties()), nil
}

func update(t *testing.T, p *commandProvider, typ string, olds, news resource.PropertyMap, preview bool) (resource.PropertyMap, error) {
	t.Helper()
	resp, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{
		Urn: urnOf(typ, "r"), Olds: toStruct(t, olds), News: toStruct(t, news), Preview: preview,
	})
	if err != nil {
		return nil, err
	}
	return fromStruct(t, resp.GetProperties()), nil
}

func diffOf(t *testing.T, oldInputs, state, news resource.PropertyMap, ignore ...string) *pulumirpc.DiffResponse {
	t.Helper()
	p, _ := newProvider()
	resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{
		Urn: urnOf(remoteCommandType, "r"), Olds: toStruct(t, state), OldInputs: toStruct(t, oldInputs),
		News: toStruct(t, news), IgnoreChanges: ignore,
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func detailed(resp *pulumirpc.DiffResponse) map[string]pulumirpc.PropertyDiff_Kind {
	out := map[string]pulumirpc.PropertyDiff_Kind{}
	for k, v := range resp.GetDetailedDiff() {
		out[k] = v.GetKind()
	}
	return out
}

// engineReplaces applies the SDK's replaceOnChanges: ["triggers[*]"] resource option the way the
// engine's applyReplaceOnChanges does (PropertyPath.Contains on each detailed-diff key).
func engineReplaces(t *testing.T, resp *pulumirpc.DiffResponse) bool {
	t.Helper()
	roc, err := resource.ParsePropertyPath("triggers[*]")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range resp.GetDetailedDiff() {
		path, err := resource.ParsePropertyPath(k)
		if err != nil {
			t.Fatal(err)
		}
		if roc.Contains(path) || v.GetKind() == pulumirpc.PropertyDiff_ADD_REPLACE ||
			v.GetKind() == pulumirpc.PropertyDiff_UPDATE_REPLACE || v.GetKind() == pulumirpc.PropertyDiff_DELETE_REPLACE {
			return true
		}
	}
	return false
}

// 1. Diff: pulumi-go-provider v1.3.0 infer.diff with no CustomDiff.

func TestDiff_TriggerElementKeys_AsGoProviderInfer(t *testing.T) {
	for _, withUpdate := range []bool{false, true} {
		olds := props(map[string]any{"create": "c", "triggers": []any{"a", "b"}})
		news := props(map[string]any{"create": "c", "triggers": []any{"a", "x", "y"}})
		if withUpdate {
			olds["update"] = resource.NewStringProperty("u")
			news["update"] = resource.NewStringProperty("u")
		}
		resp := diffOf(t, olds, olds, news)
		want := map[string]pulumirpc.PropertyDiff_Kind{
			"triggers[1]": pulumirpc.PropertyDiff_UPDATE, "triggers[2]": pulumirpc.PropertyDiff_ADD,
		}
		if got := detailed(resp); !mapsEqual(got, want) {
			t.Fatalf("update=%v: detailed diff %v, want %v", withUpdate, got, want)
		}
		if resp.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || !slices.Equal(resp.GetDiffs(), []string{"triggers"}) ||
			len(resp.GetReplaces()) != 0 || resp.GetDeleteBeforeReplace() || !resp.GetHasDetailedDiff() {
			t.Fatalf("update=%v: %v", withUpdate, resp)
		}
		// The replace comes from the engine applying the SDK's replaceOnChanges, update command or not.
		if !engineReplaces(t, resp) {
			t.Fatalf("update=%v: the engine would not replace", withUpdate)
		}
	}
}

func TestDiff_WholeTriggersAddedIsReplace_AsSchemaReplaceOnChanges(t *testing.T) {
	olds := props(map[string]any{"create": "c"})
	news := props(map[string]any{"create": "c", "triggers": []any{"a"}})
	resp := diffOf(t, olds, olds, news)
	if got := detailed(resp); !mapsEqual(got, map[string]pulumirpc.PropertyDiff_Kind{"triggers": pulumirpc.PropertyDiff_ADD_REPLACE}) {
		t.Fatalf("detailed diff %v", got)
	}
	if !slices.Equal(resp.GetReplaces(), []string{"triggers"}) {
		t.Fatalf("replaces %v", resp.GetReplaces())
	}
}

func TestDiff_OtherInputChangesAreUpdates_AsGoProviderInfer(t *testing.T) {
	conn := func(host string) resource.PropertyValue {
		return resource.NewObjectProperty(props(map[string]any{"host": host, "port": 22.0}))
	}
	olds := props(map[string]any{"create": "c1", "delete": "d", "stdin": "in", "environment": map[string]any{"A": "1"},
		"triggers": []any{"t"}, "version": "1"})
	olds["connection"] = resource.MakeSecret(conn("h1"))
	state := withOutputs(olds, outputs{stdout: "old out"})
	news := props(map[string]any{"create": "c2", "update": "u", "environment": map[string]any{"A": "2", "B": "3"},
		"triggers": []any{"t"}, "version": "2", "__internal": "x"})
	news["connection"] = resource.MakeSecret(conn("h2"))
	resp := diffOf(t, olds, state, news)
	want := map[string]pulumirpc.PropertyDiff_Kind{
		"create": pulumirpc.PropertyDiff_UPDATE, "update": pulumirpc.PropertyDiff_ADD,
		"delete": pulumirpc.PropertyDiff_DELETE, "stdin": pulumirpc.PropertyDiff_DELETE,
		"environment.A": pulumirpc.PropertyDiff_UPDATE, "environment.B": pulumirpc.PropertyDiff_ADD,
		// A secret is compared whole (the SDK makes connection secret), and "version" was dropped from the news.
		"connection": pulumirpc.PropertyDiff_UPDATE, "version": pulumirpc.PropertyDiff_DELETE,
	}
	if got := detailed(resp); !mapsEqual(got, want) {
		t.Fatalf("detailed diff %v, want %v", got, want)
	}
	if len(resp.GetReplaces()) != 0 || engineReplaces(t, resp) {
		t.Fatalf("no change here replaces: %v", resp)
	}
	// A plain (non-secret) connection is diffed per path.
	o2, n2 := props(map[string]any{}), props(map[string]any{})
	o2["connection"], n2["connection"] = conn("h1"), conn("h2")
	if got := detailed(diffOf(t, o2, o2, n2)); !mapsEqual(got, map[string]pulumirpc.PropertyDiff_Kind{"connection.host": pulumirpc.PropertyDiff_UPDATE}) {
		t.Fatalf("plain connection: %v", got)
	}
	// Unchanged inputs give DIFF_NONE whatever the state's stdout; ignoreChanges takes the state's value.
	base := olds.Copy()
	delete(base, "version")
	resp = diffOf(t, base, withOutputs(base, outputs{stdout: "other"}), base.Copy())
	if resp.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE || len(resp.GetDetailedDiff()) != 0 {
		t.Fatalf("no changes expected: %v", resp)
	}
	changed := base.Copy()
	changed["create"] = resource.NewStringProperty("c9")
	if resp = diffOf(t, base, withOutputs(base, outputs{}), changed, "create"); resp.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("ignored create still differs: %v", resp)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// 2. Logging: remote/logging.go, commandOutputs.go run and util.LogOutput.

func TestLogging_LinesAsEphemeralInfoStatus_OutputsAlwaysCaptured_AsCommandOutputsRun(t *testing.T) {
	s := startServer(t, serverOpts{})
	line := "echo out1; echo out2; echo err1 >&2"
	for mode, want := range map[string][]string{
		"":                {"out1", "out2", "err1"},
		"stdoutAndStderr": {"out1", "out2", "err1"},
		"stdout":          {"out1", "out2"},
		"stderr":          {"err1"},
		"none":            nil,
	} {
		p, h := newProvider()
		in := remote(s, map[string]any{"create": line})
		if mode != "" {
			in["logging"] = resource.NewStringProperty(mode)
		}
		_, state, err := create(t, p, remoteCommandType, "r", in, false)
		if err != nil {
			t.Fatal(err)
		}
		if state["stdout"].StringValue() != "out1\nout2" || state["stderr"].StringValue() != "err1" {
			t.Fatalf("logging %q: outputs %v", mode, state)
		}
		var got []string
		for _, r := range h.all() {
			if !r.status || r.sev != diag.Info {
				t.Fatalf("logging %q: line logged as %+v, want an ephemeral info status", mode, r)
			}
			got = append(got, r.msg)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("logging %q: logged %q, want %q", mode, got, want)
		}
	}
}

func TestRemote_CancelledContextLeavesTheCommandRunning_AsCommandOutputsRun(t *testing.T) {
	// commandOutputs.go: session.Run(cmd), with no watch of ctx: no signal, the output still read.
	s := startServer(t, serverOpts{})
	in := props(map[string]any{"create": "sleep 1; echo finished"})
	in["connection"] = s.connection(nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	started := time.Now()
	out, err := runRemote(ctx, &logger{ctx: context.Background(), host: &recordingHost{}}, "sleep 1; echo finished", in, outputs{})
	if err != nil {
		t.Fatalf("cancelled run: %v", err)
	}
	if took := time.Since(started); took < time.Second {
		t.Fatalf("returned after %v: the command was cut short", took)
	}
	if out.stdout != "finished" {
		t.Fatalf("stdout %q, want the command's own output", out.stdout)
	}
}

// goneHost is the engine after pulumi up was killed: every log call fails.
type goneHost struct{}

func (goneHost) Log(context.Context, diag.Severity, resource.URN, string) error {
	return errors.New("rpc error: code = Unavailable desc = connection refused")
}

func (goneHost) LogStatus(context.Context, diag.Severity, resource.URN, string) error {
	return errors.New("rpc error: code = Unavailable desc = connection refused")
}

func TestLogging_EngineGoneFallsBackToSlogOnStderr_AsGoProviderHostSink(t *testing.T) {
	// logging.go hostSink: a refused host log goes to slog's default logger, Info and up: under
	// SDK 3.224 (pulumi-command 1.2.1) Go's own, a line on stderr.
	var out bytes.Buffer
	fallbackOutput = &out
	defer func() { fallbackOutput = os.Stderr }()
	lg := &logger{ctx: context.Background(), host: goneHost{}, urn: "urn:pulumi:s::p::command:remote:Command::r"}
	lg.status(diag.Info, "health: probing")
	lg.log(diag.Warning, "a warning")
	lg.status(diag.Debug, "dropped below Info")
	text := out.String()
	for _, want := range []string{
		`level=INFO msg="health: probing" hostLogFailed="rpc error: code = Unavailable desc = connection refused" kind=status urn=urn:pulumi:s::p::command:remote:Command::r`,
		`level=WARN msg="a warning" hostLogFailed=`,
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("stderr %q lacks %q", text, want)
		}
	}
	if strings.Contains(text, "dropped below Info") {
		t.Fatalf("a debug line reached stderr: %q", text)
	}
}

// 3. Host key: connection.go SSHConfig.

func TestSSH_PinnedHostKeyLimitsHostKeyAlgorithms_AsConnectionSSHConfig(t *testing.T) {
	ed := newSigner(t, "ed25519")
	c := &connection{host: "h", user: "u", perDialTimeout: 15}
	hk := string(ssh.MarshalAuthorizedKey(ed.PublicKey()))
	c.hostKey = &hk
	cfg, _, err := c.sshConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.HostKeyAlgorithms, []string{"ssh-ed25519"}) || cfg.Timeout != 15*time.Second {
		t.Fatalf("config %v %v", cfg.HostKeyAlgorithms, cfg.Timeout)
	}
	bad := "not a key"
	c.hostKey = &bad
	if _, _, err := c.sshConfig(); err == nil || !strings.HasPrefix(err.Error(), "failed to parse host key: ") {
		t.Fatalf("bad host key: %v", err)
	}

	// A server whose RSA host key signs only with rsa-sha2-* (OpenSSH >= 8.8 by default).
	rsaKey := newSigner(t, "rsa")
	sha2Only, err := ssh.NewSignerWithAlgorithms(rsaKey.(ssh.AlgorithmSigner),
		[]string{ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512})
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{hostKey: sha2Only})
	run := func(extra map[string]any) error {
		p, _ := newProvider()
		in := props(map[string]any{"create": "true"})
		m := map[string]any{"dialErrorLimit": 0.0}
		for k, v := range extra {
			m[k] = v
		}
		in["connection"] = s.connection(m)
		_, _, err := create(t, p, remoteCommandType, "r", in, false)
		return err
	}
	// Pinned ssh-rsa key: the client offers only "ssh-rsa" (SHA-1) and the handshake fails.
	err = run(nil)
	if err == nil || !strings.Contains(err.Error(), "no common algorithm for host key") {
		t.Fatalf("pinned ssh-rsa key against an rsa-sha2-only server: %v", err)
	}
	// The same server without a pinned key works: the failure is the pinning's algorithm limit.
	if err := run(map[string]any{"hostKey": nil}); err != nil {
		t.Fatalf("unpinned: %v", err)
	}
	// A pinned ed25519 key works.
	s2 := startServer(t, serverOpts{})
	p, _ := newProvider()
	if _, _, err := create(t, p, remoteCommandType, "r", remote(s2, map[string]any{"create": "true"}), false); err != nil {
		t.Fatalf("pinned ed25519: %v", err)
	}
}

// 4. Dialing: connection.go dialWithRetry and Dial.

func TestDial_RetriesEveryErrorWithBackoff_AsDialWithRetry(t *testing.T) {
	s := startServer(t, serverOpts{})
	other := startServer(t, serverOpts{}) // its client key is not authorized on s
	h := &recordingHost{}
	lg := &logger{ctx: context.Background(), host: h}
	in := props(map[string]any{})
	in["connection"] = s.connection(map[string]any{"privateKey": other.clientPEM, "dialErrorLimit": 3.0})
	c, err := parseConnection(in)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.dial(context.Background(), lg)
	want := regexp.MustCompile(`^after 3 failed attempts: ssh: handshake failed: ssh: unable to authenticate`)
	if err == nil || !want.MatchString(err.Error()) {
		t.Fatalf("error %v", err)
	}
	dials, _, _ := s.snapshot()
	if len(dials) != 4 { // limit + 1 dials: an authentication error is retried like any other
		t.Fatalf("%d dials, want 4", len(dials))
	}
	// retry.Until's delays: 100 ms, then x1.5.
	for i, min := range []time.Duration{100, 150, 225} {
		if gap := dials[i+1].Sub(dials[i]); gap < min*time.Millisecond || gap > min*time.Millisecond+time.Second {
			t.Fatalf("gap %d is %v, want about %v ms", i, gap, min)
		}
	}
	var statuses []string
	for _, r := range h.all() {
		if r.status && r.sev == diag.Info {
			statuses = append(statuses, r.msg)
		}
	}
	if !slices.Equal(statuses, []string{"Dial 1/3 failed: retrying", "Dial 2/3 failed: retrying", "Dial 3/3 failed: retrying"}) {
		t.Fatalf("statuses %q", statuses)
	}

	// dialErrorLimit 0: one dial; a refused port is retried the same way.
	ln := startServer(t, serverOpts{})
	_ = ln.ln.Close()
	in["connection"] = ln.connection(map[string]any{"dialErrorLimit": 0.0})
	c, _ = parseConnection(in)
	if _, err := c.dial(context.Background(), nil); err == nil ||
		!regexp.MustCompile(`^after 0 failed attempts: dial tcp .*connection refused`).MatchString(err.Error()) {
		t.Fatalf("limit 0: %v", err)
	}
	// -1 is unlimited: only the context ends it, with the context's error.
	in["connection"] = ln.connection(map[string]any{"dialErrorLimit": -1.0})
	c, _ = parseConnection(in)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	h2 := &recordingHost{}
	if _, err := c.dial(ctx, &logger{ctx: ctx, host: h2}); err != context.DeadlineExceeded {
		t.Fatalf("unlimited: %v", err)
	}
	if n := len(h2.all()); n < 4 || h2.all()[0].msg != "Dial 1/inf failed: retrying" {
		t.Fatalf("unlimited: %d statuses %v", n, h2.all())
	}
	// Defaults: 10 errors, 15 s per dial.
	in["connection"] = resource.NewObjectProperty(props(map[string]any{"host": "h"}))
	c, _ = parseConnection(in)
	if c.dialErrorLimit != 10 || c.perDialTimeout != 15 || c.user != "root" || c.port != 22 {
		t.Fatalf("defaults %+v", c)
	}
}

func TestDial_PerDialTimeoutBoundsOnlyTCPConnect_AsXCryptoSSHDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c // accepted, never speaks SSH
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	c := &connection{host: "127.0.0.1", port: port, user: "u", dialErrorLimit: 0, perDialTimeout: 1}
	done := make(chan error, 1)
	go func() {
		_, err := c.dial(context.Background(), nil)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the dial ended within 2.5 s (%v): perDialTimeout bounded the handshake", err)
	case <-time.After(2500 * time.Millisecond):
	}
	(<-accepted).Close()
	if err := <-done; err == nil {
		t.Fatal("dial succeeded")
	}
}

// 5. CopyToRemote: copyController.go.

func TestCopyToRemote_SFTPTextAssetUpdateOnlyOnHashOrPath_DeleteKeeps_AsCopyController(t *testing.T) {
	s := startServer(t, serverOpts{})
	dir := t.TempDir()
	p, _ := newProvider()
	text := func(s string) resource.PropertyValue {
		a, err := asset.FromText(s)
		if err != nil {
			t.Fatal(err)
		}
		return resource.NewAssetProperty(a)
	}
	dest := filepath.Join(dir, "a", "b", "f.env")
	in := remote(s, map[string]any{"remotePath": dest})
	in["source"] = text("v1")
	// Preview: no copy, no id.
	id, _, err := create(t, p, copyToRemoteType, "c", in, true)
	if err != nil || id != "" {
		t.Fatalf("preview %q %v", id, err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatalf("preview copied: %v", err)
	}
	id, state, err := create(t, p, copyToRemoteType, "c", in, false)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(id) {
		t.Fatalf("id %q", id)
	}
	if b, _ := os.ReadFile(dest); string(b) != "v1" {
		t.Fatalf("content %q", b)
	}
	// Same source and path: no copy, even when other inputs changed.
	_ = os.WriteFile(dest, []byte("edited"), 0o600)
	same := in.Copy()
	same["triggers"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("x")})
	if _, err := update(t, p, copyToRemoteType, state, same, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "edited" {
		t.Fatalf("copied without a hash or path change: %q", b)
	}
	// New text (new hash): copied.
	changed := in.Copy()
	changed["source"] = text("v2")
	if state, err = update(t, p, copyToRemoteType, state, changed, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "v2" {
		t.Fatalf("content %q", b)
	}
	// New remotePath: copied there.
	moved := changed.Copy()
	dest2 := filepath.Join(dir, "c", "g.env")
	moved["remotePath"] = resource.NewStringProperty(dest2)
	if state, err = update(t, p, copyToRemoteType, state, moved, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dest2); string(b) != "v2" {
		t.Fatalf("content %q", b)
	}
	// Delete leaves the file.
	if _, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{
		Urn: urnOf(copyToRemoteType, "c"), Id: id, Properties: toStruct(t, state),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dest2); err != nil {
		t.Fatalf("delete removed the file: %v", err)
	}
	// A text asset to an existing directory fails.
	toDir := in.Copy()
	toDir["remotePath"] = resource.NewStringProperty(dir)
	if _, _, err := create(t, p, copyToRemoteType, "c", toDir, false); err == nil ||
		err.Error() != "remote path "+dir+" is a directory; when using a text asset, remotePath must be a file path" {
		t.Fatalf("text to dir: %v", err)
	}
}

func TestCopyToRemote_PathAssetAndArchive_AsSftpCopy(t *testing.T) {
	s := startServer(t, serverOpts{})
	src, dst := t.TempDir(), t.TempDir()
	_ = os.MkdirAll(filepath.Join(src, "site", "sub"), 0o700)
	_ = os.WriteFile(filepath.Join(src, "site", "sub", "x"), []byte("x"), 0o600)
	_ = os.WriteFile(filepath.Join(src, "one"), []byte("1"), 0o600)
	p, _ := newProvider()
	fa, err := asset.FromPath(filepath.Join(src, "one"))
	if err != nil {
		t.Fatal(err)
	}
	in := remote(s, map[string]any{"remotePath": dst})
	in["source"] = resource.NewAssetProperty(fa)
	if _, _, err := create(t, p, copyToRemoteType, "c", in, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "one")); string(b) != "1" { // file into an existing dir: dir/file
		t.Fatalf("file asset: %q", b)
	}
	ar, err := archive.FromPath(filepath.Join(src, "site"))
	if err != nil {
		t.Fatal(err)
	}
	in["source"] = resource.NewArchiveProperty(ar)
	in["remotePath"] = resource.NewStringProperty(filepath.Join(dst, "new"))
	if _, _, err := create(t, p, copyToRemoteType, "c", in, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "new", "site", "sub", "x")); string(b) != "x" { // dir "site": dest/site
		t.Fatalf("dir archive: %q", b)
	}
	// Check refuses what upstream's Check refuses: archives that are not paths.
	aa, err := archive.FromAssets(map[string]any{"f": fa})
	if err != nil {
		t.Fatal(err)
	}
	in["source"] = resource.NewArchiveProperty(aa)
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urnOf(copyToRemoteType, "c"), News: toStruct(t, in)})
	if err != nil || len(resp.GetFailures()) != 1 || resp.GetFailures()[0].GetReason() != "archive must be a path to a file or directory" {
		t.Fatalf("check %v %v", resp, err)
	}
}

// 6. addPreviousOutputInEnv and environment: commandOutputs.go run.

func TestPreviousOutputInEnv_RefusalWarnsAndRuns_EnvironmentRefusalFails_AsCommandOutputsRun(t *testing.T) {
	line := `echo "[$PULUMI_COMMAND_STDOUT|$PULUMI_COMMAND_STDERR]"; echo e >&2`
	accepting := startServer(t, serverOpts{acceptEnv: []string{envStdout, envStderr, "A"}})
	p, h := newProvider()
	in := remote(accepting, map[string]any{"create": line, "environment": map[string]any{"A": "1"}})
	_, state, err := create(t, p, remoteCommandType, "r", in, false)
	if err != nil {
		t.Fatal(err)
	}
	_, _, env := accepting.snapshot()
	if _, sent := env[envStdout]; sent || env["A"] != "1" { // create: no previous output, nothing sent
		t.Fatalf("create env %v", env)
	}
	if got := state["stdout"].StringValue(); got != "[|]" {
		t.Fatalf("create stdout %q", got)
	}
	state, err = update(t, p, remoteCommandType, state, in, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := state["stdout"].StringValue(); got != "[[|]|e]" {
		t.Fatalf("update stdout %q", got)
	}
	// addPreviousOutputInEnv: false sends nothing.
	off := accepting
	off.mu.Lock()
	off.envSeen = map[string]string{}
	off.mu.Unlock()
	noPrev := in.Copy()
	noPrev["addPreviousOutputInEnv"] = resource.NewBoolProperty(false)
	if _, err := update(t, p, remoteCommandType, state, noPrev, false); err != nil {
		t.Fatal(err)
	}
	if _, _, env := off.snapshot(); len(env) != 1 {
		t.Fatalf("addPreviousOutputInEnv false sent %v", env)
	}
	for _, r := range h.all() {
		if !r.status {
			t.Fatalf("unexpected log %+v", r)
		}
	}

	// sshd refusing PULUMI_COMMAND_*: a warning per variable, and the command runs.
	refusing := startServer(t, serverOpts{})
	p, h = newProvider()
	in2 := remote(refusing, map[string]any{"create": line})
	if _, err := update(t, p, remoteCommandType, withOutputs(in2, outputs{stdout: "o", stderr: "e"}), in2, false); err != nil {
		t.Fatalf("refused previous output failed the command: %v", err)
	}
	var warnings []string
	for _, r := range h.all() {
		if !r.status && r.sev == diag.Warning {
			warnings = append(warnings, r.msg)
		}
	}
	wantText := "Unable to set 'PULUMI_COMMAND_STDOUT'. This only works if your SSH server is configured to accept\n" +
		"\tthese variables via AcceptEnv. Alternatively, if a Bash-like shell runs the command on the remote host, you could\n" +
		"\tprefix the command itself with the variables in the form 'VAR=value command'"
	if len(warnings) != 2 || warnings[0] != wantText || !strings.HasPrefix(warnings[1], "Unable to set 'PULUMI_COMMAND_STDERR'.") {
		t.Fatalf("warnings %q", warnings)
	}
	// A refused environment variable fails the command (logged as an error) before it runs.
	p, h = newProvider()
	in3 := remote(refusing, map[string]any{"create": "touch " + filepath.Join(t.TempDir(), "ran"), "environment": map[string]any{"B": "2"}})
	_, _, err = create(t, p, remoteCommandType, "r", in3, false)
	if err == nil || err.Error() != `could not set environment variable "B": ssh: setenv failed` {
		t.Fatalf("environment refusal: %v", err)
	}
	if recs := h.all(); len(recs) != 1 || recs[0].sev != diag.Error || recs[0].status ||
		!strings.HasPrefix(recs[0].msg, "Unable to set 'B'.") {
		t.Fatalf("logs %+v", recs)
	}
}

// 7. Errors and the command chosen: commandController.go and commandOutputs.go.

func TestCommand_ErrorTextAndCommandChoice_AsCommandController(t *testing.T) {
	s := startServer(t, serverOpts{})
	p, _ := newProvider()
	fail := "echo o; sleep 0.2; echo e >&2; exit 3"
	_, _, err := create(t, p, remoteCommandType, "r", remote(s, map[string]any{"create": fail}), false)
	if err == nil || err.Error() != "Process exited with status 3: running \""+fail+"\":\no\ne\n" {
		t.Fatalf("error %q", err)
	}
	// Preview runs nothing; the id is the name plus 8 hex characters, in a preview too.
	in := remote(s, map[string]any{"create": "echo created", "update": "echo updated", "delete": `echo "deleted $PULUMI_COMMAND_STDOUT"`})
	_, before, _ := s.snapshot()
	id, prev, err := create(t, p, remoteCommandType, "web", in, true)
	if err != nil || !regexp.MustCompile(`^web[0-9a-f]{8}$`).MatchString(id) || !prev["stdout"].IsComputed() {
		t.Fatalf("preview %q %v %v", id, prev, err)
	}
	id, state, err := create(t, p, remoteCommandType, "web", in, false)
	if err != nil || !regexp.MustCompile(`^web[0-9a-f]{8}$`).MatchString(id) || state["stdout"].StringValue() != "created" {
		t.Fatalf("create %q %v %v", id, state, err)
	}
	if !state["connection"].IsSecret() {
		t.Fatalf("connection lost its secretness: %v", state["connection"])
	}
	// Update preview: nothing runs; old outputs stay when no input changed, else become unknown.
	pv, err := update(t, p, remoteCommandType, state, in, true)
	if err != nil || pv["stdout"].StringValue() != "created" {
		t.Fatalf("preview update, same inputs: %v %v", pv, err)
	}
	in2 := in.Copy()
	in2["create"] = resource.NewStringProperty("echo other")
	if pv, err = update(t, p, remoteCommandType, state, in2, true); err != nil || !pv["stdout"].IsComputed() {
		t.Fatalf("preview update, changed: %v %v", pv, err)
	}
	// Only inputs present in the state count: a newly added input keeps the old outputs (markComputed).
	in3 := in.Copy()
	in3["stdin"] = resource.NewStringProperty("x")
	if pv, err = update(t, p, remoteCommandType, state, in3, true); err != nil || pv["stdout"].StringValue() != "created" {
		t.Fatalf("preview update, added input: %v %v", pv, err)
	}
	_, execs, _ := s.snapshot()
	if len(execs) != len(before)+1 {
		t.Fatalf("a preview ran a command: %v", execs[len(before):])
	}
	// Update runs update; without update, create; with neither, keeps the old outputs.
	if st, err := update(t, p, remoteCommandType, state, in, false); err != nil || st["stdout"].StringValue() != "updated" {
		t.Fatalf("update: %v %v", st, err)
	}
	noUpdate := in.Copy()
	delete(noUpdate, "update")
	if st, err := update(t, p, remoteCommandType, state, noUpdate, false); err != nil || st["stdout"].StringValue() != "created" {
		t.Fatalf("update without update: %v %v", st, err)
	}
	neither := props(map[string]any{})
	neither["connection"] = in["connection"]
	if st, err := update(t, p, remoteCommandType, state, neither, false); err != nil || st["stdout"].StringValue() != "created" {
		t.Fatalf("update with neither: %v %v", st, err)
	}
	// Delete runs delete with the previous stdout in the environment (when sshd accepts it).
	s.mu.Lock()
	s.acceptEnv[envStdout] = true
	s.mu.Unlock()
	if _, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{
		Urn: urnOf(remoteCommandType, "web"), Id: id, Properties: toStruct(t, state),
	}); err != nil {
		t.Fatal(err)
	}
	_, execs, env := s.snapshot()
	if execs[len(execs)-1] != `echo "deleted $PULUMI_COMMAND_STDOUT"` || env[envStdout] != "created" {
		t.Fatalf("delete ran %q with %v", execs[len(execs)-1], env)
	}
}

// The local Command: local/commandController.go and local/commandOutputs.go run.

func TestLocalCommand_LoggingErrorsPreviousOutput_AsLocalRun(t *testing.T) {
	p, h := newProvider()
	line := `echo "[$PULUMI_COMMAND_STDOUT]"; echo e >&2`
	in := props(map[string]any{"create": line, "logging": "stdout"})
	id, state, err := create(t, p, localCommandType, "l", in, false)
	if err != nil || !regexp.MustCompile(`^l[0-9a-f]{8}$`).MatchString(id) ||
		state["stdout"].StringValue() != "[]" || state["stderr"].StringValue() != "e" {
		t.Fatalf("create %q %v %v", id, state, err)
	}
	if recs := h.all(); len(recs) != 1 || recs[0] != (logRecord{diag.Info, true, "[]"}) {
		t.Fatalf("logs %+v", recs)
	}
	if state, err = update(t, p, localCommandType, state, in, false); err != nil || state["stdout"].StringValue() != "[[]]" {
		t.Fatalf("update %v %v", state, err)
	}
	off := in.Copy()
	off["addPreviousOutputInEnv"] = resource.NewBoolProperty(false)
	if st, err := update(t, p, localCommandType, state, off, false); err != nil || st["stdout"].StringValue() != "[]" {
		t.Fatalf("addPreviousOutputInEnv false: %v %v", st, err)
	}
	fail := "echo o; sleep 0.2; echo e >&2; exit 3"
	_, _, err = create(t, p, localCommandType, "l", props(map[string]any{"create": fail}), false)
	if err == nil || err.Error() != "exit status 3: running \""+fail+"\":\no\ne\n" {
		t.Fatalf("error %q", err)
	}
}
