package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/blang/semver"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func requiredPackages(t *testing.T, programDir string) []string {
	t.Helper()
	resp, err := newHost("", "").GetRequiredPackages(context.Background(), &pulumirpc.GetRequiredPackagesRequest{
		Info: &pulumirpc.ProgramInfo{ProgramDirectory: programDir, RootDirectory: programDir, EntryPoint: "."},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range resp.GetPackages() {
		s := p.GetKind() + " " + p.GetName() + " " + p.GetVersion()
		if p.GetServer() != "" {
			s += " " + p.GetServer()
		}
		if q := p.GetParameterization(); q != nil {
			s += " param=" + q.GetName() + "@" + q.GetVersion() + ":" + string(q.GetValue())
		}
		got = append(got, s)
	}
	slices.Sort(got)
	return got
}

func TestGetRequiredPackages_WalksWholeNodeModulesTree_AsRealHost(t *testing.T) {
	prog := t.TempDir()
	nm := filepath.Join(prog, "node_modules")
	// A direct dependency, with the plugin name taken from the @pulumi scope and a "v" added.
	write(t, filepath.Join(nm, "@pulumi/command/package.json"),
		`{"name":"@pulumi/command","version":"1.2.1","pulumi":{"resource":true}}`)
	// A transitive one nested in another package's node_modules, still reported.
	write(t, filepath.Join(nm, "lib/package.json"), `{"name":"lib","version":"1.0.0"}`)
	write(t, filepath.Join(nm, "lib/node_modules/@pulumi/random/package.json"),
		`{"name":"@pulumi/random","version":"4.21.2","pulumi":{"resource":true}}`)
	// The "pulumi" block names a third-party plugin, its version and server.
	write(t, filepath.Join(nm, "@acme/thing/package.json"),
		`{"name":"@acme/thing","version":"9.9.9","pulumi":{"resource":true,"name":"acme","version":"v2.0.0",`+
			`"server":"https://example.test/plugins"}}`)
	// Parameterized packages carry their parameterization (value is base64 in package.json).
	write(t, filepath.Join(nm, "@pulumi/terraform-thing/package.json"),
		`{"name":"@pulumi/terraform-thing","version":"0.1.0","pulumi":{"resource":true,"name":"terraform-provider",`+
			`"version":"0.5.0","parameterization":{"name":"thing","version":"0.1.0","value":"eyJ4IjoxfQ=="}}}`)
	// Not reported: resource false, a third party without "pulumi.name", an unparsable file,
	// a package.json directly in node_modules, and one outside node_modules.
	write(t, filepath.Join(nm, "@pulumi/pulumi/package.json"),
		`{"name":"@pulumi/pulumi","version":"3.276.0","pulumi":{"resource":false}}`)
	write(t, filepath.Join(nm, "nameless/package.json"), `{"name":"nameless","version":"1.0.0","pulumi":{"resource":true}}`)
	write(t, filepath.Join(nm, "broken/package.json"), `{"name":`)
	write(t, filepath.Join(nm, "package.json"), `{"name":"@pulumi/top","version":"1.0.0","pulumi":{"resource":true}}`)
	write(t, filepath.Join(prog, "package.json"), `{"name":"@pulumi/own","version":"1.0.0","pulumi":{"resource":true}}`)
	write(t, filepath.Join(prog, "src/package.json"), `{"name":"@pulumi/src","version":"1.0.0","pulumi":{"resource":true}}`)
	// A policy pack's own node_modules are not the program's.
	write(t, filepath.Join(prog, "policy/PulumiPolicy.yaml"), "runtime: nodejs\n")
	write(t, filepath.Join(prog, "policy/node_modules/@pulumi/aws/package.json"),
		`{"name":"@pulumi/aws","version":"7.0.0","pulumi":{"resource":true}}`)
	// A directory linked twice is read once.
	write(t, filepath.Join(prog, "shared/node_modules/@pulumi/docker/package.json"),
		`{"name":"@pulumi/docker","version":"5.2.0","pulumi":{"resource":true}}`)
	if err := os.Symlink(filepath.Join(prog, "shared/node_modules"), filepath.Join(prog, "linked")); err != nil {
		t.Fatal(err)
	}

	want := []string{
		"resource acme v2.0.0 https://example.test/plugins",
		"resource command v1.2.1",
		"resource docker v5.2.0",
		"resource random v4.21.2",
		"resource terraform-provider v0.5.0 param=thing@0.1.0:{\"x\":1}",
	}
	if got := requiredPackages(t, prog); !slices.Equal(got, want) {
		t.Fatalf("packages\n got %q\nwant %q", got, want)
	}
}

func TestGetRequiredPackages_SameVersionTwiceIsReportedTwice_AsRealHost(t *testing.T) {
	prog := t.TempDir()
	pkg := `{"name":"@pulumi/command","version":"1.2.1","pulumi":{"resource":true}}`
	write(t, filepath.Join(prog, "node_modules/@pulumi/command/package.json"), pkg)
	write(t, filepath.Join(prog, "node_modules/x/node_modules/@pulumi/command/package.json"), pkg)
	// Upstream dedupes directories, not packages: the engine merges the two.
	want := []string{"resource command v1.2.1", "resource command v1.2.1"}
	if got := requiredPackages(t, prog); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestGetRequiredPackages_StartsAtProgramDirectory_AsRealHost(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "node_modules/@pulumi/command/package.json"),
		`{"name":"@pulumi/command","version":"1.2.1","pulumi":{"resource":true}}`)
	prog := filepath.Join(root, "stacks")
	write(t, filepath.Join(prog, "index.ts"), "")
	// `main: stacks/` makes stacks the program directory; node_modules above it are not searched.
	if got := requiredPackages(t, prog); len(got) != 0 {
		t.Fatalf("got %q, want nothing", got)
	}
	// A node_modules link inside the program directory is followed.
	if err := os.Symlink(filepath.Join(root, "node_modules"), filepath.Join(prog, "node_modules")); err != nil {
		t.Fatal(err)
	}
	if got := requiredPackages(t, prog); !slices.Equal(got, []string{"resource command v1.2.1"}) {
		t.Fatalf("got %q", got)
	}
}

