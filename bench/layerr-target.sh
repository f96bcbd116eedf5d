#!/usr/bin/env bash
# Runs Layerr as the benchmark harness's custom target (../shared/bench/run-peers.sh):
# a fresh store, one OpenAI-format provider pointing at the harness's mock upstream
# ($MOCK_OPENAI_BASE) serving `mock-gpt`, listening on 127.0.0.1:$BENCH_CUSTOM_PORT.
# The provider is registered on a first short run (it is an event in the store), so the
# gateway that the harness measures is ready the moment it answers.
#
# Env: BENCH_CUSTOM_PORT (default 18900), MOCK_OPENAI_BASE (set by the harness),
#      LAYERR_BENCH_BIN (default ./target/release/layerr), LAYERR_BENCH_DATABASE_URL (Postgres;
#      default: the embedded SQLite store), LAYERR_BENCH_DURABILITY (batched|sync),
#      LAYERR_BENCH_GUARDRAILS (1: a default guardrail policy is set: every PII kind redacted on
#      input and output, prompt injection blocked, the default 64-character stream hold-back).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${LAYERR_BENCH_BIN:-$ROOT/target/release/layerr}
PORT=${BENCH_CUSTOM_PORT:-18900}
SETUP_PORT=$((PORT + 1))
: "${MOCK_OPENAI_BASE:?MOCK_OPENAI_BASE must point at the mock upstream}"
export LAYERR_ADMIN_KEY=${LAYERR_ADMIN_KEY:-lyr_bench_admin_key_0123456789}
export LAYERR_DATA_DIR=${LAYERR_DATA_DIR:-$(mktemp -d /tmp/layerr-bench.XXXXXX)}
export LAYERR_LOG=${LAYERR_LOG:-warn}
export LAYERR_DURABILITY=${LAYERR_BENCH_DURABILITY:-batched}
if [ -n "${LAYERR_BENCH_DATABASE_URL:-}" ]; then export LAYERR_DATABASE_URL=$LAYERR_BENCH_DATABASE_URL; fi
# The gateway refuses LAYERR_* variables it does not know: the bench's own are consumed here.
GUARDRAILS=${LAYERR_BENCH_GUARDRAILS:-0}
unset LAYERR_BENCH_DATABASE_URL LAYERR_BENCH_DURABILITY LAYERR_BENCH_BIN LAYERR_BENCH_GUARDRAILS
unset BENCH_CUSTOM_CMD BENCH_CUSTOM_NAME BENCH_CUSTOM_HEADERS BENCH_CUSTOM_READY_URL BENCH_CUSTOM_URL

"$BIN" serve --listen "127.0.0.1:$SETUP_PORT" &
setup_pid=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$SETUP_PORT/api/health" && break
  sleep 0.1
done
curl -sf -X POST "http://127.0.0.1:$SETUP_PORT/api/providers" \
  -H "authorization: Bearer $LAYERR_ADMIN_KEY" -H 'content-type: application/json' \
  -d "{\"id\":\"mock\",\"name\":\"Bench mock\",\"type\":\"openai\",\"baseUrl\":\"$MOCK_OPENAI_BASE\",\"models\":[\"mock-gpt\"],\"apiKey\":\"sk-bench\"}" >/dev/null
if [ "$GUARDRAILS" = 1 ]; then
  curl -sf -X PATCH "http://127.0.0.1:$SETUP_PORT/api/admin/guardrails" \
    -H "authorization: Bearer $LAYERR_ADMIN_KEY" -H 'content-type: application/json' \
    -d '{"policy":{"rules":[{"id":"pii","type":"pii","scope":"both","action":"redact"},{"id":"injection","type":"injection","scope":"input","action":"block"}]}}' >/dev/null
fi
kill -TERM "$setup_pid"
wait "$setup_pid" || true

exec "$BIN" serve --listen "127.0.0.1:$PORT"
