package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/blang/semver"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// packageJSON is what the host reads of a package.json (all of these fields must parse).
type packageJSON struct {
	Name            string                  `json:"name"`
	Version         string                  `json:"version"`
	Pulumi          plugin.PulumiPluginJSON `json:"pulumi"`
	Main            string                  `json:"main"`
	Dependencies    map[string]string       `json:"dependencies"`
	DevDependencies map[string]string       `json:"devDependencies"`
}

// packageWalk collects resource plugins from every package.json under a node_modules
// directory below the program directory, as upstream's GetRequiredPackages does.
type packageWalk struct {
	visited     map[string]bool           // directories, after resolving symlinks
	sdkVersions map[string]semver.Version // @pulumi/pulumi package.json path -> version
	packages    []*pulumirpc.PackageDependency
	errs        []error
}

func walkPackages(programDir string) *packageWalk {
	w := &packageWalk{visited: map[string]bool{}, sdkVersions: map[string]semver.Version{}}
	w.dir(programDir, false)
	return w
}

func (w *packageWalk) dir(dir string, inNodeModules bool) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		w.errs = append(w.errs, fmt.Errorf("getting full path for plugin dir %s: %w", dir, err))
		return
	}
	if w.visited[dir] {
		return
	}
	w.visited[dir] = true
	entries, err := os.ReadDir(dir)
	if err != nil {
		w.errs = append(w.errs, fmt.Errorf("reading plugin dir %s: %w", dir, err))
		return
	}
	// Entries directly in a node_modules directory, and everything below them, are packages.
	below := inNodeModules || filepath.Base(dir) == "node_modules"
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			// A linked directory counts once, wherever it is linked from.
			if path, err = filepath.EvalSymlinks(path); err != nil {
				w.errs = append(w.errs, fmt.Errorf("resolving link in plugin dir %s: %w", path, err))
				continue
			}
			fi, err := os.Stat(path)
			if err != nil {
				w.errs = append(w.errs, err)
				continue
			}
			isDir = fi.IsDir()
		}
		switch {
		case isDir:
			// A policy pack's plugins are not the program's.
			pack, err := workspace.DetectPolicyPackPathAt(path)
			if err != nil {
				w.errs = append(w.errs, err)
				continue
			}
			if pack == "" {
				w.dir(path, below)
			}
		case inNodeModules && e.Name() == "package.json":
			w.packageFile(path)
		}
	}
}

func (w *packageWalk) packageFile(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		w.errs = append(w.errs, fmt.Errorf("reading package.json %s: %w", path, err))
		return
	}
	var info packageJSON
	if err := json.Unmarshal(b, &info); err != nil {
		w.errs = append(w.errs, fmt.Errorf("unmarshaling package.json %s: %w", path, err))
		return
	}
	if info.Name == "@pulumi/pulumi" {
		v, err := semver.Parse(info.Version)
		if err != nil {
			w.errs = append(w.errs, fmt.Errorf("could not understand version %s in '%s': %w", info.Version, path, err))
			return
		}
		w.sdkVersions[path] = v
	}
	if !info.Pulumi.Resource {
		return
	}
	dep, err := resourcePackage(info)
	if err != nil {
		w.errs = append(w.errs, fmt.Errorf("unmarshaling package.json %s: %w", path, err))
		return
	}
	w.packages = append(w.packages, dep)
}

// resourcePackage is the plugin a package.json with "pulumi": {"resource": true} asks for.
func resourcePackage(info packageJSON) (*pulumirpc.PackageDependency, error) {
	name := info.Pulumi.Name
	if name == "" {
		switch {
		case info.Name == "":
			return nil, errors.New("missing expected \"name\" property")
		case strings.HasPrefix(info.Name, "@pulumi/"):
			name = strings.TrimPrefix(info.Name, "@pulumi/")
		default:
			return nil, fmt.Errorf("Missing property \"name\" for the third-party plugin '%v' "+
				"inside package.json under the \"pulumi\" section.", info.Name)
		}
	}
	version := info.Pulumi.Version
	if version == "" {
		version = info.Version
	}
	if version == "" {
		return nil, errors.New("missing expected \"version\" property")
	}
	if !strings.HasPrefix(version, "v") {
		version = "v" + version
	}
	dep := &pulumirpc.PackageDependency{
		Name: name, Kind: "resource", Version: version, Server: info.Pulumi.Server,
		Parameterization: parameterization(info.Pulumi.Parameterization),
		Extension:        parameterization(info.Pulumi.ExtensionParameterization),
	}
	return dep, nil
}

func parameterization(p *plugin.PulumiParameterizationJSON) *pulumirpc.PackageParameterization {
	if p == nil {
		return nil
	}
	return &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
}

// compatibleSDKs says whether two @pulumi/pulumi versions can share a program, with upstream's rules.
func compatibleSDKs(a, b semver.Version) (bool, string) {
	switch {
	case a.Major == 0 && b.Major == 0:
		if a.Minor != b.Minor {
			return false, "Differing major or minor versions are not supported."
		}
	case a.Major >= 1 && a.Major <= 2 && b.Major >= 1 && b.Major <= 2:
	case a.Major > 2 || b.Major > 2:
		if a.Major != b.Major {
			return false, "Differing major versions are not supported."
		}
	case a.Major == 1 && b.Major == 0 && b.Minor == 17, b.Major == 1 && a.Major == 0 && a.Minor == 17:
	default:
		return false, "Differing major or minor versions are not supported."
	}
	return true, ""
}

// warnIncompatibleSDKs writes the one warning upstream prints when two copies of the SDK cannot mix.
func warnIncompatibleSDKs(out io.Writer, versions map[string]semver.Version) {
	var firstPath string
	var first semver.Version
	for path, v := range versions {
		if firstPath == "" {
			firstPath, first = path, v
			continue
		}
		if ok, msg := compatibleSDKs(v, first); !ok {
			fmt.Fprintf(out, "Found incompatible versions of @pulumi/pulumi. %s\n"+
				"  Version %s referenced at %s\n  Version %s referenced at %s\n", msg, first, firstPath, v, path)
			return
		}
	}
}

// GetRequiredPackages reports the resource plugins of the node_modules tree below the program
// directory; problems with single packages are logged and the rest is still reported.
func (h *host) GetRequiredPackages(
	_ context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	w := walkPackages(programDirectory(req.GetInfo()))
	if err := errors.Join(w.errs...); err != nil {
		logging.V(3).Infof("one or more errors while discovering plugins: %s", err)
	} else {
		warnIncompatibleSDKs(os.Stderr, w.sdkVersions)
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: w.packages}, nil
}
