#!/usr/bin/env bats
# host/dc-release's pure parts, with no docker, nginx or SSH: the argument checks through the
# command itself, the JSON it writes, its time helpers, the state it keeps and the steps' state
# transitions (docker and ss replaced by shell functions where a step calls them).

bats_require_minimum_version 1.5.0
load helper

setup() {
  source_dc_release
  ROOT=$BATS_TEST_TMPDIR/root
  mkdir -p "$ROOT"
}

# ---- arguments: exit 2, the reason names the option and the value, nothing is touched ----------

# Runs dc-release with $@; its one line on stdout in $output, its exit code in $status.
refuse() {
  run --separate-stderr dc_release "$@"
}

# The reason in the line on stdout, which must be a refusal (ok false, exit code 2).
refusal_reason() {
  [ "$status" -eq 2 ]
  json_eval 'j.ok === false && j.exitCode === 2 ? j.reason : "not a refusal: " + JSON.stringify(j)' "$output"
}

TEST_DIGEST=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

@test "an unknown action is refused with exit 2, naming it" {
  refuse deploi --env dev
  [[ $(refusal_reason) == "invalid action 'deploi'"* ]]
}

@test "a deploy without --env is refused" {
  refuse deploy --image r/app:v1 --digest "$TEST_DIGEST"
  [[ $(refusal_reason) == "missing --env"* ]]
}

@test "an env name with capitals is refused, with its value" {
  refuse deploy --env Dev --image r/app:v1 --digest "$TEST_DIGEST"
  [[ $(refusal_reason) == "invalid --env 'Dev'"* ]]
}

@test "a short digest is refused" {
  refuse deploy --env dev --image r/app:v1 --digest sha256:abc
  [[ $(refusal_reason) == "invalid --digest 'sha256:abc'"* ]]
}

@test "shell metacharacters in --image are refused" {
  refuse deploy --env dev --image 'r/app:v1;reboot' --digest "$TEST_DIGEST"
  [[ $(refusal_reason) == "invalid --image 'r/app:v1;reboot'"* ]]
}

@test "ports below 1024 are refused" {
  refuse deploy --env dev --image r/app:v1 --digest "$TEST_DIGEST" --ports 80,81
  [[ $(refusal_reason) == "invalid --ports '80,81'"* ]]
}

@test "a drain that is not a number of seconds is refused" {
  refuse deploy --env dev --image r/app:v1 --digest "$TEST_DIGEST" --drain soon
  [[ $(refusal_reason) == "invalid --drain 'soon'"* ]]
}

@test "a bake longer than the warm period is refused: nothing would be left to go back to" {
  refuse deploy --env dev --image r/app:v1 --digest "$TEST_DIGEST" --warm 5 --bake 10
  [[ $(refusal_reason) == "invalid --bake '10'"* ]]
}

@test "an unknown option is refused" {
  refuse deploy --env dev --image r/app:v1 --digest "$TEST_DIGEST" --colour blue
  [[ $(refusal_reason) == "invalid option '--colour'"* ]]
}

@test "a refused release touches nothing on the host: no env directory, no deploy.log" {
  refuse deploy --env dev --root "$ROOT" --image r/app:v1 --digest "$TEST_DIGEST" --drain soon
  [ "$status" -eq 2 ]
  [ -z "$(ls -A "$ROOT")" ]
}

# ---- JSON: exact strings, whatever the bytes ----------------------------------------------------

@test "json_str escapes quotes and backslashes, and leaves printable ASCII alone" {
  [ "$(json_str 'say "hi" \ bye')" = '"say \"hi\" \\ bye"' ]
  [ "$(json_str '')" = '""' ]
}

@test "json_str writes non-ASCII as \\u escapes that parse back to the same text" {
  local s=$'caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xd0\x96'
  [ "$(json_str "$s")" = '"caf\u00e9 \u65e5\u672c \u0416"' ]
  [ "$(json_eval 'j === "café 日本 Ж"' "$(json_str "$s")")" = true ]
}

@test "json_str writes a character above U+FFFF as a surrogate pair" {
  local s=$'ok \xf0\x9f\x98\x80 \xf0\x9d\x84\x9e'
  [ "$(json_str "$s")" = '"ok \ud83d\ude00 \ud834\udd1e"' ]
  [ "$(json_eval 'j === "ok 😀 𝄞"' "$(json_str "$s")")" = true ]
}

