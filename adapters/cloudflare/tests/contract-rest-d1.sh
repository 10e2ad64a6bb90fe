#!/usr/bin/env bash
# Runs the contract suite against cloudflare-rest with store=d1 (the official D1 API shape) on
# the runtime of scripts/services. Usage: contract-rest-d1.sh TEST_KV_CONTRACT SERVICES_SCRIPT
set -euo pipefail
uri=${KV_TEST_CLOUDFLARE_REST_URI:-}
if [ -z "$uri" ]; then
  uri=$("$2" status 2>/dev/null | awk '$1 == "cloudflare-rest" { print $2 }' || true)
fi
if [ -z "$uri" ]; then
  echo "KV_TEST_SKIP: service cloudflare-rest is not running (scripts/services start)"
  exit 0
fi
case $uri in *\?*) uri="$uri&store=d1" ;; *) uri="$uri?store=d1" ;; esac
exec "$1" "$uri"
