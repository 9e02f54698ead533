#!/bin/sh
# One-to-one delivery on this machine: nudge (every message committed before
# its acknowledgement) against Centrifugo v6.9.1 (memory broker, nothing
# stored), the same pairs and the same messages a second. Centrifugo is built
# from the Go module proxy into ~/.cache/nudge-bench, never committed.
#
#   loadgen/centrifugo/compare.sh [pairs] [interval] [duration]
#
# A Centrifugo pair publishes every interval; a nudge visitor writes every two
# intervals and the agent answers each, so both carry one message a pair per
# interval. Reported: publisher → subscriber (Centrifugo) and visitor → agent
# (nudge) latency.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pairs=${1:-1000}
interval=${2:-2s}
duration=${3:-60s}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/nudge-bench
mkdir -p "$cache"
[ -x "$cache/centrifugo" ] || GOBIN="$cache" go install github.com/centrifugal/centrifugo/v6@v6.9.1
(cd "$here" && go build -o "$cache/centrifugo-pairs" .)
(cd "$root" && make build >/dev/null)
ulimit -n 20000 2>/dev/null || true
# Each run's data stays in the cache, and runs older than a day go first:
# this machine's file system is mounted with discard, and freeing a run's
# files just before the next one stalls its fsyncs (docs/benchmarks.md).
find "$cache" -maxdepth 1 -name 'run.*' -mtime +0 -exec rm -rf {} + 2>/dev/null || true
data=$(mktemp -d "$cache/run.XXXXXX")
cpid= npid=
trap 'kill $cpid $npid 2>/dev/null || true' EXIT

cat >"$data/centrifugo.json" <<JSON
{"client": {"insecure": true, "allowed_origins": ["*"]}, "http_server": {"address": "127.0.0.1", "port": 18300}}
JSON
"$cache/centrifugo" --config "$data/centrifugo.json" >"$data/centrifugo.log" 2>&1 &
cpid=$!
until curl -s -o /dev/null http://127.0.0.1:18300/connection/websocket; do sleep 0.2; done
"$cache/centrifugo-pairs" --url ws://127.0.0.1:18300/connection/websocket --pairs "$pairs" --interval "$interval" --duration "$duration"
kill $cpid
wait $cpid 2>/dev/null || true
cpid=

NUDGE_ADMIN_PASSWORD=password1 "$root/bin/nudge" serve --demo --data "$data/nudge" --addr 127.0.0.1:18301 \
  --public-url http://127.0.0.1:18301 --chat-ip-rate 0 --log-level warn --metrics-addr 127.0.0.1:19301 >"$data/nudge.log" 2>&1 &
npid=$!
until curl -sf -o /dev/null http://127.0.0.1:18301/readyz; do sleep 0.2; done
NUDGE_LOADGEN_PASSWORD=password1 "$root/bin/nudge" loadgen chat --url http://127.0.0.1:18301 --metrics-url http://127.0.0.1:19301/metrics \
  --conversations "$pairs" --per-agent 1 --interval "$interval" --duration "$duration" | grep -E "latency|lost|sent|ack"
