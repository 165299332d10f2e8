#!/usr/bin/env bash
# Make a Pulumi engine available for this project:
#   - the `pulumi` CLI (>= 3.200),
#   - the Node.js language host `pulumi-language-nodejs`,
#   - the command provider `pulumi-resource-command` (npm @pulumi/command 1.2.1),
#   - the Kubernetes provider `pulumi-resource-kubernetes`, at the plugin version that the npm
#     @pulumi/kubernetes pinned in package.json asks for (its package.json's `pulumi.version`).
# If an installed `pulumi` is recent enough and the other three are available, they
# are used as they are. Otherwise the binaries are built into .engine/ (gitignored), skipping
# any binary already built from the same pinned sources (stamp files in .engine/stamps):
#   .engine/bin/pulumi, .engine/bin/pulumi-language-nodejs (found next to the CLI) and
#   .engine/plugins/pulumi-resource-command, from the Go tools module in tools/pulumi;
#   .engine/plugins/pulumi-resource-kubernetes, the real provider, from the Go module in
#   tools/pulumi-kubernetes (github.com/pulumi/pulumi-kubernetes/provider/v4). Its main package
#   embeds schema-embed.json and terraform-mapping-embed.json, which upstream's Makefile
#   generates (`go generate`) and the module download lacks, so it is built in
#   .engine/src/pulumi-kubernetes: a copy of that package next to the module's go.mod and go.sum.
# Both providers go into the Pulumi plugin cache with
# `pulumi plugin install resource NAME VERSION --file ...` (no download).
#
# Then `source scripts/dev/engine-env.sh` to put .engine/bin first on PATH.
#
# Environment:
#   ENGINE_FORCE_BUILD=1   build into .engine/bin even if a usable pulumi is installed
#   ENGINE_DIR=DIR         build into DIR instead of .engine (bench:engine --cold uses a fresh one)
set -euo pipefail

start=$SECONDS
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools_dir="$repo_root/tools/pulumi"
kubernetes_tools_dir="$repo_root/tools/pulumi-kubernetes"
kubernetes_module="github.com/pulumi/pulumi-kubernetes/provider/v4"
engine_dir="${ENGINE_DIR:-$repo_root/.engine}"
bin_dir="$engine_dir/bin"
plugin_dir="$engine_dir/plugins"
stamp_dir="$engine_dir/stamps"
src_dir="$engine_dir/src"
min_major=3
min_minor=200
command_version="1.2.1"
kubernetes_version="" # set by main, from kubernetes_plugin_version

log() { printf '[install-engine] %s\n' "$*"; }
die() {
  printf '[install-engine] ERROR: %s\n' "$*" >&2
  exit 1
}
done_in() { log "$1 (took $((SECONDS - start))s)"; }

