#!/usr/bin/env bash
# Commits a stack's desired image to Pulumi.<stack>.yaml on a branch and pushes it: the GitOps
# record the pipelines keep (promotion to dev, deploys to test, rollbacks). It resets the checkout
# to the remote branch before each attempt, so it runs in CI only (GITHUB_ACTIONS=true).
#   commit-desired-tag.sh <stack> <tag> [<digest>] [<note for the commit body>]
# Prints the commit that holds the desired tag (HEAD of the branch) on stdout; all else on stderr.
# Exit codes: 0 committed or already wanted, 1 push kept failing, 2 bad input.
set -euo pipefail
cd "$(dirname "$0")/.."

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
file="Pulumi.$stack.yaml"

set_tag() {
  if [ -n "$digest" ]; then
    npx --no-install tsx scripts/image-tag.ts set "$stack" "$tag" --digest "$digest" >&2
  else
    npx --no-install tsx scripts/image-tag.ts set "$stack" "$tag" >&2
  fi
}

for attempt in $(seq 1 "$ATTEMPTS"); do
  git fetch --quiet --depth=1 origin "$branch"
  git checkout --quiet -B "$branch" FETCH_HEAD
  set_tag || die "the tag or digest was refused; nothing was committed"
  if git diff --quiet -- "$file"; then
    git rev-parse HEAD
    exit 0
  fi
  GIT_AUTHOR_NAME="$BOT_NAME" GIT_AUTHOR_EMAIL="$BOT_EMAIL" GIT_COMMITTER_NAME="$BOT_NAME" GIT_COMMITTER_EMAIL="$BOT_EMAIL" \
    git commit --quiet \
    -m "deploy($stack): $tag" ${note:+-m "$note"} -- "$file"
  if git push --quiet origin "HEAD:refs/heads/$branch"; then
    git rev-parse HEAD
    exit 0
  fi
  echo "commit-desired-tag: $branch moved during attempt $attempt; trying again on top of it" >&2
  sleep "$attempt"
done
die "could not push to $branch after $ATTEMPTS attempts" 1
