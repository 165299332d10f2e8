# shellcheck shell=bash
# Shared by the bats tests of host/dc-release (load helper).

DC_RELEASE=$BATS_TEST_DIRNAME/../../host/dc-release

# Sources dc-release for its functions and constants; main does not run. A copy without the call
# of main is sourced while the script still calls it unconditionally (before it was sourceable).
source_dc_release() {
  local script=$DC_RELEASE
  # shellcheck disable=SC2016 # the script's own line, not an expansion
  if ! grep -qxF 'if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi' "$script"; then
    script=$BATS_TEST_TMPDIR/dc-release
    sed '/^main "\$@"$/d' "$DC_RELEASE" >"$script"
  fi
  # shellcheck source=/dev/null
  source "$script"
  # -u is the script's own: bats' code around the test does not expect it.
  set +u
}

# Runs dc-release itself, as the Pulumi program does.
dc_release() { bash "$DC_RELEASE" "$@"; }

# Evaluates the JavaScript expression $1 with j = the JSON value $2 parsed; prints the result
# (strings as they are, anything else as JSON). Fails when $2 is not JSON.
json_eval() {
  node -e '
    const j = JSON.parse(process.argv[2]);
    const v = eval(process.argv[1]);
    process.stdout.write(typeof v === "string" ? v : JSON.stringify(v));
  ' "$1" "$2"
}

# The bytes the hex string $1 stands for, into the variable named $2.
bytes_of_hex() {
  local hex=$1 i escaped=""
  for ((i = 0; i < ${#hex}; i += 2)); do escaped+="\\x${hex:i:2}"; done
  printf -v "$2" '%b' "$escaped"
}

# Calls that hand a helper a variable name it declares local itself (its value would stay in the
# helper, not reach the caller): one line each, none when all is well.
names_handed_to_own_locals() {
  awk '
    FNR == 1 { pass++ }
    pass == 1 && /^[a-z_][a-z0-9_]*\(\) \{/ { fn = $1; sub(/\(\).*/, "", fn); next }
    pass == 1 && /^}/ { fn = ""; next }
    pass == 1 && fn != "" {
      line = $0
      if (match(line, /^[ \t]*local( -[a-zA-Z]+)* /)) {
        n = split(substr(line, RLENGTH + 1), w, /[ \t]+/)
        for (i = 1; i <= n; i++) { v = w[i]; sub(/=.*/, "", v); if (v ~ /^[A-Za-z_][A-Za-z0-9_]*$/) locals[fn, v] = 1 }
      }
      while (match(line, /printf -v "\$[0-9]"|local -n [A-Za-z_0-9]+=\$[0-9]/)) {
        m = substr(line, RSTART, RLENGTH); k = m; sub(/.*\$/, "", k)
        out[fn, substr(k, 1, 1)] = 1; returns[fn] = 1
        line = substr(line, RSTART + RLENGTH)
      }
      next
    }
    pass == 2 && /^[a-z_][a-z0-9_]*\(\) \{/ { caller = $1; sub(/\(\).*/, "", caller) }
    pass == 2 {
      n = split($0, t, /[ \t;|&(]+/)
      for (i = 1; i <= n; i++) {
        if (!(t[i] in returns)) continue
        for (k = 1; k <= 9; k++) {
          if (!((t[i], k) in out)) continue
          a = t[i + k]; gsub(/["\047]/, "", a); sub(/\[.*/, "", a)
          if (a ~ /^[A-Za-z_][A-Za-z0-9_]*$/ && ((t[i], a) in locals))
            printf "line %d (%s): %s is handed %s, a local of its own\n", FNR, caller, t[i], a
        }
      }
    }
  ' "$1" "$1"
}