func TestGetRequiredPackages_IncompatibleSDKsWarning_AsRealHost(t *testing.T) {
	var out strings.Builder
	warnIncompatibleSDKs(&out, map[string]semver.Version{
		"a/package.json": semver.MustParse("3.276.0"),
		"b/package.json": semver.MustParse("2.10.0"),
	})
	if !strings.Contains(out.String(), "Found incompatible versions of @pulumi/pulumi. Differing major versions") {
		t.Fatalf("warning %q", out.String())
	}
	out.Reset()
	warnIncompatibleSDKs(&out, map[string]semver.Version{
		"a/package.json": semver.MustParse("3.276.0"),
		"b/package.json": semver.MustParse("3.100.0"),
	})
	if out.String() != "" {
		t.Fatalf("same major version warned: %q", out.String())
	}
}

func TestGetRequiredPlugins_Unimplemented_AsRealHost(t *testing.T) {
	_, err := newHost("", "").GetRequiredPlugins(context.Background(), &pulumirpc.GetRequiredPluginsRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("err = %v, want Unimplemented so the engine uses GetRequiredPackages", err)
	}
}

func TestGetProgramDependencies_FromLockFile_AsRealHost(t *testing.T) {
	prog := t.TempDir()
	write(t, filepath.Join(prog, "package.json"),
		`{"name":"p","version":"1.0.0","dependencies":{"@pulumi/pulumi":"3.276.0"}}`)
	// Written as npm writes it: the SDK's lock file reader goes by npm's line layout.
	write(t, filepath.Join(prog, "package-lock.json"), `{
  "name": "p",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {
      "name": "p",
      "version": "1.0.0",
      "dependencies": {
        "@pulumi/pulumi": "3.276.0"
      }
    },
    "node_modules/@pulumi/pulumi": {
      "version": "3.276.0",
      "dependencies": {
        "semver": "^7"
      }
    },
    "node_modules/semver": {
      "version": "7.7.1"
    }
  }
}
`)
	deps := func(transitive bool) []string {
		resp, err := newHost("", "").GetProgramDependencies(context.Background(),
			&pulumirpc.GetProgramDependenciesRequest{
				Info:                   &pulumirpc.ProgramInfo{ProgramDirectory: prog, RootDirectory: prog, EntryPoint: "."},
				TransitiveDependencies: transitive,
			})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range resp.GetDependencies() {
			got = append(got, d.GetName()+"@"+d.GetVersion())
		}
		slices.Sort(got)
		return got
	}
	if got := deps(false); !slices.Equal(got, []string{"@pulumi/pulumi@3.276.0"}) {
		t.Fatalf("direct: %q", got)
	}
	if got := deps(true); !slices.Equal(got, []string{"@pulumi/pulumi@3.276.0", "semver@7.7.1"}) {
		t.Fatalf("transitive: %q", got)
	}
}

func TestParseOptions_RejectsWrongTypes_AsRealHost(t *testing.T) {
	for _, bad := range []map[string]any{
		{"typescript": "yes"}, {"tsconfig": true}, {"nodeargs": 1.0}, {"packagemanager": "deno"},
	} {
		if _, err := parseOptions(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	opts, err := parseOptions(nil)
	if err != nil || !opts.typescript {
		t.Fatalf("defaults: %+v %v", opts, errors.Unwrap(err))
	}
}
