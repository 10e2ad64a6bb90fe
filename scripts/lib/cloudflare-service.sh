# shellcheck shell=bash
# cloudflare-service.sh - the local Cloudflare runtime (workerd through miniflare) running our
# Worker (adapters/cloudflare/worker) on 127.0.0.1, with KV and D1 persisted in a private folder.
# Meant to be sourced; every function takes the state folder as its first argument:
#
#   cloudflare_install            npm ci of the pinned miniflare when node_modules is missing
#   cloudflare_start STATE        starts it (idempotent) and waits until /_health answers
#   cloudflare_stop STATE         stops it: SIGTERM to its process group, SIGKILL after a wait
#   cloudflare_status STATE       prints "cloudflare-kv URI", "cloudflare-d1 URI" and
#                                 "cloudflare-rest URI"; returns 1 when it is not running
#
# Files: STATE/cloudflare/{data/,cloudflare.pid,ready,port,log}. Data survives stop/start.
# Environment: UD_CLOUDFLARE_PORT (58787), UD_CLOUDFLARE_FAULTS=1 (enable the fault switch),
# UD_SERVICES_WAIT (seconds, 20 here at least), CLOUDFLARE_WORKER_TOKEN (optional Worker token).

cloudflare__root() { (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd); }
cloudflare__say() { echo "cloudflare: $*" >&2; }

cloudflare__worker_dir() { echo "$(cloudflare__root)/adapters/cloudflare/worker"; }

# Installs the pinned packages from package-lock.json (runtime only: wrangler is for deploys).
cloudflare_install() {
  local dir
  dir=$(cloudflare__worker_dir)
  if [ -x "$dir/node_modules/workerd/bin/workerd" ] && [ -f "$dir/node_modules/miniflare/package.json" ] &&
    [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || { cloudflare__say "npm not found (install nodejs 20 and npm)"; return 1; }
  cloudflare__say "installing miniflare (npm ci) in $dir"
  (cd "$dir" && npm ci --omit=dev --no-audit --no-fund --loglevel=error) >&2 ||
    { cloudflare__say "npm ci failed"; return 1; }
}

# Prints the PID of the launcher if it is alive and really is our run.mjs (pid files can be stale).
cloudflare__pid() {
  local f="$1/cloudflare/cloudflare.pid" pid
  [ -f "$f" ] || return 1
  pid=$(tr -dc '0-9' <"$f" 2>/dev/null)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'run\.mjs' || return 1
  echo "$pid"
}

# Prints the recorded process group if any of our processes still run in it: workerd outlives
# a launcher that was killed with SIGKILL, and must be stopped too.
cloudflare__group() {
  local f="$1/cloudflare/cloudflare.pid" pid
  [ -f "$f" ] || return 1
  pid=$(tr -dc '0-9' <"$f" 2>/dev/null)
  [ -n "$pid" ] || return 1
  pgrep -g "$pid" -f 'run\.mjs|workerd' >/dev/null 2>&1 || return 1
  echo "$pid"
}

cloudflare__healthy() {
  curl -fsS --max-time 2 "http://127.0.0.1:$1/_health" >/dev/null 2>&1
}

cloudflare_start() {
  local state=$1 dir port pid deadline wait_secs faults=()
  [ -n "$state" ] || { cloudflare__say "cloudflare_start: no state folder"; return 2; }
  dir="$state/cloudflare"
  if pid=$(cloudflare__pid "$state"); then
    cloudflare__say "already running (pid $pid, port $(cat "$dir/port"))"
    return 0
  fi
  # Leftovers of a launcher that died (an orphaned workerd holding the port) go first.
  if cloudflare__group "$state" >/dev/null; then cloudflare_stop "$state"; fi
  command -v node >/dev/null 2>&1 || { cloudflare__say "node not found (Node 20 is needed)"; return 1; }
  cloudflare_install || return 1
  mkdir -p "$dir/data" && chmod 700 "$dir/data"
  port=${UD_CLOUDFLARE_PORT:-58787}
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    cloudflare__say "port $port on 127.0.0.1 is taken; set UD_CLOUDFLARE_PORT to a free port"
    return 1
  fi
  [ "${UD_CLOUDFLARE_FAULTS:-0}" = 1 ] && faults=(--faults)
  rm -f "$dir/ready" "$dir/cloudflare.pid"
  # setsid: the launcher leads its own process group, so stop can end it and workerd together.
  setsid node "$(cloudflare__worker_dir)/run.mjs" --host 127.0.0.1 --port "$port" \
    --persist "$dir/data" --ready-file "$dir/ready" "${faults[@]}" \
    </dev/null >>"$dir/log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/cloudflare.pid"
  echo "$port" >"$dir/port"
  wait_secs=${UD_SERVICES_WAIT:-20}
  [ "$wait_secs" -lt 20 ] && wait_secs=20
  deadline=$((SECONDS + wait_secs))
  while [ $SECONDS -lt $deadline ]; do
    if [ -f "$dir/ready" ] && cloudflare__healthy "$port"; then
      cloudflare__say "started (pid $pid, port $port, data $dir/data)"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cloudflare__say "did not become ready within ${wait_secs}s; see $dir/log"
  cloudflare_stop "$state" >/dev/null 2>&1
  return 1
}

cloudflare_stop() {
  local state=$1 dir pid deadline
  dir="$state/cloudflare"
  if ! pid=$(cloudflare__group "$state"); then
    rm -f "$dir/cloudflare.pid" "$dir/ready" "$dir/port"
    cloudflare__say "not running"
    return 0
  fi
  # The launcher leads its process group (setsid): signal the whole group, workerd included.
  kill -TERM -- "-$pid" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while pgrep -g "$pid" >/dev/null 2>&1 && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if pgrep -g "$pid" >/dev/null 2>&1; then
    cloudflare__say "process group $pid ignored SIGTERM; sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$dir/cloudflare.pid" "$dir/ready" "$dir/port"
  cloudflare__say "stopped (process group $pid)"
}

cloudflare_status() {
  local state=$1 port
  cloudflare__pid "$state" >/dev/null || return 1
  [ -f "$state/cloudflare/ready" ] || return 1
  port=$(cat "$state/cloudflare/port" 2>/dev/null) || return 1
  echo "cloudflare-kv cloudflare-kv://127.0.0.1:$port"
  echo "cloudflare-d1 cloudflare-d1://127.0.0.1:$port"
  echo "cloudflare-rest cloudflare-rest://127.0.0.1:$port"
}