# version_ok VERSION: true if VERSION (e.g. v3.274.1) is >= min_major.min_minor.
version_ok() {
  local v="${1#v}" major minor
  major="${v%%.*}"
  minor="${v#*.}"
  minor="${minor%%.*}"
  [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
  ((major > min_major || (major == min_major && minor >= min_minor)))
}

# kubernetes_plugin_version: the version of the kubernetes plugin that the npm @pulumi/kubernetes
# pinned in package.json asks the engine for, which is the version to install it as: its
# package.json's `pulumi.version` (node_modules/@pulumi/kubernetes, after npm ci), which for
# @pulumi/kubernetes is its own version, so before npm ci the exact version package.json pins.
kubernetes_plugin_version() {
  local versions pinned installed
  command -v node >/dev/null 2>&1 || die "no node on PATH (source scripts/dev/node-env.sh)"
  # shellcheck disable=SC2016 # JavaScript
  versions="$(node -e '
    const fs = require("fs"), path = require("path");
    const read = (...p) => JSON.parse(fs.readFileSync(path.join(process.argv[1], ...p), "utf8"));
    const pinned = (read("package.json").dependencies || {})["@pulumi/kubernetes"] || "";
    let installed = "";
    try {
      const sdk = read("node_modules", "@pulumi", "kubernetes", "package.json");
      installed = (sdk.pulumi && sdk.pulumi.version) || sdk.version;
    } catch (e) {
      if (e.code !== "ENOENT") throw e;
    }
    console.log(pinned + " " + installed);
  ' "$repo_root")" || die "cannot read @pulumi/kubernetes's version from package.json and node_modules"
  read -r pinned installed <<<"$versions" || true
  [[ "$pinned" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
    die "package.json must pin @pulumi/kubernetes to an exact version (found '${pinned:-nothing}')"
  [[ -z "$installed" || "${installed#v}" == "$pinned" ]] ||
    die "node_modules holds @pulumi/kubernetes asking for plugin $installed," \
      "package.json pins $pinned: run npm ci"
  printf '%s\n' "$pinned"
}

# has_plugin PULUMI NAME VERSION: the provider NAME is on PATH or installed as plugin NAME VERSION.
has_plugin() {
  command -v "pulumi-resource-$2" >/dev/null 2>&1 && return 0
  "$1" plugin ls 2>/dev/null |
    awk -v n="$2" -v v="$3" '$1 == n && $2 == "resource" && $3 == v { found = 1 } END { exit !found }'
}

installed_engine_ok() {
  local pulumi_bin version
  pulumi_bin="$(command -v pulumi 2>/dev/null)" || {
    log "no pulumi on PATH"
    return 1
  }
  # Our own build directory does not count as "installed".
  [[ "$pulumi_bin" != "$bin_dir/pulumi" ]] || return 1
  version="$(PULUMI_SKIP_UPDATE_CHECK=true "$pulumi_bin" version 2>/dev/null || true)"
  if ! version_ok "$version"; then
    log "pulumi on PATH ($pulumi_bin) is '${version:-unknown}', need >= $min_major.$min_minor"
    return 1
  fi
  # The official distribution ships its language hosts next to the CLI.
  if ! PATH="$(dirname "$pulumi_bin"):$PATH" command -v pulumi-language-nodejs >/dev/null 2>&1; then
    log "pulumi $version found, but no pulumi-language-nodejs next to it or on PATH"
    return 1
  fi
  if ! has_plugin "$pulumi_bin" command "$command_version"; then
    log "pulumi $version found, but the command provider $command_version is not installed" \
      "(pulumi plugin install resource command $command_version)"
    return 1
  fi
  if ! has_plugin "$pulumi_bin" kubernetes "$kubernetes_version"; then
    log "pulumi $version found, but the kubernetes provider $kubernetes_version is not installed" \
      "(pulumi plugin install resource kubernetes $kubernetes_version)"
    return 1
  fi
  log "using installed pulumi $version at $pulumi_bin"
  return 0
}

# stamp_for NAME MODULE_DIR [FILE...]: a digest of the pinned inputs of one binary (NAME carries
# the version it is built to report, when that is not in go.mod).
stamp_for() {
  local name="$1" module_dir="$2"
  shift 2
  {
    printf '%s\n' "$name"
    go version
    cat "$module_dir/go.mod" "$module_dir/go.sum" "$@"
  } | sha256sum | cut -d' ' -f1
}

# The host of Pulumi dynamic providers, which the CLI distribution ships as a small script next
# to the CLI: it runs the SDK's own dynamic provider from the program's node_modules (the program
# runs in its main directory, so node resolves the SDK upwards from there).
install_dynamic_provider_host() {
  local script="$bin_dir/pulumi-resource-pulumi-nodejs"
  # shellcheck disable=SC2016 # the $(...) and "$@" belong to the script being written
  local body='#!/bin/sh
exec node "$(node -p '"'"'require.resolve("@pulumi/pulumi/cmd/dynamic-provider")'"'"')" "$@"
'
  if [[ "$(cat "$script" 2>/dev/null)" != "${body%$'\n'}" ]]; then
    printf '%s' "$body" >"$script"
    chmod 0755 "$script"
    log "dynamic provider host: $script"
  fi
}

build_failed() {
  die "building $1 failed (see the go output above). Install pulumi >= $min_major.$min_minor with" \
    "pulumi-language-nodejs, 'pulumi plugin install resource command $command_version' and" \
    "'pulumi plugin install resource kubernetes $kubernetes_version' instead."
}

# up_to_date OUT_DIR NAME STAMP: OUT_DIR/NAME was built from the inputs that STAMP digests.
up_to_date() {
  [[ -x "$1/$2" && -f "$stamp_dir/$2" && "$(cat "$stamp_dir/$2")" == "$3" ]]
}

# build MODULE_DIR OUT_DIR NAME PACKAGE STAMP [go build flags...]: go build PACKAGE in the Go
# module MODULE_DIR into OUT_DIR/NAME, unless it is up to date.
build() {
  local module_dir="$1" out_dir="$2" name="$3" pkg="$4" stamp="$5" t0=$SECONDS
  shift 5
  if up_to_date "$out_dir" "$name" "$stamp"; then
    log "$name: up to date, skipping"
    return 0
  fi
  log "$name: building $pkg (the first build on a machine takes several minutes)"
  rm -f "$stamp_dir/$name"
  if ! (cd "$module_dir" && go build -mod=readonly -buildvcs=false "$@" -o "$out_dir/$name.tmp" "$pkg"); then
    rm -f "$out_dir/$name.tmp"
    build_failed "$name"
  fi
  mv -f "$out_dir/$name.tmp" "$out_dir/$name"
  printf '%s\n' "$stamp" >"$stamp_dir/$name"
  log "$name: built in $((SECONDS - t0))s"
}

# build_kubernetes_provider: the real pulumi-resource-kubernetes into .engine/plugins, reporting
# $kubernetes_version (upstream's Makefile sets it with the same -X flag, and builds with cgo off).
# The provider's main package embeds two files that upstream's `go generate` writes next to it
# (generate.go: schema.json with `version` set to $VERSION, and terraform-mapping.json, both
# re-serialised compactly); the module download has only their sources, so the package is copied
# into .engine/src/pulumi-kubernetes, beside copies of tools/pulumi-kubernetes/go.mod and go.sum
# (the same pinned dependencies; the rest of the provider is used from the module cache), and
# generated and built there, as upstream does:
# `VERSION=<version> go generate cmd/pulumi-resource-kubernetes/main.go`, then go build.
build_kubernetes_provider() {
  local name=pulumi-resource-kubernetes stamp t0=$SECONDS module_src build_dir="$src_dir/pulumi-kubernetes"
  local ldflags="-X $kubernetes_module/pkg/version.Version=$kubernetes_version" pkg_src
  stamp="$(stamp_for "$name $kubernetes_version" "$kubernetes_tools_dir")"
  if up_to_date "$plugin_dir" "$name" "$stamp"; then
    log "$name: up to date, skipping"
    return 0
  fi
  module_src="$(cd "$kubernetes_tools_dir" && go mod download -json "$kubernetes_module" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" || true
  [[ -d "$module_src/cmd/$name" ]] ||
    die "cannot download $kubernetes_module (pinned in $kubernetes_tools_dir/go.mod)"
  pkg_src="$module_src/cmd/$name"
  if [[ -f "$pkg_src/schema-embed.json" && -f "$pkg_src/terraform-mapping-embed.json" ]]; then
    # A module that ships the generated files builds as it is.
    CGO_ENABLED=0 build "$kubernetes_tools_dir" "$plugin_dir" "$name" "$kubernetes_module/cmd/$name" \
      "$stamp" -ldflags "$ldflags"
    return 0
  fi
  log "$name: building $kubernetes_module/cmd/$name $kubernetes_version in $build_dir" \
    "(the first build on a machine takes several minutes)"
  rm -f "$stamp_dir/$name"
  rm -rf "$build_dir"
  mkdir -p "$build_dir/cmd"
  cp "$kubernetes_tools_dir/go.mod" "$kubernetes_tools_dir/go.sum" "$build_dir/"
  cp -R "$pkg_src" "$build_dir/cmd/"
  chmod -R u+w "$build_dir" # the module cache is read-only
  if ! (cd "$build_dir" && GOFLAGS="-mod=readonly ${GOFLAGS:-}" VERSION="$kubernetes_version" \
    go generate "cmd/$name/main.go"); then
    build_failed "$name (go generate)"
  fi
  if ! (cd "$build_dir" && CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -ldflags "$ldflags" \
    -o "$plugin_dir/$name.tmp" "./cmd/$name"); then
    rm -f "$plugin_dir/$name.tmp"
    build_failed "$name"
  fi
  mv -f "$plugin_dir/$name.tmp" "$plugin_dir/$name"
  printf '%s\n' "$stamp" >"$stamp_dir/$name"
  log "$name: built in $((SECONDS - t0))s"
}

# install_plugin NAME VERSION: put the provider built here (.engine/plugins/pulumi-resource-NAME)
# into the Pulumi plugin cache as resource plugin NAME VERSION, unless the cache already holds a
# NAME VERSION plugin that was not built here (a downloaded one, say), which is kept.
install_plugin() {
  local name="$1" version="$2"
  local built="$plugin_dir/pulumi-resource-$name" record="$stamp_dir/$name-plugin-installed"
  local cached="${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-$name-v$version/pulumi-resource-$name"
  if [[ -f "$cached" ]] && cmp -s "$built" "$cached"; then
    log "$name plugin $version: already in the plugin cache"
    sha256sum <"$built" >"$record"
    return 0
  fi
  if [[ -f "$cached" ]] && ! { [[ -f "$record" ]] && [[ "$(sha256sum <"$cached")" == "$(cat "$record")" ]]; }; then
    log "$name plugin $version: keeping the one already in the plugin cache ($cached)"
    return 0
  fi
  log "$name plugin $version: installing into the plugin cache"
  PULUMI_SKIP_UPDATE_CHECK=true "$bin_dir/pulumi" plugin install resource "$name" "$version" \
    --file "$built" --reinstall >/dev/null ||
    die "pulumi plugin install resource $name $version --file $built failed"
  sha256sum <"$built" >"$record"
}

main() {
  if [[ "${1:-}" == "--plugin-version" ]]; then
    # install-engine.sh --plugin-version kubernetes: print the version it installs the plugin as.
    [[ "${2:-}" == "kubernetes" ]] || die "usage: install-engine.sh [--plugin-version kubernetes]"
    kubernetes_plugin_version
    return 0
  fi
  kubernetes_version="$(kubernetes_plugin_version)"

  if [[ "${ENGINE_FORCE_BUILD:-0}" != "1" ]] && installed_engine_ok; then
    done_in "engine ready"
    return 0
  fi

  command -v go >/dev/null 2>&1 ||
    die "no usable pulumi installation and no Go toolchain to build one: install pulumi" \
      ">= $min_major.$min_minor (with pulumi-language-nodejs, the command provider $command_version and the" \
      "kubernetes provider $kubernetes_version) or Go."

  local pulumi_version
  pulumi_version="$(awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { print $2 }' "$tools_dir/go.mod")"
  [[ -n "$pulumi_version" ]] || die "cannot read the pinned github.com/pulumi/pulumi/pkg/v3 version from $tools_dir/go.mod"

  log "building the engine into $bin_dir (pulumi $pulumi_version, $(go version | cut -d' ' -f3))"
  mkdir -p "$bin_dir" "$plugin_dir" "$stamp_dir"
  # Older layouts put the provider on PATH (ambient plugin, which makes the CLI warn).
  rm -f "$bin_dir/pulumi-resource-command"

  build "$tools_dir" "$bin_dir" pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "$(stamp_for pulumi "$tools_dir")" \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version"
  build "$tools_dir" "$bin_dir" pulumi-language-nodejs ./cmd/pulumi-language-nodejs \
    "$(stamp_for pulumi-language-nodejs "$tools_dir" "$tools_dir"/cmd/pulumi-language-nodejs/*.go)"
  build "$tools_dir" "$plugin_dir" pulumi-resource-command ./cmd/pulumi-resource-command \
    "$(stamp_for pulumi-resource-command "$tools_dir" "$tools_dir"/cmd/pulumi-resource-command/*.go)" \
    -ldflags "-X main.version=$command_version"
  build_kubernetes_provider

  local got
  got="$(PULUMI_SKIP_UPDATE_CHECK=true "$bin_dir/pulumi" version 2>/dev/null || true)"
  version_ok "$got" || die "the built $bin_dir/pulumi reports version '${got:-nothing}'"
  install_plugin command "$command_version"
  install_plugin kubernetes "$kubernetes_version"
  install_dynamic_provider_host
  done_in "engine ready in $bin_dir (pulumi $got); now: source scripts/dev/engine-env.sh"
}

main "$@"
