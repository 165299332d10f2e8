#!/usr/bin/env bash
# Make a Pulumi engine available for this project:
#   - the `pulumi` CLI (>= 3.200),
#   - the Node.js language host `pulumi-language-nodejs`,
#   - the command provider `pulumi-resource-command` (npm @pulumi/command 1.2.1).
# If an installed `pulumi` is recent enough and the other two are available, they
# are used as they are. Otherwise the three binaries are built from the Go tools
# module in tools/pulumi into .engine/ (gitignored), skipping any binary already
# built from the same pinned sources (stamp files in .engine/stamps):
#   .engine/bin/pulumi, .engine/bin/pulumi-language-nodejs (found next to the CLI),
#   .engine/plugins/pulumi-resource-command, installed into the Pulumi plugin cache
#   with `pulumi plugin install resource command 1.2.1 --file ...` (no download).
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
engine_dir="${ENGINE_DIR:-$repo_root/.engine}"
bin_dir="$engine_dir/bin"
plugin_dir="$engine_dir/plugins"
stamp_dir="$engine_dir/stamps"
min_major=3
min_minor=200
command_version="1.2.1"

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

# has_command_provider PULUMI: the command provider is on PATH or installed as a plugin.
has_command_provider() {
  command -v pulumi-resource-command >/dev/null 2>&1 && return 0
  "$1" plugin ls 2>/dev/null |
    awk -v v="$command_version" '$1 == "command" && $2 == "resource" && $3 == v { found = 1 } END { exit !found }'
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
  if ! has_command_provider "$pulumi_bin"; then
    log "pulumi $version found, but the command provider $command_version is not installed" \
      "(pulumi plugin install resource command $command_version)"
    return 1
  fi
  log "using installed pulumi $version at $pulumi_bin"
  return 0
}

# stamp_for NAME FILE...: a digest of the pinned inputs of one binary.
stamp_for() {
  local name="$1"
  shift
  {
    printf '%s\n' "$name"
    go version
    cat "$tools_dir/go.mod" "$tools_dir/go.sum" "$@"
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

# build OUT_DIR NAME PACKAGE STAMP [go build flags...]
build() {
  local out_dir="$1" name="$2" pkg="$3" stamp="$4" t0=$SECONDS
  shift 4
  if [[ -x "$out_dir/$name" && -f "$stamp_dir/$name" && "$(cat "$stamp_dir/$name")" == "$stamp" ]]; then
    log "$name: up to date, skipping"
    return 0
  fi
  log "$name: building $pkg (the first build on a machine takes several minutes)"
  rm -f "$stamp_dir/$name"
  if ! (cd "$tools_dir" && go build -mod=readonly -buildvcs=false "$@" -o "$out_dir/$name.tmp" "$pkg"); then
    rm -f "$out_dir/$name.tmp"
    die "building $name failed (see the go output above). Install pulumi >= $min_major.$min_minor" \
      "with pulumi-language-nodejs and 'pulumi plugin install resource command $command_version' instead."
  fi
  mv -f "$out_dir/$name.tmp" "$out_dir/$name"
  printf '%s\n' "$stamp" >"$stamp_dir/$name"
  log "$name: built in $((SECONDS - t0))s"
}

# install_command_plugin: put the built provider into the Pulumi plugin cache, unless
# the cache already holds a command $command_version plugin that was not built here.
install_command_plugin() {
  local built="$plugin_dir/pulumi-resource-command" record="$stamp_dir/command-plugin-installed"
  local cached="${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-command-v$command_version/pulumi-resource-command"
  if [[ -f "$cached" ]] && cmp -s "$built" "$cached"; then
    log "command plugin $command_version: already in the plugin cache"
    sha256sum <"$built" >"$record"
    return 0
  fi
  if [[ -f "$cached" ]] && ! { [[ -f "$record" ]] && [[ "$(sha256sum <"$cached")" == "$(cat "$record")" ]]; }; then
    log "command plugin $command_version: keeping the one already in the plugin cache ($cached)"
    return 0
  fi
  log "command plugin $command_version: installing into the plugin cache"
  PULUMI_SKIP_UPDATE_CHECK=true "$bin_dir/pulumi" plugin install resource command "$command_version" \
    --file "$built" --reinstall >/dev/null ||
    die "pulumi plugin install resource command $command_version --file $built failed"
  sha256sum <"$built" >"$record"
}

main() {
  if [[ "${ENGINE_FORCE_BUILD:-0}" != "1" ]] && installed_engine_ok; then
    done_in "engine ready"
    return 0
  fi

  command -v go >/dev/null 2>&1 ||
    die "no usable pulumi installation and no Go toolchain to build one: install pulumi" \
      ">= $min_major.$min_minor (with pulumi-language-nodejs and the command provider $command_version) or Go."

  local pulumi_version
  pulumi_version="$(awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { print $2 }' "$tools_dir/go.mod")"
  [[ -n "$pulumi_version" ]] || die "cannot read the pinned github.com/pulumi/pulumi/pkg/v3 version from $tools_dir/go.mod"

  log "building the engine into $bin_dir (pulumi $pulumi_version, $(go version | cut -d' ' -f3))"
  mkdir -p "$bin_dir" "$plugin_dir" "$stamp_dir"
  # Older layouts put the provider on PATH (ambient plugin, which makes the CLI warn).
  rm -f "$bin_dir/pulumi-resource-command"

  build "$bin_dir" pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "$(stamp_for pulumi)" \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version"
  build "$bin_dir" pulumi-language-nodejs ./cmd/pulumi-language-nodejs \
    "$(stamp_for pulumi-language-nodejs "$tools_dir"/cmd/pulumi-language-nodejs/*.go)"
  build "$plugin_dir" pulumi-resource-command ./cmd/pulumi-resource-command \
    "$(stamp_for pulumi-resource-command "$tools_dir"/cmd/pulumi-resource-command/*.go)" \
    -ldflags "-X main.version=$command_version"

  local got
  got="$(PULUMI_SKIP_UPDATE_CHECK=true "$bin_dir/pulumi" version 2>/dev/null || true)"
  version_ok "$got" || die "the built $bin_dir/pulumi reports version '${got:-nothing}'"
  install_command_plugin
  install_dynamic_provider_host
  done_in "engine ready in $bin_dir (pulumi $got); now: source scripts/dev/engine-env.sh"
}

main "$@"
