# shellcheck shell=bash
# cluster-service.sh - the services made of several server processes: a Redis Cluster of
# Debian's redis-server (3 primaries, 3 replicas) and a pool of 3 memcached, all on 127.0.0.1,
# and the node list (`pids`) of every server service. Meant to be sourced by scripts/services;
# every function takes the state folder as its first argument:
#
#   cluster_start STATE           starts the cluster (idempotent): a fresh one is created with
#                                 `redis-cli --cluster create ... --cluster-replicas 1`; in an
#                                 existing one, only the dead nodes are started again, each with
#                                 its own nodes.conf so it rejoins. Waits (bounded) until every
#                                 node says cluster_state:ok with all 16384 slots covered.
#   cluster_stop STATE            stops every node by the PID it recorded (SIGTERM, then SIGKILL)
#                                 and removes the cluster's folder (its data and nodes.conf)
#   cluster_status STATE          "redis-cluster redis-cluster://127.0.0.1:P1,...,127.0.0.1:P6"
#                                 with the live nodes; returns 1 unless all six live
#   pool_start|pool_stop|pool_status STATE     the same for the 3 memcached of the pool:
#                                 "memcached-pool memcached://127.0.0.1:A,127.0.0.1:B,127.0.0.1:C"
#   services_pids STATE NAME      one line per live node: "PID HOST:PORT ROLE", ROLE being
#                                 primary or replica (redis-cluster), member (memcached-pool)
#                                 or server (redis, memcached)
#
# A node's PID is recorded with the start time of its process (field 22 of /proc/PID/stat), and
# a PID counts only while both still match: a PID reused by another process is not ours to kill.
#
# Files: STATE/redis-cluster/PORT/{redis.conf,redis.pid,start,nodes.conf,appendonly*,log},
#        STATE/redis-cluster/created (written once the cluster has been made);
#        STATE/memcached-pool/PORT.{pid,start,log}.
# Ports: the cluster uses 12 consecutive ports from UD_REDIS_CLUSTER_PORT (27000): the six
# client ports, then the six cluster-bus ports (set with cluster-port, so that no port lies
# beyond the range given). The pool uses 3 from UD_MEMCACHED_POOL_PORT (27100). Both defaults lie
# below the kernel's range of ports for outgoing connections (ip_local_port_range, 32768-60999):
# inside it, any client connection of the machine can hold one of the twelve ports as its own end
# and make a node's bind fail ("Address already in use") although nothing listens there.
# Persistence: each node writes an append-only file (appendfsync everysec, no RDB snapshots), so
# that a node killed and started again before its replica takes over comes back with its data
# instead of empty (an empty primary would hand its emptiness to its replica).
# UD_REDIS_CLUSTER_APPENDONLY=no turns it off. UD_REDIS_CLUSTER_NODE_TIMEOUT (ms, 3000) is the
# time after which an unreachable primary is failed over. UD_REDIS_CLUSTER_WAIT (seconds, 60)
# bounds the wait for cluster_state:ok.

cluster__port=${UD_REDIS_CLUSTER_PORT:-27000}
cluster__aof=${UD_REDIS_CLUSTER_APPENDONLY:-yes}
cluster__node_timeout=${UD_REDIS_CLUSTER_NODE_TIMEOUT:-3000}
cluster__wait=${UD_REDIS_CLUSTER_WAIT:-60}
pool__port=${UD_MEMCACHED_POOL_PORT:-27100}
pool__memory=${UD_MEMCACHED_MEMORY:-256}

cluster__say() { echo "services: $*" >&2; }

# The start time (clock ticks since boot) of process $1: field 22 of /proc/PID/stat, counted
# after the command name in parentheses, which may itself hold spaces. Fails for a zombie (a
# killed node whose parent has not reaped it yet is dead all the same).
proc_start_time() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  [ "$1" != Z ] || return 1
  echo "${20}"
}

# Prints the PID recorded in $1 (a pid file) if that process lives, runs the program $3 and
# started at the time recorded in $2 (a PID reused by another process does not count).
recorded_pid() {
  local pidfile=$1 startfile=$2 program=$3 pid comm
  [ -f "$pidfile" ] && [ -f "$startfile" ] || return 1
  pid=$(tr -dc '0-9' <"$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # A killed node whose parent has not reaped it yet is a zombie: dead, whatever kill -0 says.
  [[ $(cat "/proc/$pid/stat" 2>/dev/null) =~ \)\ Z ]] && return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [[ $comm == "$program"* ]] || return 1
  local started
  started=$(proc_start_time "$pid") || return 1
  [ "$started" = "$(cat "$startfile" 2>/dev/null)" ] || return 1
  echo "$pid"
}

