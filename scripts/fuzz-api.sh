#!/usr/bin/env bash
# Fuzzes every operation of the OpenAPI document with Schemathesis against a real `kangdao`
# server, on SQLite and then on PostgreSQL: a fresh database, an administrator added with
# `kangdao user add --admin`, a sample `patient` entity, and an API token made over the API
# and sent as a Bearer header. Fails on any 5xx and on any answer outside the document.
#
#   scripts/fuzz-api.sh [sqlite|postgres]...   (default: both)
#
# Bounds: FUZZ_MAX_EXAMPLES cases per operation (default 25), FUZZ_MAX_SECONDS per backend
# (default 90, plus 10 for token revocation: about two minutes with set-up). PostgreSQL at
# 127.0.0.1:5432 (user postgres, trust), as scripts/test.sh starts it.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-25}
MAX_SECONDS=${FUZZ_MAX_SECONDS:-90}
VENV=$(realpath -m "${FUZZ_VENV:-target/fuzz-venv}")
backends=("$@")
[ ${#backends[@]} -eq 0 ] && backends=(sqlite postgres)

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "== installing Schemathesis $SCHEMATHESIS_VERSION"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

# KANGDAO_BIN: a binary already built (scripts/test.sh passes the one `cargo test` built).
if [ -n "${KANGDAO_BIN:-}" ]; then
  kangdao=$KANGDAO_BIN
else
  cargo build -q -p kangdao --bin kangdao
  kangdao="$PWD/target/debug/kangdao"
fi
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# curl wrapper: prints the body, fails on a status other than $1.
call() {
  local expect=$1; shift
  local out status
  out=$(curl -sS -w '\n%{http_code}' "$@")
  status=${out##*$'\n'}
  if [ "$status" != "$expect" ]; then
    echo "expected $expect, got $status from curl $*: ${out%$'\n'*}" >&2
    return 1
  fi
  printf '%s' "${out%$'\n'*}"
}

# run_schemathesis DIR BASE TOKEN SECONDS [filter…]
run_schemathesis() {
  local dir=$1 base=$2 token=$3 seconds=$4
  shift 4
  (cd "$dir" && timeout --signal=INT $((seconds + 20)) "$VENV/bin/schemathesis" run "$base/api/openapi.json" \
    --url "$base" \
    -H "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" \
    --max-time "$seconds" \
    --seed 13 \
    --workers 1 \
    --request-timeout 20 \
    --suppress-health-check all \
    --warnings off \
    --report junit,har --report-dir "$dir/report" \
    "$@")
}

fuzz() {
  local backend=$1 dir="$work/$1" url
  mkdir -p "$dir"
  case $backend in
    sqlite) url="sqlite://$dir/kangdao.db" ;;
    postgres)
      local name="kangdao_fuzz_$$"
      psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $name" >/dev/null
      psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $name" >/dev/null
      url="postgres://postgres@127.0.0.1:5432/$name" ;;
    *) echo "unknown backend $backend" >&2; return 2 ;;
  esac
  local common=(--database-url "$url" --data-dir "$dir/data")
  export KANGDAO_LOG=warn
  # No key_file: the first command generates one in the data folder, the next ones read it.
  printf 'fuzz-admin-password-1\n' | "$kangdao" user add --username admin --admin "${common[@]}" >/dev/null
  "$kangdao" serve --bind 127.0.0.1:0 "${common[@]}" >"$dir/serve.out" 2>"$dir/serve.err" &
  server_pid=$!
  local base=""
  for _ in $(seq 1 100); do
    base=$(grep -o 'http://[0-9.:]*' "$dir/serve.out" 2>/dev/null | head -n 1 || true)
    [ -n "$base" ] && break
    sleep 0.1
  done
  [ -n "$base" ] || { echo "the server did not start:" >&2; cat "$dir/serve.err" >&2; return 1; }

  local jar="$dir/cookies" login csrf token
  login=$(call 200 -c "$jar" -H 'content-type: application/json' \
    -d '{"username":"admin","password":"fuzz-admin-password-1"}' "$base/api/v1/auth/login")
  csrf=$(printf '%s' "$login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf_token"])')
  call 201 -b "$jar" -H "X-CSRF-Token: $csrf" -H 'content-type: application/json' \
    --data-binary @- "$base/api/v1/entities" >/dev/null <<'JSON'
{"name": "patient", "label": {"zh": "患者", "en": "Patient"},
 "fields": [
   {"name": "name", "type": "text", "required": true, "max_length": 50},
   {"name": "id_number", "type": "id_card", "unique": true, "sensitive": true},
   {"name": "phone", "type": "phone", "indexed": true},
   {"name": "mrn", "type": "text", "unique": true},
   {"name": "dept", "type": "select", "options": [{"value": "cardiology"}, {"value": "orthopedics"}]},
   {"name": "total_spent", "type": "money", "min": 0, "default": 0},
   {"name": "birthday", "type": "date"},
   {"name": "vip", "type": "boolean"},
   {"name": "patient_no", "type": "autonumber", "prefix": "P"}
 ]}
JSON
  call 201 -b "$jar" -H "X-CSRF-Token: $csrf" -H 'content-type: application/json' \
    -d '{"data": {"name": "张三", "mrn": "M0001", "dept": "cardiology", "total_spent": 12.5}}' \
    "$base/api/v1/records/patient" >/dev/null
  token=$(call 201 -b "$jar" -H "X-CSRF-Token: $csrf" -H 'content-type: application/json' \
    -d '{"name": "schemathesis"}' "$base/api/v1/tokens" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

  echo "== Schemathesis on $backend ($base)"
  local status=0
  # Revoking a token could end the run's own credential, so that operation runs last, alone.
  # (Log-out with a Bearer token ends no session.) Both runs run from the scratch folder:
  # Schemathesis and Hypothesis keep their caches in the working directory.
  run_schemathesis "$dir" "$base" "$token" "$MAX_SECONDS" --exclude-path '/api/v1/tokens/{id}' || status=$?
  run_schemathesis "$dir" "$base" "$token" 10 --include-path '/api/v1/tokens/{id}' || status=$?
  if grep -q 'panicked' "$dir/serve.err"; then
    echo "the server panicked:" >&2
    grep -A3 'panicked' "$dir/serve.err" >&2 | head -n 40
    status=1
  fi
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  if [ "$backend" = postgres ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS kangdao_fuzz_$$ WITH (FORCE)" >/dev/null || true
  fi
  return "$status"
}

failed=()
for backend in "${backends[@]}"; do
  fuzz "$backend" || failed+=("$backend")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-api: failures on ${failed[*]}" >&2
  exit 1
fi
echo "fuzz-api: no server error and no answer outside the document on ${backends[*]}"