@test "json_str escapes control characters" {
  local s=$'a\tb\nc\rd\be\ff\x01g\x1fh\x7f'
  [ "$(json_str "$s")" = '"a\tb\nc\rd\be\ff\u0001g\u001fh\u007f"' ]
  [ "$(json_eval 'j === "a\tb\nc\rd\be\ff\u0001g\u001fh\u007f"' "$(json_str "$s")")" = true ]
}

@test "json_str turns ill-formed UTF-8 into U+FFFD as a UTF-8 decoder does, never into ?" {
  local hex s quoted pairs=()
  # Stray continuation, truncated sequences, overlong forms, a surrogate, beyond U+10FFFF, 0xFF.
  for hex in 80 c3 c328 e282 e28228 c080 e08080 eda080 f4908080 f88080808080 ff 41ff42 e2ac f09f98; do
    bytes_of_hex "$hex" s
    json_quote quoted "$s"
    [[ $quoted != *'?'* ]]
    pairs+=("[\"$hex\",$quoted]")
  done
  local IFS=,
  [ "$(json_eval 'j.filter(([hex, text]) => text !== Buffer.from(hex, "hex").toString("utf8"))' "[${pairs[*]}]")" = '[]' ]
}

@test "json_str agrees with node's UTF-8 decoder on 300 random byte strings" {
  local hexes hex s quoted out=""
  hexes=$(node -e '
    const c = require("crypto");
    for (let i = 0; i < 300; i++) {
      // Mostly high bytes, some ASCII; NUL left out (no shell string holds it).
      const b = c.randomBytes(1 + (i % 12)).map((x) => (x % 5 === 0 ? 0x20 + (x % 95) : x || 1));
      console.log(b.toString("hex"));
    }')
  # bats traces every command of a test (its DEBUG trap): off for this loop, which it would slow 50-fold.
  trap - DEBUG
  while read -r hex; do
    bytes_of_hex "$hex" s
    json_quote quoted "$s"
    out+="$hex $quoted"$'\n'
  done <<<"$hexes"
  run node -e '
    let bad = 0;
    for (const line of process.argv[1].trim().split("\n")) {
      const [hex, json] = [line.slice(0, line.indexOf(" ")), line.slice(line.indexOf(" ") + 1)];
      if (!/^[\x20-\x7e]*$/.test(json) || JSON.parse(json) !== Buffer.from(hex, "hex").toString("utf8")) {
        console.log(hex, json);
        bad++;
      }
    }
    process.exit(bad === 0 ? 0 : 1);
  ' "$out"
  [ "$status" -eq 0 ]
}

@test "json_opt and json_num print null for nothing" {
  [ "$(json_opt '')" = null ]
  [ "$(json_opt v1)" = '"v1"' ]
  [ "$(json_num '')" = null ]
  [ "$(json_num 8101)" = 8101 ]
}

# ---- time: values handed back by name -----------------------------------------------------------

@test "secs_to_ms and ms_to_secs convert both ways, to the millisecond" {
  local ms secs
  secs_to_ms ms 2 && [ "$ms" -eq 2000 ]
  secs_to_ms ms 0.25 && [ "$ms" -eq 250 ]
  secs_to_ms ms 0.005 && [ "$ms" -eq 5 ]
  secs_to_ms ms 08.5 && [ "$ms" -eq 8500 ]
  ms_to_secs secs 1234 && [ "$secs" = 1.234 ]
  ms_to_secs secs 5 && [ "$secs" = 0.005 ]
}

@test "now_ms and iso_now hand back the time in the variable named" {
  local a b iso
  now_ms a
  pause 0.02
  now_ms b
  ((b - a >= 20 && b - a < 1000))
  iso_now iso
  [[ $iso =~ ^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]]
}

@test "every timing is a named constant: no bare number of seconds or milliseconds in a wait" {
  # (read -t 0 is no wait: it asks whether input is there.)
  run grep -nE '\b(pause|sleep) +"?[0-9]|read -r?t +[0-9.]*[1-9]|flock -w +[0-9]|--kill-after=[0-9]|tail .* -s +[0-9]' "$DC_RELEASE"
  [ "$status" -eq 1 ]
}

@test "no helper is handed a variable name it declares local itself" {
  run names_handed_to_own_locals "$DC_RELEASE"
  [ "$status" -eq 0 ]
  [ -z "$output" ]
}

# ---- state: releases, phases, the new port's occupant ----------------------------------------------

@test "write_release and read_release keep a release, values with = and spaces included" {
  local -A a=([tag]=v1 [digest]="$TEST_DIGEST" [image]=r/app [port]=8101 [container]=dc-x-8101 [releaseId]="id = 1" [time]=t) b=()
  write_release "$ROOT/current" a
  [ ! -e "$ROOT/current.tmp" ]
  [ "$(head -n1 "$ROOT/current")" = tag=v1 ]
  read_release "$ROOT/current" b
  [ "${b[releaseId]}" = "id = 1" ]
  [ "${b[digest]}" = "$TEST_DIGEST" ]
  [ "${#b[@]}" -eq 7 ]
}

@test "read_release of a missing file is an empty release, and it skips lines it cannot name" {
  local -A r=([tag]=old)
  read_release "$ROOT/none" r
  [ "${#r[@]}" -eq 0 ]
  printf 'tag=v2\n$(x)=1\nbad key=2\n' >"$ROOT/odd"
  read_release "$ROOT/odd" r
  [ "${#r[@]}" -eq 1 ]
  [ "${r[tag]}" = v2 ]
}

@test "phase accounts each phase's time in RUN and marks the attempt with it" {
  ENV_NAME=unit
  setup_env_dir
  mkdir -p "$STATE_DIR"
  RUN[marked]=true
  phase lockMs
  grep -qx 'phase=lockMs' "$STATE_DIR/attempt"
  pause 0.03
  phase pullMs
  ((RUN[lockMs] >= 30 && RUN[lockMs] < 1000))
  [ "${RUN[phase]}" = pullMs ]
  phase ""
  [ -z "${RUN[phase]}" ]
  grep -qx 'phase=finishing' "$STATE_DIR/attempt"
  local word
  phase_word word healthMs && [ "$word" = health ]
  phase_word word "" && [ "$word" = finishing ]
}

# A docker that answers from $BATS_TEST_TMPDIR/docker.out and notes each call in docker.calls.
stub_docker() {
  docker() {
    printf '%s\n' "$*" >>"$BATS_TEST_TMPDIR/docker.calls"
    if [[ $1 == inspect ]]; then cat "$BATS_TEST_TMPDIR/docker.out" 2>/dev/null; fi
    return 0
  }
  : >"$BATS_TEST_TMPDIR/docker.calls"
}

# An env "unit" whose new release goes on port 8102, with TARGET a release of digest $1.
new_release_on_8102() {
  ENV_NAME=unit
  setup_env_dir
  mkdir -p "$STATE_DIR"
  TARGET=([tag]=v2 [digest]=$1 [image]=r/app)
  RUN[newPort]=8102 RUN[newName]=dc-unit-8102 RUN[log]=$BATS_TEST_TMPDIR/run.log
}

@test "a warm old release on the new port is known from the state, not from docker, and goes" {
  stub_docker
  new_release_on_8102 "$TEST_DIGEST"
  echo some-release >"$STATE_DIR/warm-dc-unit-8102"
  step_pull 2>/dev/null
  wait "${RUN[clearPid]}"
  [ "${RUN[onNewPort]}" = warm ]
  [ "${RUN[reused]}" = false ]
  [ ! -e "$STATE_DIR/warm-dc-unit-8102" ]
  [ "$(cat "$BATS_TEST_TMPDIR/docker.calls")" = "rm -f dc-unit-8102" ]
}

@test "a running container of the retained digest on the new port is reused: no removal" {
  stub_docker
  new_release_on_8102 "$TEST_DIGEST"
  echo "$TEST_DIGEST v2 r/app 1700000000" >"$STATE_DIR/releases"
  printf 'container true %s 0\nimage\n' "$TEST_DIGEST" >"$BATS_TEST_TMPDIR/docker.out"
  step_pull 2>/dev/null
  [ "${RUN[onNewPort]}" = reusable ]
  [ "${RUN[reused]}" = true ]
  [ "${RUN[imageLocal]}" = true ]
  [ -z "${RUN[clearPid]}" ]
  ! grep -q '^rm ' "$BATS_TEST_TMPDIR/docker.calls"
}

@test "a container of the retained digest that restarted is stale: it goes, the image stays" {
  stub_docker
  new_release_on_8102 "$TEST_DIGEST"
  echo "$TEST_DIGEST v2 r/app 1700000000" >"$STATE_DIR/releases"
  printf 'container true %s 3\nimage\n' "$TEST_DIGEST" >"$BATS_TEST_TMPDIR/docker.out"
  step_pull 2>/dev/null
  wait "${RUN[clearPid]}"
  [ "${RUN[onNewPort]}" = stale ]
  [ "${RUN[reused]}" = false ]
  grep -qx 'rm -f dc-unit-8102' "$BATS_TEST_TMPDIR/docker.calls"
}

@test "undo removes a started release and says the old one kept serving; a recorded one stays" {
  stub_docker
  new_release_on_8102 "$TEST_DIGEST"
  CUR=([tag]=v1 [digest]=sha256:old [port]=8101)
  RUN[servingPort]=8101 RUN[newState]=started
  step_undo 2>/dev/null
  [ "${RUN[newState]}" = none ]
  [ "${RUN[rolledBack]}" = true ]
  grep -q '^stop -t .* dc-unit-8102$' "$BATS_TEST_TMPDIR/docker.calls"
  : >"$BATS_TEST_TMPDIR/docker.calls"
  RUN[newState]=serving RUN[rolledBack]=false
  step_undo
  [ ! -s "$BATS_TEST_TMPDIR/docker.calls" ]
  [ "${RUN[rolledBack]}" = false ]
}

@test "the env's lifetime: the first release creates it, a return to an earlier release is wentBack" {
  ENV_NAME=unit
  setup_env_dir
  mkdir -p "$STATE_DIR"
  RUN[lockedAt]=2026-01-02T03:04:05.678Z
  record_lifetime sha256:a ""
  [ "$(cat "$STATE_DIR/created")" = 2026-01-02T03:04:05.678Z ]
  [ "${RUN[wentBack]}" = false ]
  CUR=([digest]=sha256:a)
  record_lifetime sha256:b sha256:a
  [ "${RUN[wentBack]}" = false ]
  record_lifetime sha256:a sha256:b
  [ "${RUN[wentBack]}" = true ]
  [ "$(cat "$STATE_DIR/served")" = $'sha256:a\nsha256:b' ]
}

@test "serving_port follows the live link nginx reads, else the state" {
  ENV_NAME=unit PORT_A=8101 PORT_B=8102
  setup_env_dir
  local port
  CUR=([port]=8101)
  serving_port port && [ "$port" = 8101 ]
  mkdir -p "$NGINX_DIR/port-8102" && : >"$NGINX_DIR/port-8102/8102"
  ln -s port-8102 "$NGINX_DIR/live"
  serving_port port && [ "$port" = 8102 ]
}

@test "a run's probe token: a file nginx can stat in probe/ (0711), sent from a 0600 header file, never on argv; gone at the end" {
  ENV_NAME=unit PORT_A=8101 PORT_B=8102
  setup_env_dir
  mkdir -p "$STATE_DIR" "$NGINX_DIR"
  probe_token_make
  [[ $PROBE_TOKEN_FILE =~ ^$NGINX_DIR/probe/[0-9a-f]{32}$ ]]
  [ -f "$PROBE_TOKEN_FILE" ]
  [ "$(stat -c %a "$NGINX_DIR/probe")" = 711 ]
  [ "$(stat -c %a "$PROBE_HEADER_FILE")" = 600 ]
  [ "$(cat "$PROBE_HEADER_FILE")" = "X-Deep-Calm-Probe: ${PROBE_TOKEN_FILE##*/}" ]
  curl() { printf '%s\n' "$@" >"$BATS_TEST_TMPDIR/curl.argv"; }
  front_curl -s http://127.0.0.1:8080/healthz
  ! grep -q "${PROBE_TOKEN_FILE##*/}" "$BATS_TEST_TMPDIR/curl.argv"
  grep -qxF "@$PROBE_HEADER_FILE" "$BATS_TEST_TMPDIR/curl.argv"
  local token=$PROBE_TOKEN_FILE header=$PROBE_HEADER_FILE
  probe_token_drop
  [ ! -e "$token" ] && [ ! -e "$header" ] && [ -z "$PROBE_TOKEN_FILE" ]
}

# ---- drain: counted connections, bounded by --drain ---------------------------------------------

# An ss that lists $1 connections for its first $2 calls, then none.
stub_ss() {
  echo 0 >"$BATS_TEST_TMPDIR/ss.calls"
  SS_OPEN=$1 SS_FOR=$2
  ss() {
    local n
    n=$(($(cat "$BATS_TEST_TMPDIR/ss.calls") + 1))
    echo "$n" >"$BATS_TEST_TMPDIR/ss.calls"
    if ((n <= SS_FOR)); then
      for ((i = 0; i < SS_OPEN; i++)); do echo "0 0 127.0.0.1:8101 127.0.0.1:4000$i"; done
    fi
  }
}

@test "a drain ends when the old release's last request is done, long before --drain" {
  local -A d=()
  stub_ss 2 3
  DRAIN=10
  drain_port d 8101 0
  [ "${d[verdict]}" = idle ]
  [ "${d[first]}" -eq 2 ]
  [ "${d[left]}" -eq 0 ]
  ((d[waitedMs] >= 100 && d[waitedMs] < 2000))
}

@test "a drain stops waiting at --drain with requests still open, and says how many" {
  local -A d=()
  stub_ss 1 1000
  DRAIN=0.2
  drain_port d 8101 0
  [ "${d[verdict]}" = timeout ]
  [ "${d[left]}" -eq 1 ]
  ((d[waitedMs] >= 200 && d[waitedMs] < 1000))
  local words
  drain_words words 8101 d
  [ "$words" = "127.0.0.1:8101 still had 1 in flight after --drain 0.2s; they are cut" ]
}

@test "a drain that cannot count (ss failing) waits the whole --drain" {
  local -A d=()
  ss() { return 1; }
  DRAIN=0.15
  drain_port d 8101 0
  [ "${d[verdict]}" = unknown ]
  ((d[waitedMs] >= 150))
}

@test "right after a switch a drain lets nginx's last reads of the old link arrive before it counts" {
  local -A d=() now
  stub_ss 0 0
  DRAIN=10
  now_ms now
  drain_port d 8101 "$now"
  [ "${d[verdict]}" = idle ]
  ((d[waitedMs] >= DRAIN_SETTLE_MS - 5))
}

# ---- the result line ----------------------------------------------------------------------------

@test "result_line has every field of a release result, in order, with the phases and the bake" {
  ACTION=deploy ENV_NAME=unit TAG=v1 DIGEST=$TEST_DIGEST REPO=r/app BAKE_MS=10000
  RUN[code]=1 RUN[reason]=$'health check failed: \xc3\xa9"' RUN[newPort]=8102 RUN[finishedAt]=2026-01-02T03:04:05.678Z
  RUN[lockMs]=3 RUN[bakeVerdict]=failed
  PREV=([tag]=v0 [digest]=sha256:old)
  run result_line false
  [ "$status" -eq 0 ]
  local line=$output
  [ "$(json_eval 'Object.keys(j).join(" ")' "$line")" = "ok action env tag digest image port releaseId previous serving changed pulled reused rolledBack reason logFile exitCode startedAt lockedAt finishedAt durationMs servingAfterMs phases bake created wentBack" ]
  [ "$(json_eval 'Object.keys(j.phases).join(" ")' "$line")" = "${PHASES[*]}" ]
  [ "$(json_eval 'Object.keys(j.bake).join(" ")' "$line")" = "seconds verdict watchedMs requests errors beforeRequests beforeErrors" ]
  [ "$(json_eval '[j.ok, j.exitCode, j.port, j.previous.tag, j.serving, j.servingAfterMs, j.phases.lockMs, j.bake.seconds, j.bake.verdict, j.wentBack]' "$line")" = '[false,1,8102,"v0",null,null,3,10,"failed",null]' ]
  [ "$(json_eval 'j.reason' "$line")" = 'health check failed: é"' ]
}

@test "a deploy's line ends with the interrupted and unconfirmed attempts it hands over" {
  ACTION=deploy ENV_NAME=unit
  setup_env_dir
  mkdir -p "$STATE_DIR/unreported" "$STATE_DIR/unconfirmed"
  echo '{"releaseId":"a"}' >"$STATE_DIR/unreported/a.json"
  echo '{"releaseId":"b"}' >"$STATE_DIR/unconfirmed/b.json"
  RUN[marked]=true
  local line handed=()
  attempt_line line true handed
  [ "$(json_eval '[Object.keys(j).slice(-2), j.interrupted[0].releaseId, j.unconfirmed[0].releaseId]' "$line")" = '[["interrupted","unconfirmed"],"a","b"]' ]
  [ "${handed[*]}" = "$STATE_DIR/unreported/a.json" ]
}

@test "status and a refused check have lines of their own" {
  local line
  ACTION=status ENV_NAME=unit RUN[code]=2 RUN[reason]="invalid --ports 'x'"
  status_line line false
  [ "$(json_eval 'Object.keys(j).join(" ")' "$line")" = "ok action env tag digest reason exitCode durationMs" ]
  check_line line false
  [ "$(json_eval 'Object.keys(j).join(" ")' "$line")" = "ok action env reason exitCode durationMs" ]
  [ "$(json_eval 'j.action + " " + j.reason' "$line")" = "check invalid --ports 'x'" ]
}

# ---- status: the lock's holder, the last attempt, the fields --front-url adds --------------------

@test "the lock's taker is written down; status reports it only while the lock is really held" {
  local lock words fd
  ENV_NAME=unit
  setup_env_dir
  mkdir -p "$ENV_DIR"
  status_lock lock
  [ "$lock" = null ]
  write_lock_owner 4242 deploy v2 20260102T030405Z-v2-4242 2026-01-02T03:04:05.678Z
  lock_holder_words words
  [ "$words" = "pid 4242, deploy v2 since 2026-01-02T03:04:05.678Z" ]
  : >"$ENV_DIR/.lock"
  # Written, but nobody holds the lock: free.
  status_lock lock
  [ "$lock" = null ]
  exec {fd}>>"$ENV_DIR/.lock"
  flock -n "$fd"
  # Held by another process (a flock of its own open file): reported, with who took it.
  run bash -c 'source "$1"; set +u; ENV_NAME=unit ROOT=$2; setup_env_dir; status_lock l; printf %s "$l"' x "$DC_RELEASE" "$ROOT"
  exec {fd}>&-
  [ "$status" -eq 0 ]
  [ "$output" = '{"pid":4242,"action":"deploy","tag":"v2","releaseId":"20260102T030405Z-v2-4242","since":"2026-01-02T03:04:05.678Z"}' ]
  # Taken and let go by the test: free again.
  status_lock lock
  [ "$lock" = null ]
}

@test "a rollback without --to is the previous release in the lock's words" {
  local words
  ENV_NAME=unit
  setup_env_dir
  mkdir -p "$ENV_DIR"
  write_lock_owner 7 rollback "" r 2026-01-02T03:04:05.678Z
  lock_holder_words words
  [ "$words" = "pid 7, rollback previous since 2026-01-02T03:04:05.678Z" ]
}

@test "status's last attempt is deploy.log's last line, as a JSON string" {
  local last
  ENV_NAME=unit
  setup_env_dir
  mkdir -p "$ENV_DIR"
  status_last last
  [ "$last" = null ]
  printf '%s\n' '{"ok":true,"action":"deploy","tag":"v1"}' '{"ok":false,"action":"deploy","tag":"v2","reason":"a \"quoted\" word"}' >"$ENV_DIR/deploy.log"
  status_last last
  [ "$(json_eval 'JSON.parse(j).tag + " " + JSON.parse(j).reason' "$last")" = 'v2 a "quoted" word' ]
}

@test "status with --front-url adds the probes, the warm release, the lock and the last attempt" {
  local detail healthy
  # Nothing listens on port 9 (discard) here: both probes are refused.
  ENV_NAME=unit PORT_A=9 PORT_B=7 FRONT_URL=http://127.0.0.1:9 HEALTH_TIMEOUT=0.2
  setup_env_dir
  mkdir -p "$STATE_DIR" "$NGINX_DIR"
  docker() { return 1; }
  RUN[servingPort]=9
  CUR=([tag]=v1 [digest]=sha256:a [port]=9)
  status_detail detail healthy
  [ "$healthy" = false ]
  [ "$(json_eval 'Object.keys(j).join(" ")' "{${detail#,}}")" = "front direct warm lock lastAttempt" ]
  [ "$(json_eval '[j.front.healthy, j.front.httpStatus, j.direct.port, j.direct.running, j.direct.answer, j.direct.healthy, j.warm, j.lock, j.lastAttempt]' "{${detail#,}}")" = '[false,null,9,false,"refused the connection",false,null,null,null]' ]
}
