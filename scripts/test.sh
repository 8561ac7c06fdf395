#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine: installs and starts what the
# tests need (PostgreSQL on 127.0.0.1:5432 with a `test` database), then format, lint and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests run the real browser app, built into the binary: never the placeholder.
unset KANGDAO_SKIP_UI

pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }

start_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "== installing PostgreSQL"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  # The tests connect as postgres over TCP without a password (a throwaway local server).
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  for _ in $(seq 1 30); do pg_ready && return 0; sleep 1; done
  echo "PostgreSQL did not start" >&2
  return 1
}

if ! pg_ready; then
  echo "== starting PostgreSQL"
  start_postgres
fi
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
  psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace 2>&1 | tee "$log" || status=$?
# The browser app: a clean install from the lock file, the strict type check, the unit tests and
# the browser tests (the real server binary the tests just built, the system Chromium with a CJK
# font so screenshots show Chinese). Each check counts; vitest's tests count one by one.
if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
  echo "== installing Chromium and a CJK font"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk >/dev/null
fi
count_check() {
  local name=$1
  shift
  if "$@"; then
    echo "test result: ok. 1 passed; 0 failed ($name)" >>"$log"
  else
    echo "test result: FAILED. 0 passed; 1 failed ($name)" >>"$log"
    status=1
  fi
}
count_vitest() {
  local name=$1 report="$PWD/target/$1.json"
  shift
  rm -f "$report"
  (cd designer-ui && npx vitest run "$@" --reporter=default --reporter=json --outputFile="$report") || status=1
  if [ -f "$report" ]; then
    # A file that failed to load fails no test by itself: count it as one failure.
    node -e 'const r = require(process.argv[1]); const failed = r.numFailedTests || (r.success ? 0 : 1);
      console.log(`test result: ${failed ? "FAILED" : "ok"}. ${r.numPassedTests} passed; ${failed} failed (` + process.argv[2] + ")")' \
      "$report" "$name" >>"$log"
  else
    echo "test result: FAILED. 0 passed; 1 failed ($name: no report)" >>"$log"
    status=1
  fi
}
echo "== designer-ui: npm ci"
count_check npm-ci bash -c 'cd designer-ui && npm ci --no-audit --no-fund'
echo "== designer-ui: vue-tsc --noEmit"
count_check vue-tsc bash -c 'cd designer-ui && npm run --silent typecheck'
echo "== designer-ui: vitest"
count_vitest vitest-unit
echo "== designer-ui: browser tests"
KANGDAO_BIN="$PWD/target/debug/kangdao" count_vitest vitest-e2e --config vitest.e2e.config.ts
# Schemathesis over every operation of the OpenAPI document, on SQLite and PostgreSQL, with the
# server binary the tests just built. Its verdict counts as one more test.
echo "== fuzz the API against its OpenAPI document"
if KANGDAO_BIN="$PWD/target/debug/kangdao" scripts/fuzz-api.sh; then
  echo "test result: ok. 1 passed; 0 failed (fuzz-api)" >>"$log"
else
  echo "test result: FAILED. 0 passed; 1 failed (fuzz-api)" >>"$log"
  status=1
fi
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
