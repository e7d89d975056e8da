#!/usr/bin/env bash
# Local Kafka (single KRaft broker+controller node), Redis and a Redis Cluster for
# development, the demo and the integration tests. No Docker needed; all state lives under
# var/ (git-ignored).
#
#   deploy/local/servers.sh start [kafka|redis|cluster]  start (idempotent), wait until each answers
#   deploy/local/servers.sh stop  [kafka|redis|cluster]  stop exactly what start started (PID files)
#   deploy/local/servers.sh status                       what runs where; exit 0 only if all answer
#   deploy/local/servers.sh browser                      install Debian's chromium and chromium-driver for
#                                                        the page's browser tests (make test), if missing
#
# Environment (all optional):
#   CG_KAFKA_PORT       Kafka client port (default 19092); its controller uses port + 1
#   CG_REDIS_PORT       Redis port (default 16379)
#   CG_REDIS_CLUSTER_PORT  first port of the Redis Cluster's three masters (default 17001: 17001-17003;
#                       each also listens on its cluster bus, port + 10000)
#   CG_VAR_DIR          state directory (default <repo>/var)
#   CG_KAFKA_HEAP       JVM heap options (default -Xmx512m -Xms128m)
#   CG_SERVERS_TIMEOUT  seconds to wait for each server to answer (default 90)
#   CG_PYTHON           Python with aiokafka for the readiness check (default .venv/bin/python)
# The application itself reads CG_KAFKA_BOOTSTRAP / CG_REDIS_URL; the Makefile sets
# them from CG_KAFKA_PORT / CG_REDIS_PORT when those are given.
#
# First start: Kafka is assembled with Maven from deploy/local/kafka/pom.xml into
# var/kafka/lib (Maven's repository is var/m2, so nothing outside var/ is used), and
# its storage is formatted once with a random cluster id kept in var/kafka/cluster.id.
# Redis is Debian's redis-server (apt-get installs it if missing, as root), run
# with persistence off. The cluster is three more redis-servers in cluster mode (no
# replicas, no persistence) joined with `redis-cli --cluster create`; its URL for the
# application is redis+cluster://127.0.0.1:<first port>. Java 17+ and mvn are
# apt-installed too if missing.
set -euo pipefail

DEFAULT_KAFKA_PORT=19092
DEFAULT_REDIS_PORT=16379
DEFAULT_REDIS_CLUSTER_PORT=17001

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/local"
VAR="${CG_VAR_DIR:-$ROOT/var}"
KAFKA_PORT="${CG_KAFKA_PORT:-$DEFAULT_KAFKA_PORT}"
CONTROLLER_PORT="$((KAFKA_PORT + 1))"
REDIS_PORT="${CG_REDIS_PORT:-$DEFAULT_REDIS_PORT}"
CLUSTER_PORT="${CG_REDIS_CLUSTER_PORT:-$DEFAULT_REDIS_CLUSTER_PORT}"
CLUSTER_PORTS=("$CLUSTER_PORT" "$((CLUSTER_PORT + 1))" "$((CLUSTER_PORT + 2))")
KAFKA_HEAP="${CG_KAFKA_HEAP:--Xmx512m -Xms128m}"
TIMEOUT="${CG_SERVERS_TIMEOUT:-90}"
PY="${CG_PYTHON:-$ROOT/.venv/bin/python}"

KDIR="$VAR/kafka"
KLIB="$KDIR/lib"
KPID="$KDIR/kafka.pid"
RDIR="$VAR/redis"
RPID="$RDIR/redis.pid"
CDIR="$VAR/redis-cluster"
POM="$HERE/kafka/pom.xml"

say() { printf '[servers] %s\n' "$*"; }
die() { printf '[servers] ERROR: %s\n' "$*" >&2; exit 1; }

# --- helpers -------------------------------------------------------------------------