# Records the start time of the process in pid file $1 into $2, once the pid file exists.
cluster__record_start() {
  local pidfile=$1 startfile=$2 pid deadline=$((SECONDS + 10))
  while [ ! -s "$pidfile" ] && [ $SECONDS -lt "$deadline" ]; do sleep 0.05; done
  pid=$(tr -dc '0-9' <"$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] || return 1
  proc_start_time "$pid" >"$startfile"
}

# Stops process $2 (named $1 in messages): SIGTERM, then SIGKILL after the bounded wait.
stop_pid() {
  local what=$1 pid=$2 deadline=$((SECONDS + ${UD_SERVICES_WAIT:-10}))
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    cluster__say "$what (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

cluster__ports() {
  local i
  for i in 0 1 2 3 4 5; do echo $((cluster__port + i)); done
}

cluster__node_pid() {
  local d=$1/redis-cluster/$2
  recorded_pid "$d/redis.pid" "$d/start" redis-server
}

# Writes the configuration of the node on port $2 (created once; kept across restarts).
cluster__write_conf() {
  local d=$1/redis-cluster/$2 bus=$(($2 + 6))
  mkdir -p "$d"
  cat >"$d/redis.conf" <<EOF
bind 127.0.0.1
port $2
cluster-enabled yes
cluster-port $bus
cluster-config-file nodes.conf
cluster-node-timeout $cluster__node_timeout
daemonize yes
pidfile $d/redis.pid
logfile $d/log
dir $d
save ""
appendonly $cluster__aof
appendfsync everysec
EOF
}

# Starts the node on port $2 from its own folder (its nodes.conf makes it rejoin).
cluster__start_node() {
  local state=$1 port=$2 d=$1/redis-cluster/$2
  if port_in_use "$port" || port_in_use $((port + 6)); then
    die "port $port or $((port + 6)) on 127.0.0.1 is taken by another program; set UD_REDIS_CLUSTER_PORT"
  fi
  rm -f "$d/redis.pid" "$d/start"
  redis-server "$d/redis.conf" >>"$d/log" 2>&1 || die "redis-server on port $port failed to start; see $d/log"
  cluster__record_start "$d/redis.pid" "$d/start" || die "redis-server on port $port wrote no pid file; see $d/log"
  local deadline=$((SECONDS + ${UD_SERVICES_WAIT:-10}))
  until probe "$port" PING +PONG; do
    [ $SECONDS -lt "$deadline" ] || die "redis-server did not answer on 127.0.0.1:$port; see $d/log"
    sleep 0.1
  done
  cluster__say "redis-cluster node started (pid $(cluster__node_pid "$state" "$port"), port $port)"
}

# True once node $1 says cluster_state:ok with every slot assigned and served.
cluster__node_ok() {
  local info
  info=$(redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r') || return 1
  [[ $info == *"cluster_state:ok"* && $info == *"cluster_slots_ok:16384"* ]]
}

cluster__wait_ok() {
  local deadline=$((SECONDS + cluster__wait)) port ok
  while :; do
    ok=1
    for port in $(cluster__ports); do cluster__node_ok "$port" || { ok=0; break; }; done
    [ $ok = 1 ] && return 0
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

cluster_start() {
  local state=$1 dir=$1/redis-cluster port pid started=0 hosts=()
  command -v redis-server >/dev/null || die "redis-server not found (run scripts/bootstrap)"
  command -v redis-cli >/dev/null || die "redis-cli not found (run scripts/bootstrap)"
  if [ ! -f "$dir/created" ]; then
    # A creation that did not finish leaves nothing worth keeping: stop our nodes, start clean.
    for port in $(cluster__ports); do
      if pid=$(cluster__node_pid "$state" "$port"); then stop_pid "redis-cluster node $port" "$pid"; fi
    done
    rm -rf "$dir"
  fi
  (umask 077 && mkdir -p "$dir")
  for port in $(cluster__ports); do
    if cluster__node_pid "$state" "$port" >/dev/null; then continue; fi
    [ -f "$dir/$port/redis.conf" ] || cluster__write_conf "$state" "$port"
    cluster__start_node "$state" "$port"
    started=$((started + 1))
  done
  if [ ! -f "$dir/created" ]; then
    for port in $(cluster__ports); do hosts+=("127.0.0.1:$port"); done
    redis-cli --cluster create "${hosts[@]}" --cluster-replicas 1 --cluster-yes >>"$dir/create.log" 2>&1 ||
      die "redis-cli --cluster create failed; see $dir/create.log"
    touch "$dir/created"
  elif [ $started = 0 ]; then
    cluster__say "redis-cluster already running (ports $cluster__port-$((cluster__port + 5)))"
  fi
  cluster__wait_ok || die "redis-cluster did not reach cluster_state:ok on every node within ${cluster__wait}s; see $dir/*/log"
  [ $started = 0 ] || cluster__say "redis-cluster ready (ports $cluster__port-$((cluster__port + 5)), cluster_state:ok)"
}

# group__stop STATE SERVICE PORTS PIDOF MEMBER: stops every live member of a service of several
# processes (PORTS and PIDOF name its functions: the member ports, a member's recorded pid) and
# removes its folder.
group__stop() {
  local state=$1 name=$2 ports=$3 pidof=$4 member=$5 port pid
  [ -d "$state/$name" ] || { cluster__say "$name not running"; return 0; }
  for port in $($ports); do
    if pid=$($pidof "$state" "$port"); then stop_pid "$name $member $port" "$pid"; fi
  done
  rm -rf "${state:?}/$name"
  cluster__say "$name stopped"
}

# group__status STATE SERVICE PORTS PIDOF SCHEME: prints "SERVICE SCHEME://HOST:PORT,..." with
# the live members; 0 when every member lives, 1 when some do not (nothing printed if none).
group__status() {
  local state=$1 ports=$3 pidof=$4 port live=() n=0
  for port in $($ports); do
    n=$((n + 1))
    if $pidof "$state" "$port" >/dev/null; then live+=("127.0.0.1:$port"); fi
  done
  [ ${#live[@]} -gt 0 ] || return 1
  echo "$2 $5://$(
    IFS=,
    echo "${live[*]}"
  )"
  [ ${#live[@]} = "$n" ]
}

cluster_stop() { group__stop "$1" redis-cluster cluster__ports cluster__node_pid node; }
cluster_status() { group__status "$1" redis-cluster cluster__ports cluster__node_pid redis-cluster; }

pool__ports() { echo "$pool__port" $((pool__port + 1)) $((pool__port + 2)); }

pool__member_pid() {
  recorded_pid "$1/memcached-pool/$2.pid" "$1/memcached-pool/$2.start" memcached
}

pool_start() {
  local state=$1 dir=$1/memcached-pool port user=() started=0
  command -v memcached >/dev/null || die "memcached not found (run scripts/bootstrap)"
  (umask 077 && mkdir -p "$dir")
  # memcached refuses to run as root unless it is told which user to be.
  if [ "$(id -u)" -eq 0 ]; then user=(-u root); fi
  for port in $(pool__ports); do
    if pool__member_pid "$state" "$port" >/dev/null; then continue; fi
    port_in_use "$port" && die "port $port on 127.0.0.1 is taken by another program; set UD_MEMCACHED_POOL_PORT"
    rm -f "$dir/$port.pid" "$dir/$port.start"
    # -I 2m: the contract tests store 1 MiB values, above the default item size of 1 MiB.
    memcached -d -P "$dir/$port.pid" -l 127.0.0.1 -p "$port" -U 0 -m "$pool__memory" -I 2m \
      -c 1024 -t 2 "${user[@]}" >>"$dir/$port.log" 2>&1 || die "memcached on port $port failed to start; see $dir/$port.log"
    cluster__record_start "$dir/$port.pid" "$dir/$port.start" || die "memcached on port $port wrote no pid file"
    local deadline=$((SECONDS + ${UD_SERVICES_WAIT:-10}))
    until probe "$port" version VERSION; do
      [ $SECONDS -lt "$deadline" ] || die "memcached did not answer on 127.0.0.1:$port; see $dir/$port.log"
      sleep 0.1
    done
    started=$((started + 1))
  done
  if [ $started = 0 ]; then
    cluster__say "memcached-pool already running (ports $(pool__ports))"
  else
    cluster__say "memcached-pool started (ports $(pool__ports))"
  fi
}

pool_stop() { group__stop "$1" memcached-pool pool__ports pool__member_pid member; }
pool_status() { group__status "$1" memcached-pool pool__ports pool__member_pid memcached; }

# The role of cluster node $1 as the node itself reports it.
cluster__role() {
  case $(redis-cli -h 127.0.0.1 -p "$1" role 2>/dev/null | head -n 1) in
    master) echo primary ;;
    slave) echo replica ;;
    *) echo unknown ;;
  esac
}

# services_pids STATE NAME: "PID HOST:PORT ROLE" for every live node of service NAME.
services_pids() {
  local state=$1 name=$2 port pid n=0
  case $name in
    redis | memcached)
      pid=$(running_pid "$name") || return 1
      echo "$pid 127.0.0.1:$(cat "$state/$name.port") server"
      ;;
    redis-cluster)
      for port in $(cluster__ports); do
        if pid=$(cluster__node_pid "$state" "$port"); then
          echo "$pid 127.0.0.1:$port $(cluster__role "$port")"
          n=$((n + 1))
        fi
      done
      [ $n -gt 0 ]
      ;;
    memcached-pool)
      for port in $(pool__ports); do
        if pid=$(pool__member_pid "$state" "$port"); then
          echo "$pid 127.0.0.1:$port member"
          n=$((n + 1))
        fi
      done
      [ $n -gt 0 ]
      ;;
    *)
      cluster__say "pids: no node list for '$name' (redis, memcached, redis-cluster, memcached-pool)"
      return 2
      ;;
  esac
}
