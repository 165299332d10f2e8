#!/usr/bin/env bash
# Commits a stack's desired image to Pulumi.<stack>.yaml on a branch and pushes it: the GitOps
# record the pipelines keep (promotion to dev, deploys to test, rollbacks). It resets the checkout
# to the remote branch before each attempt, so it runs in CI only (GITHUB_ACTIONS=true).
#   commit-desired-tag.sh <stack> <tag> [<digest>] [<note for the commit body>]
# With EXPECTED_TAG set, it commits only while the branch's file still holds that tag (a rollback
# must not overwrite a promotion that landed meanwhile); otherwise it leaves the file alone, exit 4.
# Prints the commit that holds the desired tag (HEAD of the branch) on stdout; all else on stderr.
# Exit codes: 0 committed or already wanted, 1 the branch kept moving, 2 bad input, 3 the push was
# refused (protected branch, rules, permission), 4 the file no longer holds EXPECTED_TAG.
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly BOT_NAME="github-actions[bot]"
readonly BOT_EMAIL="41898282+github-actions[bot]@users.noreply.github.com"
readonly ATTEMPTS=5

die() {
  echo "commit-desired-tag: $1" >&2
  exit "${2:-2}"
}

if [ "$#" -lt 2 ] || [ "$#" -gt 4 ]; then
  die "usage: commit-desired-tag.sh <stack> <tag> [<digest>] [<note>]"
fi
[ "${GITHUB_ACTIONS:-}" = "true" ] || die "refusing to run outside GitHub Actions: it resets the checkout to the remote branch"
stack="$1"
tag="$2"
digest="${3:-}"
# The note may come from another repository's payload: keep printable characters, one line, 200 at most.
note="$(printf '%s' "${4:-}" | tr -cd '[:print:]' | cut -c 1-200)"
branch="${DESIRED_STATE_BRANCH:-main}"
expected="${EXPECTED_TAG:-}"
file="Pulumi.$stack.yaml"

set_tag() {
  if [ -n "$digest" ]; then
    npx --no-install tsx scripts/ci/image-tag.ts set "$stack" "$tag" --digest "$digest" >&2
  else
    npx --no-install tsx scripts/ci/image-tag.ts set "$stack" "$tag" >&2
  fi
}

# A push the branch's rules or the token's rights refuse: retrying cannot help.
refused() {
  grep -Eqi 'GH006|GH013|protected branch|repository rule violations|permission to .* denied|error: 403|hook declined' <<<"$1"
}

for attempt in $(seq 1 "$ATTEMPTS"); do
  git fetch --quiet --depth=1 origin "$branch"
  git checkout --quiet -B "$branch" FETCH_HEAD
  if [ -n "$expected" ]; then
    current="$(npx --no-install tsx scripts/ci/image-tag.ts get "$stack" 2>/dev/null || true)"
    if [ "$current" != "$expected" ] && [ "$current" != "$tag" ]; then
      die "$file on $branch now wants $current (not $expected): a newer desired state landed meanwhile; $tag is not recorded" 4
    fi
  fi
  set_tag || die "the tag or digest was refused; nothing was committed"
  if git diff --quiet -- "$file"; then
    git rev-parse HEAD
    exit 0
  fi
  GIT_AUTHOR_NAME="$BOT_NAME" GIT_AUTHOR_EMAIL="$BOT_EMAIL" GIT_COMMITTER_NAME="$BOT_NAME" GIT_COMMITTER_EMAIL="$BOT_EMAIL" \
    git commit --quiet \
    -m "deploy($stack): $tag" ${note:+-m "$note"} -- "$file"
  if output="$(git push --porcelain origin "HEAD:refs/heads/$branch" 2>&1)"; then
    git rev-parse HEAD
    exit 0
  fi
  printf '%s\n' "$output" >&2
  if refused "$output"; then
    die "the push to $branch was refused (branch protection, a ruleset or the token's permissions), not a race; let the pushing GitHub App bypass the rules of $branch (docs/pipelines.md, 'Setting it up')" 3
  fi
  if grep -Eq 'non-fast-forward|fetch first|stale info|cannot lock ref|failed to update ref' <<<"$output"; then
    echo "commit-desired-tag: $branch moved during attempt $attempt (a race); trying again on top of it" >&2
  else
    echo "commit-desired-tag: the push failed during attempt $attempt (neither a race nor a refusal); trying again" >&2
  fi
  sleep "$attempt"
done
die "could not push to $branch after $ATTEMPTS attempts" 1