# pid_of FILE PATTERN: print the PID in FILE if that process is alive and its command
# line contains PATTERN (so a stale file or a recycled PID is never mistaken for ours).
pid_of() {
    local file="$1" pattern="$2" pid
    [[ -s "$file" ]] || return 1
    pid="$(tr -dc '0-9' <"$file")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern" || return 1
    echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# running_on FILE PORT NAME VAR: a server this checkout started answers on the port in FILE;
# asked for another port, say so and stop rather than pass another checkout's server off as ours.
running_on() {
    local file="$1" wanted="$2" name="$3" var="$4" actual
    actual="$(cat "$file" 2>/dev/null || true)"
    [[ -z "$actual" || "$actual" == "$wanted" ]] ||
        die "$name from this checkout already runs on port $actual, not $wanted: stop it first ($0 stop) or set $var=$actual"
}

apt_install() {  # apt_install PACKAGE... (root + apt-get only; non-interactive)
    [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null ||
        die "missing $*; install it with: sudo apt-get install -y $*"
    say "installing $* with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$@" >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q "$@" >/dev/null
    } || die "apt-get install $* failed"
}

need_java() {
    command -v java >/dev/null || apt_install openjdk-17-jre-headless
    local major
    major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
    [[ "${major%%.*}" -ge 17 ]] 2>/dev/null ||
        die "Kafka 4 needs Java 17 or newer, found '${major:-?}' (apt-get install -y openjdk-17-jre-headless)"
    command -v mvn >/dev/null || apt_install maven
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.5 s.
wait_until() {
    local secs="$1" what="$2"; shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

# --- Kafka ---------------------------------------------------------------------------

kafka_version() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM"; }

kafka_assemble() {
    local stamp="$KLIB/.pom.sha256" want
    want="$(sha256sum "$POM" | cut -d' ' -f1)"
    [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && return 0
    say "assembling Kafka $(kafka_version) from Maven Central into ${KLIB#"$ROOT"/} (once)"
    rm -rf "$KLIB.tmp"
    mkdir -p "$KDIR/logs"
    mvn -B -Dstyle.color=never -f "$POM" -Dmaven.repo.local="$VAR/m2" \
        dependency:copy-dependencies -DoutputDirectory="$KLIB.tmp" </dev/null >"$KDIR/logs/mvn.log" 2>&1 || {
        grep -E 'ERROR|BUILD' "$KDIR/logs/mvn.log" | tail -n 20 >&2
        die "mvn could not fetch Kafka (is Maven Central reachable?); full log: ${KDIR#"$ROOT"/}/logs/mvn.log"
    }
    ls "$KLIB.tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "mvn ran but no kafka_2.13 jar in $KLIB.tmp"
    echo "$want" >"$KLIB.tmp/.pom.sha256"
    rm -rf "$KLIB" && mv "$KLIB.tmp" "$KLIB"
}

kafka_config() {  # (re)written on every start so the ports follow the environment
    cat >"$KDIR/server.properties" <<EOF
# Generated by deploy/local/servers.sh -- edits are overwritten on start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KDIR/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
# Topics are created explicitly (pipeline/stream/topics.py, Faust for its own).
auto.create.topics.enable=false
EOF
}

# The java command line for Kafka's classes (broker and StorageTool).
read -r -a HEAP_OPTS <<<"$KAFKA_HEAP"
KAFKA_JAVA=(java "${HEAP_OPTS[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true -Dkafka.logs.dir="$KDIR/logs"
    -Dlog4j2.configurationFile="$HERE/kafka/log4j2.properties" -cp "$KLIB/*")
kafka_java() { "${KAFKA_JAVA[@]}" "$@"; }
# The broker's pauses, as Kafka's own kafka-run-class.sh logs them: a stall of every client
# shows here when it was the JVM's (the latency benchmark's slow probes are compared with it).
KAFKA_GC_LOG=(-Xlog:gc:file="$KDIR/logs/gc.log":time,uptime:filecount=3,filesize=20M)

kafka_format() {
    [[ -f "$KDIR/data/meta.properties" ]] && return 0
    [[ -s "$KDIR/cluster.id" ]] || kafka_java kafka.tools.StorageTool random-uuid >"$KDIR/cluster.id"
    say "formatting KRaft storage (cluster id $(cat "$KDIR/cluster.id"))"
    kafka_java kafka.tools.StorageTool format --ignore-formatted \
        -t "$(cat "$KDIR/cluster.id")" -c "$KDIR/server.properties" >>"$KDIR/logs/format.log" 2>&1 ||
        die "formatting failed: $(tail -n 20 "$KDIR/logs/format.log")"
}

kafka_ready() {  # a real metadata round trip if the venv has aiokafka, else the log line + port
    if [[ -x "$PY" ]] && "$PY" -c 'import aiokafka' 2>/dev/null; then
        "$PY" - "127.0.0.1:$KAFKA_PORT" <<'EOF'
import asyncio, sys
from aiokafka.admin import AIOKafkaAdminClient
async def main():
    admin = AIOKafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        await asyncio.wait_for(admin.list_topics(), 5)
    finally:
        await admin.close()
asyncio.run(main())
EOF
    else
        grep -q 'Kafka Server started' "$KDIR/logs/server.log" 2>/dev/null && port_open "$KAFKA_PORT"
    fi
}

kafka_start() {
    local pid
    mkdir -p "$KDIR/data" "$KDIR/logs"
    if pid="$(pid_of "$KPID" kafka.Kafka)"; then
        running_on "$KDIR/kafka.port" "$KAFKA_PORT" Kafka CG_KAFKA_PORT
        say "Kafka already running (pid $pid)"
    else
        port_open "$KAFKA_PORT" &&
            die "port $KAFKA_PORT is taken by a process this script did not start; stop it or set CG_KAFKA_PORT"
        port_open "$CONTROLLER_PORT" &&
            die "controller port $CONTROLLER_PORT (CG_KAFKA_PORT+1) is taken; stop that process or set CG_KAFKA_PORT"
        need_java
        kafka_assemble
        kafka_config
        kafka_format
        say "starting Kafka $(kafka_version) on 127.0.0.1:$KAFKA_PORT (controller $CONTROLLER_PORT)"
        # setsid: the broker gets its own session, so it outlives this shell and a Ctrl-C
        # in make; 'stop' ends it. The inner shell writes its PID, then becomes java.
        rm -f "$KPID"
        # shellcheck disable=SC2016  # $$ and $0 belong to the inner shell
        setsid nohup bash -c 'echo $$ >"$0"; exec "${@}"' "$KPID" \
            "${KAFKA_JAVA[@]}" "${KAFKA_GC_LOG[@]}" kafka.Kafka "$KDIR/server.properties" >>"$KDIR/logs/kafka.out" 2>&1 </dev/null &
        wait_until 10 "Kafka PID file" test -s "$KPID" || die "Kafka did not start (see ${KDIR#"$ROOT"/}/logs/kafka.out)"
        echo "$KAFKA_PORT" >"$KDIR/kafka.port"
    fi
    local deadline=$((SECONDS + TIMEOUT)) problem=""
    until kafka_ready >/dev/null 2>&1; do
        pid_of "$KPID" kafka.Kafka >/dev/null || { problem="Kafka exited during start-up"; break; }
        ((SECONDS < deadline)) || { problem="Kafka did not answer a metadata request within ${TIMEOUT}s"; break; }
        sleep 0.5
    done
    if [[ -n "$problem" ]]; then
        printf '[servers] last lines of %s/logs/server.log and kafka.out:\n' "${KDIR#"$ROOT"/}" >&2
        tail -n 15 "$KDIR/logs/server.log" "$KDIR/logs/kafka.out" >&2 2>/dev/null || true
        die "$problem (127.0.0.1:$KAFKA_PORT); logs in ${KDIR#"$ROOT"/}/logs/"
    fi
    say "Kafka ready on 127.0.0.1:$KAFKA_PORT"
}

# --- Redis ---------------------------------------------------------------------------

redis_ping() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

redis_start() {
    local pid
    mkdir -p "$RDIR"
    if pid="$(pid_of "$RPID" redis-server)"; then
        running_on "$RDIR/redis.port" "$REDIS_PORT" Redis CG_REDIS_PORT
        say "Redis already running (pid $pid)"
    else
        port_open "$REDIS_PORT" &&
            die "port $REDIS_PORT is taken by a process this script did not start; stop it or set CG_REDIS_PORT"
        command -v redis-server >/dev/null && command -v redis-cli >/dev/null || apt_install redis-server
        say "starting Redis $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p') on 127.0.0.1:$REDIS_PORT"
        rm -f "$RPID"
        redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
            --daemonize yes --pidfile "$RPID" --dir "$RDIR" --logfile "$RDIR/redis.log" \
            --save '' --appendonly no --databases 16 </dev/null ||
            die "redis-server failed: $(tail -n 20 "$RDIR/redis.log" 2>/dev/null)"
        echo "$REDIS_PORT" >"$RDIR/redis.port"
    fi
    if ! wait_until "$TIMEOUT" "Redis" redis_ping; then
        tail -n 30 "$RDIR/redis.log" >&2 2>/dev/null || true
        die "Redis did not answer PING on 127.0.0.1:$REDIS_PORT within ${TIMEOUT}s"
    fi
    say "Redis ready on 127.0.0.1:$REDIS_PORT"
}

# --- the browser for the page's tests ------------------------------------------------------

# Debian's Chromium and its ChromeDriver (/usr/bin/chromium, /usr/bin/chromedriver), the way
# redis-server comes: a test tool's own browser download cannot work on a closed network.
browser() {
    if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then  # the paths the tests use
        say "browser: $(chromium --version 2>/dev/null | head -n 1), $(chromedriver --version | cut -d' ' -f1-2)"
        return 0
    fi
    apt_install chromium chromium-driver
    say "browser: $(chromium --version 2>/dev/null | head -n 1) installed"
}

# --- Redis Cluster -------------------------------------------------------------------
# Three masters, one directory each (var/redis-cluster/node<1-3>/: nodes.conf, pid, log);
# node N listens on CG_REDIS_CLUSTER_PORT + N - 1. Without persistence a restarted node has
# lost its keys, so a cluster that is not whole is never patched up: start stops what is
# left of it and creates it anew.

NODES=(1 2 3)
ndir() { echo "$CDIR/node$1"; }
cpid() { echo "$CDIR/node$1/redis.pid"; }

cli_at() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }

node_ping() { cli_at "$1" ping 2>/dev/null | grep -q PONG; }

cluster_info_ok() {  # cluster_info_ok PORT: that node sees every slot served
    cli_at "$1" cluster info 2>/dev/null | tr -d '\r' | grep -qx 'cluster_state:ok'
}

cluster_ok() {  # every master answers and sees a whole cluster of three
    local port
    for port in "${CLUSTER_PORTS[@]}"; do
        cluster_info_ok "$port" || return 1
        [[ "$(cli_at "$port" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')" == 3 ]] ||
            return 1
    done
}

cluster_running() {  # how many of the three nodes this checkout started are alive
    local node n=0
    for node in "${NODES[@]}"; do
        pid_of "$(cpid "$node")" redis-server >/dev/null && n=$((n + 1))
    done
    echo "$n"
}

cluster_start() {
    local node port running
    mkdir -p "$CDIR"
    running="$(cluster_running)"
    if [[ "$running" -gt 0 ]]; then
        running_on "$CDIR/cluster.port" "$CLUSTER_PORT" "the Redis Cluster" CG_REDIS_CLUSTER_PORT
    fi
    if [[ "$running" == 3 ]] && cluster_ok; then
        say "Redis Cluster already running (127.0.0.1:${CLUSTER_PORTS[0]}-${CLUSTER_PORTS[2]})"
        return 0
    fi
    if [[ "$running" -gt 0 ]]; then
        say "Redis Cluster incomplete ($running of 3 nodes, or not formed): starting it anew"
        cluster_stop
    fi
    ((CLUSTER_PORT + 2 + 10000 <= 65535)) || die "CG_REDIS_CLUSTER_PORT=$CLUSTER_PORT is too high: its bus ports (+10000) pass 65535"
    for port in "${CLUSTER_PORTS[@]}"; do
        port_open "$port" &&
            die "port $port is taken by a process this script did not start; stop it or set CG_REDIS_CLUSTER_PORT"
        port_open "$((port + 10000))" &&
            die "cluster bus port $((port + 10000)) (node port + 10000) is taken; stop that process or set CG_REDIS_CLUSTER_PORT"
    done
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null || apt_install redis-server
    say "starting a Redis Cluster of three masters on 127.0.0.1:${CLUSTER_PORTS[0]}-${CLUSTER_PORTS[2]}"
    for node in "${NODES[@]}"; do
        port="${CLUSTER_PORTS[node - 1]}"
        rm -rf "$(ndir "$node")" && mkdir -p "$(ndir "$node")"  # an old nodes.conf names a cluster that is gone
        redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
            --cluster-enabled yes --cluster-config-file "$(ndir "$node")/nodes.conf" --cluster-node-timeout 5000 \
            --daemonize yes --pidfile "$(cpid "$node")" --dir "$(ndir "$node")" --logfile "$(ndir "$node")/redis.log" \
            --save '' --appendonly no </dev/null ||
            die "redis-server on $port failed: $(tail -n 20 "$(ndir "$node")/redis.log" 2>/dev/null)"
    done
    echo "$CLUSTER_PORT" >"$CDIR/cluster.port"
    for node in "${NODES[@]}"; do
        port="${CLUSTER_PORTS[node - 1]}"
        wait_until "$TIMEOUT" "cluster node $port" node_ping "$port" ||
            die "cluster node 127.0.0.1:$port did not answer PING within ${TIMEOUT}s (see ${CDIR#"$ROOT"/}/node$node/redis.log)"
    done
    redis-cli --cluster create "${CLUSTER_PORTS[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes \
        </dev/null >"$CDIR/create.log" 2>&1 ||
        die "redis-cli --cluster create failed: $(tail -n 20 "$CDIR/create.log")"
    if ! wait_until "$TIMEOUT" "Redis Cluster" cluster_ok; then
        cli_at "${CLUSTER_PORTS[0]}" cluster info >&2 2>/dev/null || true
        die "the Redis Cluster did not reach cluster_state:ok within ${TIMEOUT}s (logs in ${CDIR#"$ROOT"/}/)"
    fi
    say "Redis Cluster ready: redis+cluster://127.0.0.1:${CLUSTER_PORTS[0]} (masters ${CLUSTER_PORTS[*]})"
}

cluster_stop() {
    local node
    for node in "${NODES[@]}"; do
        stop_one "Redis Cluster node $node" "$(cpid "$node")" redis-server 20
    done
}

# --- stop / status ---------------------------------------------------------------------

stop_one() {  # stop_one NAME PIDFILE PATTERN GRACE_SECONDS
    local name="$1" file="$2" pattern="$3" grace="$4" pid
    if ! pid="$(pid_of "$file" "$pattern")"; then
        rm -f "$file"
        say "$name not running"
        return 0
    fi
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_until "$grace" "$name exit" bash -c "! kill -0 $pid"; then
        say "$name still running after ${grace}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_until 10 "$name exit" bash -c "! kill -0 $pid" || die "could not stop $name (pid $pid)"
    fi
    rm -f "$file"
}

status() {
    local pid rc=0
    if pid="$(pid_of "$KPID" kafka.Kafka)"; then
        if kafka_ready >/dev/null 2>&1; then say "Kafka $(kafka_version): running, pid $pid, 127.0.0.1:$KAFKA_PORT, answering"
        else say "Kafka $(kafka_version): running, pid $pid, 127.0.0.1:$KAFKA_PORT, NOT answering"; rc=1; fi
    else say "Kafka: stopped"; rc=1; fi
    if pid="$(pid_of "$RPID" redis-server)"; then
        if redis_ping; then say "Redis: running, pid $pid, 127.0.0.1:$REDIS_PORT, answering"
        else say "Redis: running, pid $pid, 127.0.0.1:$REDIS_PORT, NOT answering"; rc=1; fi
    else say "Redis: stopped"; rc=1; fi
    local running
    running="$(cluster_running)"
    if [[ "$running" == 3 ]] && cluster_ok; then
        say "Redis Cluster: running, 3 masters, 127.0.0.1:${CLUSTER_PORTS[0]}-${CLUSTER_PORTS[2]}, cluster_state:ok"
    elif [[ "$running" -gt 0 ]]; then
        say "Redis Cluster: $running of 3 nodes running on 127.0.0.1:${CLUSTER_PORTS[0]}-${CLUSTER_PORTS[2]}, NOT ok"; rc=1
    else say "Redis Cluster: stopped"; rc=1; fi
    return "$rc"
}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }

cmd="${1:-}"; what="${2:-all}"
[[ "$cmd" == browser ]] && { browser; exit 0; }
case "$what" in all | kafka | redis | cluster) ;; *) usage ;; esac
case "$cmd" in
start)
    if [[ "$what" == all || "$what" == kafka ]]; then kafka_start; fi
    if [[ "$what" == all || "$what" == redis ]]; then redis_start; fi
    if [[ "$what" == all || "$what" == cluster ]]; then cluster_start; fi
    ;;
stop)
    if [[ "$what" == all || "$what" == kafka ]]; then stop_one Kafka "$KPID" kafka.Kafka 60; fi
    if [[ "$what" == all || "$what" == redis ]]; then stop_one Redis "$RPID" redis-server 20; fi
    if [[ "$what" == all || "$what" == cluster ]]; then cluster_stop; fi
    ;;
status) status ;;
*) usage ;;
esac
