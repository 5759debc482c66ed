#!/usr/bin/env bash
# Starts the built binary like a newcomer would and talks to it with tools that are not
# taskmesh's own: grpcurl (reflection v1alpha), buf curl (gRPC and grpc-web) and Python
# grpcio. Usage: smoke.sh PATH_TO_TASKMESH_BINARY
set -euo pipefail

binary="$1"
tools="${CI_TOOLS_DIR:?set by .ci/run}"
buf="$tools/node_modules/.bin/buf"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

TASKMESH_LOG__FILTER=warn "$binary" serve --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 100); do
    grep -q "curl http://" "$work/out" 2>/dev/null && break
    sleep 0.1
done
address="$(grep -o 'http://127.0.0.1:[0-9]*' "$work/out" | head -1 | sed 's|http://||')"
[ -n "$address" ] || { echo "smoke: no banner"; cat "$work/out" "$work/err"; exit 1; }
echo "smoke: taskmesh listening on $address"

echo "smoke: grpcurl list"
"$tools/venv/bin/grpcurl" -plaintext "$address" list | tee "$work/grpcurl"
grep -qx "grpc.health.v1.Health" "$work/grpcurl"

echo "smoke: buf curl --protocol grpc --list-services"
"$buf" curl --protocol grpc --http2-prior-knowledge --list-services "http://$address" | tee "$work/buf-grpc"
grep -qx "grpc.health.v1.Health" "$work/buf-grpc"

echo "smoke: buf curl --protocol grpcweb --list-services"
"$buf" curl --protocol grpcweb --list-services "http://$address" | tee "$work/buf-web"
grep -qx "grpc.health.v1.Health" "$work/buf-web"

echo "smoke: buf curl --protocol grpcweb Health/Check"
"$buf" curl --protocol grpcweb "http://$address/grpc.health.v1.Health/Check" | tee "$work/check"
grep -q '"SERVING"' "$work/check"

echo "smoke: the README walkthrough with buf curl"
BUF="$buf" bash "$(dirname "$0")/walkthrough.sh" "http://$address" | tee "$work/walkthrough"
grep -q "ORGANIZATION_ROLE_MEMBER" "$work/walkthrough"

echo "smoke: the README Kanban walkthrough with buf curl (a live board included)"
BUF="$buf" bash "$(dirname "$0")/kanban.sh" "http://$address" | tee "$work/kanban"
grep -q 'Move WEB-1 "Fix login" back from In Progress to To Do' "$work/kanban"
[ "$(tail -1 "$work/kanban")" -ge 2 ] || { echo "smoke: the board watcher missed the moves"; exit 1; }

echo "smoke: the README documents and share-link walkthrough with buf curl and curl"
BUF="$buf" bash "$(dirname "$0")/share.sh" "http://$address" | tee "$work/share"
grep -q "content-disposition: attachment" "$work/share"
[ "$(grep -cx '401\|403\|404' "$work/share")" -eq 3 ] || { echo "smoke: share page statuses"; exit 1; }
grep -q '"title":"Review the spec"' "$work/share"
grep -qx '3 visits' "$work/share"

echo "smoke: python grpcio through reflection"
"$tools/venv/bin/python" "$(dirname "$0")/smoke.py" "$address"

echo "smoke: SIGTERM drains and exits 0"
kill -TERM "$pid"
wait "$pid"
echo "smoke: ok"
