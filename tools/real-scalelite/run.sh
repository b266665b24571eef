#!/usr/bin/env bash
# Run the REAL Scalelite (Rails API + poller) on loopback with its own
# PostgreSQL and Redis, point omc at it (JSON API client, rake parser,
# and `api: rake` over a real SSH connection), record what each side says,
# and tear everything down.
#
#   run.sh SCALELITE_TREE OMC_BIN OUT_DIR
#
# SCALELITE_TREE  a Scalelite tree (git archive v1.6.0, v1.5.1.7, ... of its
#                 repository); it is copied, never written to
# OMC_BIN         the omc binary under test
# OUT_DIR         where the transcript (transcript.md), the captured rake
#                 outputs (rake/) and the logs (logs/) go; created
#
# Environment:
#   REDIS_NAMESPACE_DIR  a redis-namespace source tree of the version the
#                        tree's Gemfile.lock names (required: Debian's 1.9.0
#                        breaks Scalelite, see README.md)
#   OMC_SRC              an omc checkout: when set, the Go probes
#                        (shim/_realsl_test.go) run in a scratch clone of it
#   SCALELITE_LABEL      the version named in the transcript (e.g. v1.6.0)
#   PORT_BASE            first of five loopback ports (default 38080):
#                        +0 Scalelite, +1 fake BBB, +2 PostgreSQL, +3 Redis,
#                        +4 sshd (the Scalelite host for api: rake)
#   KEEP=1               keep the work folder (printed at the end)
#
# Needs Debian 12 packages: ruby ruby-rails puma ruby-pg ruby-redis
# ruby-connection-pool ruby-jwt ruby-bootsnap postgresql redis-server
# openssh-server python3 curl git (and golang for the Go probes); root for
# the api: rake part (sshd, and a private mount namespace for its `docker`
# stand-in). Everything listens on 127.0.0.1 only; only processes this
# script started are stopped, by PID.
set -u
if [ $# -ne 3 ]; then
  sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 4
fi
HERE=$(cd "$(dirname "$0")" && pwd)
SRC_TREE=$(cd "$1" && pwd) || exit 1
OMC_BIN=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
mkdir -p "$3" && OUT=$(cd "$3" && pwd) || exit 1
: "${REDIS_NAMESPACE_DIR:?set REDIS_NAMESPACE_DIR to a redis-namespace tree of the version the Scalelite tree pins (see README.md)}"
REDIS_NAMESPACE_DIR=$(cd "$REDIS_NAMESPACE_DIR" && pwd) || exit 1
BASE=${PORT_BASE:-38080}
SL_PORT=$BASE BBB_PORT=$((BASE + 1)) PG_PORT=$((BASE + 2)) REDIS_PORT=$((BASE + 3)) SSH_PORT=$((BASE + 4))

for c in ruby bundle redis-server redis-cli python3 curl git sha256sum; do
  command -v "$c" >/dev/null || { echo "missing: $c" >&2; exit 1; }
done
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "missing: PostgreSQL server (postgresql package)" >&2; exit 1; }
for p in $SL_PORT $BBB_PORT $PG_PORT $REDIS_PORT $SSH_PORT; do
  if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "port $p on 127.0.0.1 is in use; set PORT_BASE" >&2; exit 1; fi
done

WORK=$(mktemp -d -t realsl.XXXXXX)
chmod 755 "$WORK"
mkdir -p "$OUT/logs" "$OUT/rake" "$WORK/bin"
ln -s "$OMC_BIN" "$WORK/bin/omc"
export PATH="$WORK/bin:$PATH"
LOGS=$OUT/logs
T=$OUT/transcript.md
: >"$T"

# ---------------------------------------------------------------- teardown
PIDS=()
PG_STARTED=
teardown() {
  set +e
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null
  done
  sleep 1
  for pid in "${PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  done
  if [ -n "$PG_STARTED" ]; then
    pgctl stop -m fast >/dev/null 2>&1
  fi
  if [ -f "$WORK/redis/redis.pid" ]; then
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1
  fi
  if [ "${KEEP:-}" = 1 ]; then echo "work folder kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap teardown EXIT
trap 'trap - EXIT; teardown; exit 130' INT TERM

# ---------------------------------------------------------------- transcript
N=0
say() { printf '%s\n' "$*" >>"$T"; }
# rec TITLE CMD...: run CMD in the omc folder, record it, its stdout,
# stderr and exit code. The command shown is the words given.
rec() {
  local title=$1; shift
  N=$((N + 1))
  local o="$WORK/rec.out" e="$WORK/rec.err" rc
  (cd "$WORK/omc" && "$@") >"$o" 2>"$e"
  rc=$?
  {
    printf '\n#### %d. %s\n\n```\n$ %s\n' "$N" "$title" "$(printf '%s' "$*" | sed -e 's/^rake_sl /rake /' -e "s#$WORK#WORK#g")"
    sed -e "s#$WORK#WORK#g" -e "s#$OUT#OUT#g" "$o"
    if [ -s "$e" ]; then printf '[stderr]\n'; sed -e "s#$WORK#WORK#g" -e "s#$OUT#OUT#g" "$e" | tail -40; fi
    printf '[exit %d]\n```\n' "$rc"
  } >>"$T"
  printf '%d. %s: exit %d\n' "$N" "$title" "$rc" >&2
  return $rc
}

# ---------------------------------------------------------------- Scalelite env
export RAILS_ENV=production
export DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/scalelite"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export SECRET_KEY_BASE=$(head -c 48 /dev/urandom | sha256sum | cut -c1-64)$(head -c 48 /dev/urandom | sha256sum | cut -c1-64)
export LOADBALANCER_SECRET=$(head -c 32 /dev/urandom | sha256sum | cut -c1-40)
export URL_HOST=localhost
export RECORDING_DISABLED=true
export BIND="tcp://127.0.0.1:$SL_PORT"
export POLLER_THREADS=3
export REDIS_NAMESPACE_DIR
export BUNDLE_GEMFILE="$WORK/bundle/Gemfile"
export RAILS_LOG_TO_STDOUT=true # as Scalelite's image; log level: its default (debug)
unset RAILS_LOG_LEVEL
export MULTITENANCY_ENABLED=true

# rake TASK...: Scalelite's own rake, in its tree, as `docker exec
# scalelite-api bundle exec rake` runs it (its image sets
# RAILS_LOG_TO_STDOUT=true; log level info here).
rake_sl() { (cd "$WORK/scalelite" && env ${CAPENV:-} bundle exec rake "$@"); }
# capture NAME TASK: save the task's stdout, stderr and exit code in
# OUT/rake/NAME.{out,err,rc} for the parser probes.
capture() {
  local name=$1; shift
  rake_sl "$@" >"$OUT/rake/$name.out" 2>"$OUT/rake/$name.err"
  echo $? >"$OUT/rake/$name.rc"
  {
    printf '\n#### rake capture %s\n\n```\n$ rake %s\n' "$name" "$*"
    cat "$OUT/rake/$name.out"
    if [ -s "$OUT/rake/$name.err" ]; then printf '[stderr]\n'; sed -e "s#$WORK#WORK#g" "$OUT/rake/$name.err" | head -8; fi
    printf '[exit %s]\n```\n' "$(cat "$OUT/rake/$name.rc")"
  } >>"$T"
}
pgctl() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" "$@"; else "$PGBIN/pg_ctl" -D "$WORK/pg/data" "$@"; fi
}
wait_port() {
  local i
  for i in $(seq 1 "${2:-60}"); do
    (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
    sleep 1
  done
  return 1
}
start_api() { # start_api LOGNAME [ENV=VALUE...]
  local log=$1; shift
  (cd "$WORK/scalelite" && exec env "$@" bundle exec puma -C config/puma.rb) >"$LOGS/$log.log" 2>&1 &
  API_PID=$!
  PIDS+=("$API_PID")
  wait_port "$SL_PORT" 60 || { echo "Scalelite did not start: $LOGS/$log.log" >&2; exit 1; }
}
stop_api() {
  kill "$API_PID"
  local i
  for i in $(seq 1 20); do kill -0 "$API_PID" 2>/dev/null || break; sleep 0.5; done
}
start_poller() {
  (cd "$WORK/scalelite" && exec bundle exec rake 'poll[2]') >"$LOGS/poller.log" 2>&1 &
  POLLER_PID=$!
  PIDS+=("$POLLER_PID")
}
flush() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" flushall >/dev/null; }
# bbb_state NODE KEY JSON: change one field of a fake BBB node.
bbb_state() {
  python3 - "$WORK/bbb-state.json" "$1" "$2" "$3" <<'EOF'
import json, os, sys
p, node, key, val = sys.argv[1:]
st = json.load(open(p))
st["nodes"][node][key] = json.loads(val)
json.dump(st, open(p + ".tmp", "w"), indent=1)
os.replace(p + ".tmp", p)
EOF
}
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
# via_tenant TENANT SECRET: Scalelite's BBB API getMeetings as the tenant
# (host TENANT.localhost), signed with SECRET; prints returncode/messageKey.
via_tenant() {
  curl -s -H "Host: $1.localhost:$SL_PORT" "http://127.0.0.1:$SL_PORT/bigbluebutton/api/getMeetings?checksum=$(sha "getMeetings$2")" |
    grep -o -E '<(returncode|messageKey|message)>[^<]*' | tr '\n' ' '
  echo
}
# api ACTION QUERY [JSON]: one signed management call with curl.
api() {
  local q=$2 sum
  sum=$(sha "$1$q$LOADBALANCER_SECRET")
  [ -n "$q" ] && q="$q&"
  if [ $# -ge 3 ]; then
    curl -s -w '\n[HTTP %{http_code} %{content_type}]' -X POST -H 'Content-Type: application/json' "http://localhost:$SL_PORT/scalelite/api/$1?${q}checksum=$sum" -d "$3"
  else
    curl -s -w '\n[HTTP %{http_code} %{content_type}]' "http://localhost:$SL_PORT/scalelite/api/$1?${q}checksum=$sum"
  fi
  echo
}

# ================================================================ setup
echo "setting up in $WORK" >&2
cp -r "$SRC_TREE" "$WORK/scalelite"
# What this version has (read from its tree, never assumed from a label).
HAS_API= HAS_TAG= HAS_TENANT_UPDATE=
grep -q "scalelite/api" "$WORK/scalelite/config/routes.rb" && HAS_API=1 # first in v1.5.1
grep -q "task :tag" "$WORK/scalelite/lib/tasks/servers.rake" && HAS_TAG=1 # first in v1.6.0
grep -q "task :update" "$WORK/scalelite/lib/tasks/tenants.rake" 2>/dev/null && HAS_TENANT_UPDATE=1 # first in v1.5.1
RN_PIN=$(sed -n 's/^    redis-namespace (\(.*\))$/\1/p' "$WORK/scalelite/Gemfile.lock" 2>/dev/null)
yn() { if [ -n "$1" ]; then echo yes; else echo no; fi; }
mkdir -p "$WORK/bundle" && cp -r "$HERE/shim/Gemfile" "$HERE/shim/tabulo" "$WORK/bundle/"
(cd "$WORK/bundle" && bundle install --local) >"$LOGS/bundle.log" 2>&1 || { echo "bundle install --local failed: $LOGS/bundle.log" >&2; exit 1; }

mkdir -p "$WORK/pg" "$WORK/redis"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$WORK/pg"
if [ "$(id -u)" = 0 ]; then
  runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg/data" -A trust -U postgres >"$LOGS/initdb.log" 2>&1
else
  "$PGBIN/initdb" -D "$WORK/pg/data" -A trust -U postgres >"$LOGS/initdb.log" 2>&1
fi || { echo "initdb failed: $LOGS/initdb.log" >&2; exit 1; }
pgctl -l "$WORK/pg/pg.log" -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $WORK/pg" -w start >/dev/null || { echo "PostgreSQL did not start" >&2; exit 1; }
PG_STARTED=1
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK/redis" \
  --daemonize yes --pidfile "$WORK/redis/redis.pid" --logfile "$LOGS/redis.log"
wait_port "$REDIS_PORT" 10 || { echo "Redis did not start" >&2; exit 1; }

# The database as Scalelite's bin/start does it for a new database.
(cd "$WORK/scalelite" && bundle exec rake db:create && bundle exec rake db:schema:load) >"$LOGS/db.log" 2>&1 || { echo "db setup failed: $LOGS/db.log" >&2; exit 1; }

cat >"$WORK/bbb-state.json" <<EOF
{"nodes": {
 "bbb-1": {"secret": "s1-$(sha 1 | cut -c1-30)", "version": "3.0.4", "reveal": true, "meetings": []},
 "bbb-2": {"secret": "s2-$(sha 2 | cut -c1-30)", "version": "3.0.4", "reveal": false, "meetings": []},
 "bbb-3": {"secret": "s3-$(sha 3 | cut -c1-30)", "version": "3.0.4", "reveal": false, "meetings": []},
 "rake-node": {"secret": "rakesecret2", "version": "3.0.4", "reveal": true, "meetings": []},
 "api-node": {"secret": "apisecret2", "version": "3.0.4", "reveal": true, "meetings": []}
}}
EOF
python3 "$HERE/shim/fakebbb.py" --port "$BBB_PORT" --state "$WORK/bbb-state.json" >"$LOGS/fakebbb.log" 2>&1 &
PIDS+=("$!")
wait_port "$BBB_PORT" 10 || { echo "fake BBB did not start" >&2; exit 1; }

start_api puma MULTITENANCY_ENABLED=true
start_poller

# ---------------------------------------------------------------- the host over SSH
# A real sshd on 127.0.0.1 with a throwaway host key and user key. It is
# the Scalelite host of api: rake (part 4): its sessions find shim/docker
# first on their PATH. It is also bbb-2's SSH, where omc's health gate
# reads the installed release when the BBB API root hides it: its sessions
# see /etc/bigbluebutton/bigbluebutton-release (BIGBLUEBUTTON_RELEASE=3.0.4)
# through an overlay. Both exist only in sshd's own mount namespace. omc
# reaches it as it reaches a real host: the inventory names the node, omc
# dials it, checks its host key against omc's known_hosts (written here
# beforehand, so nothing is trusted on first use), and runs its scripts.
HOSTD=$WORK/ssh
# host_env FILE [MULTITENANCY]: the container's environment, as the image
# (ENV RAILS_ENV=production RAILS_LOG_TO_STDOUT=true) and its env file give it.
host_env() {
  {
    for v in RAILS_ENV RAILS_LOG_TO_STDOUT DATABASE_URL REDIS_URL SECRET_KEY_BASE LOADBALANCER_SECRET URL_HOST RECORDING_DISABLED BUNDLE_GEMFILE REDIS_NAMESPACE_DIR; do
      printf "%s='%s'\n" "$v" "${!v}"
    done
    printf "PATH='/usr/local/bin:/usr/bin:/bin'\nHOME='%s'\n" "$HOSTD/home"
    [ "${2:-on}" = on ] && printf "MULTITENANCY_ENABLED='true'\n"
  } >"$1"
}
start_sshd() {
  mkdir -p "$HOSTD/bin" "$HOSTD/home" "$HOSTD/etc/bigbluebutton" && chmod 700 "$HOSTD"
  echo BIGBLUEBUTTON_RELEASE=3.0.4 >"$HOSTD/etc/bigbluebutton/bigbluebutton-release"
  ssh-keygen -q -t ed25519 -N '' -C realsl-host -f "$HOSTD/host_ed25519" &&
    ssh-keygen -q -t ed25519 -N '' -C realsl-omc -f "$HOSTD/id_ed25519" &&
    ssh-keygen -q -t ed25519 -N '' -C realsl-other-host -f "$HOSTD/other_ed25519" || return 1
  cp "$HOSTD/id_ed25519.pub" "$HOSTD/authorized_keys"
  host_env "$HOSTD/scalelite.env" on
  printf "TREE='%s'\nENV_FILE='%s'\nCONTAINER=scalelite-api\nCALLS='%s'\n" "$WORK/scalelite" "$HOSTD/scalelite.env" "$HOSTD/docker-calls.log" >"$HOSTD/docker.conf"
  sed "s#@CONF@#$HOSTD/docker.conf#" "$HERE/shim/docker" >"$HOSTD/bin/docker" && chmod 755 "$HOSTD/bin/docker"
  : >"$HOSTD/docker-calls.log"
  cat >"$HOSTD/sshd_config" <<EOF
ListenAddress 127.0.0.1:$SSH_PORT
HostKey $HOSTD/host_ed25519
AuthorizedKeysFile $HOSTD/authorized_keys
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
LogLevel VERBOSE
SetEnv SHLVL=1
EOF
  mkdir -p /run/sshd # sshd's privilege separation directory
  # unshare execs sh, which execs sshd: the PID is sshd's.
  unshare --mount --propagation private sh -c 'mount --bind "$1" /usr/local/sbin &&
    mount -t overlay overlay -o lowerdir="$3":/etc /etc && exec /usr/sbin/sshd -D -e -f "$2"' \
    sh "$HOSTD/bin" "$HOSTD/sshd_config" "$HOSTD/etc" >"$LOGS/sshd.log" 2>&1 &
  PIDS+=("$!")
  wait_port "$SSH_PORT" 10
}
HAS_SSHD=
if [ "$(id -u)" = 0 ] && [ -x /usr/sbin/sshd ] && [ -d /usr/local/sbin ]; then
  if start_sshd; then HAS_SSHD=1; else echo "sshd did not start: $LOGS/sshd.log" >&2; fi
fi

# omc's side: an inventory with one static group whose pool is this
# Scalelite; the nodes' BBB API is the fake one.
mkdir -p "$WORK/omc"
secret_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodes"][sys.argv[2]]["secret"])' "$WORK/bbb-state.json" "$1"; }
if command -v go >/dev/null; then # keep Go's caches where they are: HOME changes below
  export GOPATH=$(go env GOPATH) GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE)
fi
export OMC_SCALELITE_SECRET=$LOADBALANCER_SECRET
export OMC_BBB_SEED=$(sha seed)
export OMC_BBB1_SECRET=$(secret_of bbb-1) OMC_BBB2_SECRET=$(secret_of bbb-2) OMC_BBB3_SECRET=$(secret_of bbb-3)
export XDG_STATE_HOME=$WORK/omc/state XDG_CACHE_HOME=$WORK/omc/cache XDG_CONFIG_HOME=$WORK/omc/config HOME=$WORK/omc/home
export CI=true NO_COLOR=1
mkdir -p "$HOME"
if [ -n "$HAS_SSHD" ]; then
  mkdir -p "$XDG_STATE_HOME/omc" "$WORK/omc/state-wrongkey/omc"
  printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$HOSTD/host_ed25519.pub")" >"$XDG_STATE_HOME/omc/known_hosts"
  printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$HOSTD/other_ed25519.pub")" >"$WORK/omc/state-wrongkey/omc/known_hosts"
fi
# bbb2_ssh: bbb-2's SSH settings (the sshd above), when there is one.
bbb2_ssh() { [ -n "$HAS_SSHD" ] && printf '        ssh: {port: %s, user: %s, key: %s}\n' "$SSH_PORT" "$(id -un)" "$HOSTD/id_ed25519"; }
write_inventory() { # write_inventory FILE SCALELITE_URL
  cat >"$WORK/omc/$1" <<EOF
apiVersion: omc/v1
name: realsl
secrets:
  bbb_seed: env:OMC_BBB_SEED
  bbb1: env:OMC_BBB1_SECRET
  bbb2: env:OMC_BBB2_SECRET
  bbb3: env:OMC_BBB3_SECRET
groups:
  pool1:
    provider: static
    roles: [bbb]
    pool:
      url: $2
      secret: env:OMC_SCALELITE_SECRET
      api: scalelite/api
      bbb_url: http://127.0.0.1:$BBB_PORT/{name}/bigbluebutton/api
      checks: []
      tag: eu
      tenant_secrets: tenants
    nodes:
      - name: bbb-1            # reveals bbbVersion 3.0.4
        address: 127.0.0.1
        domain: bbb-1.localhost
        settings: {api_secret: bbb1, bbb_version: "3.0"}
      - name: bbb-2            # hides bbbVersion (BBB's default); its release is read over SSH
        address: 127.0.0.1
        domain: bbb-2.localhost
        settings: {api_secret: bbb2, bbb_version: "3.0"}
$(bbb2_ssh)
      - name: bbb-3            # hides bbbVersion, no bbb_version set
        address: 127.0.0.1
        domain: bbb-3.localhost
        settings: {api_secret: bbb3}
EOF
}
write_inventory omc.yaml "http://localhost:$SL_PORT"
write_inventory omc-by-ip.yaml "http://127.0.0.1:$SL_PORT"

{
  say "# Real Scalelite vs omc: transcript"
  say ""
  say "Scalelite: ${SCALELITE_LABEL:-the tree given (label it with SCALELITE_LABEL=v1.6.0)}"
  [ -n "${OMC_SRC:-}" ] && say "omc source (Go probes; build OMC_BIN from the same commit): $(git -C "$OMC_SRC" log -1 --format='%h %cs %s')"
  say "ruby $(ruby -e 'print RUBY_VERSION'), rails $(cd "$WORK/scalelite" && bundle exec ruby -e 'require "rails"; print Rails.version'), puma $(cd "$WORK/scalelite" && bundle exec ruby -e 'require "puma"; print Puma::Const::PUMA_VERSION'), redis-namespace $(cd "$WORK/scalelite" && bundle exec ruby -e 'require "redis/namespace"; print Redis::Namespace::VERSION'), PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), $(redis-server --version | awk '{print $1, $3}'), $(omc version)"
  say "redis-namespace pinned by the tree's Gemfile.lock: ${RN_PIN:-unknown}; used: $(cd "$WORK/scalelite" && bundle exec ruby -e 'require "redis/namespace"; print Redis::Namespace::VERSION')"
  say "This tree has: JSON API (scalelite/api) $(yn "$HAS_API"), server tags (servers:tag, tag in listings) $(yn "$HAS_TAG"), tenants:update $(yn "$HAS_TENANT_UPDATE")"
  say "RAILS_ENV=production, MULTITENANCY_ENABLED=true, URL_HOST=localhost, poller: rake poll[2]"
  say "Ports: Scalelite $SL_PORT, fake BBB $BBB_PORT, PostgreSQL $PG_PORT, Redis $REDIS_PORT, sshd $SSH_PORT (127.0.0.1)"
  say ""
  say "The omc commands run in the folder holding omc.yaml (the inventory above, written by run.sh);"
  say "\`rake X\` is Scalelite's \`bundle exec rake X\` in its tree, as \`docker exec scalelite-api bundle exec rake X\` runs it."
}

# ================================================================ 1. rake captures
say ""
say "## 1. Real rake output, captured for omc's rake parser"
RN=http://127.0.0.1:$BBB_PORT/rake-node/bigbluebutton/api
capture tasks -T
capture servers-list-empty servers
capture servers-add "servers:add[$RN,rakesecret1,1.5,rk]"
capture servers-add-notag "servers:add[http://127.0.0.1:$BBB_PORT/api-node/bigbluebutton/api,apisecret1]"
RID=$(sed -n 's/^id: //p' "$OUT/rake/servers-add.out" | tail -1)
capture servers-enable "servers:enable[$RID]"
capture servers-list-after-add servers
RAILS_LOG_TO_STDOUT= capture servers-list-nolog servers
capture servers-add-dup "servers:add[$RN,rakesecret1,1.5,rk]"
capture servers-list-dup servers
capture servers-enable-unknown "servers:enable[nope]"
capture servers-remove-unknown "servers:remove[nope]"
capture servers-add-bad-url "servers:add[ftp://x,y]"
capture status-tabulo-standin status
capture tenants-list-empty tenants
capture tenants-add "tenants:add[tenant-a,sa1:sa2]"
capture tenants-add-dup "tenants:add[tenant-a,sa3]"
capture tenants-list-after-add tenants
capture tenants-update-unknown "tenants:update[nope,,x]"
capture tenants-remove-unknown "tenants:remove[nope]"
CAPENV="-u MULTITENANCY_ENABLED" capture tenants-list-mt-unset tenants
CAPENV="MULTITENANCY_ENABLED=false" capture tenants-list-mt-false tenants
flush

# ================================================================ 2. omc JSON API
say ""
say "## 2. omc's JSON API client against the real Scalelite"
if [ -z "$HAS_API" ]; then
  say ""
  say "Skipped: this Scalelite has no JSON API (its config/routes.rb has no scalelite/api scope; first in v1.5.1)."
  say ""
  say "## 3. Error behaviour"
  say ""
  say "Skipped with section 2."
else
rec "status, empty pool" omc status -i omc.yaml
rec "Scalelite's view" rake_sl servers
rec "validate" omc validate -i omc.yaml
rec "up pool1 (bbb-3 has no bbb_version)" timeout 120 omc up pool1 -i omc.yaml
rec "up bbb-1 (static node, no sshd on 127.0.0.1:22: the converge fails)" timeout 120 omc up bbb-1 -i omc.yaml
rec "Scalelite's view after up" rake_sl servers
rec "enable bbb-1 (reveals 3.0.4; expects 3.0): registers it" omc enable bbb-1 -i omc.yaml
rec "enable bbb-2 (hides bbbVersion; expects 3.0; its release read over SSH)" omc enable bbb-2 -i omc.yaml
rec "enable bbb-3 (hides bbbVersion; no bbb_version set)" omc enable bbb-3 -i omc.yaml
rec "Scalelite's view" rake_sl servers
sleep 5
rec "status after the poller ran" omc status -i omc.yaml
rec "status -o json" omc status -i omc.yaml -o json
rec "Scalelite's view" rake_sl servers
rec "Scalelite's rake status (tabulo stand-in)" rake_sl status

say ""
say "### drain: a meeting (3 participants, 1 moderator) on bbb-1"
bbb_state bbb-1 meetings '[{"id": "m1", "participants": 3, "moderators": 1}]'
sleep 5
rec "Scalelite's view with the meeting" rake_sl servers
rec "Scalelite's rake status with the meeting" rake_sl status
capture servers-list-loaded servers
rec "omc status with the meeting" omc status -i omc.yaml
rec "drain bbb-1 --timeout 15s (the meeting goes on)" omc drain bbb-1 --timeout 15s -i omc.yaml
capture servers-list-cordoned servers
rec "Scalelite's view" rake_sl servers
rec "status while cordoned" omc status -i omc.yaml
(sleep 6; bbb_state bbb-1 meetings '[]') &
rec "drain bbb-1 --timeout 90s (the meeting ends after about 6 s)" omc drain bbb-1 --timeout 90s -i omc.yaml
rec "Scalelite's view" rake_sl servers
rec "enable bbb-3 (already enabled: nothing to do)" omc enable bbb-3 -i omc.yaml
rec "enable bbb-1" omc enable bbb-1 -i omc.yaml
rec "Scalelite's view" rake_sl servers
bbb_state bbb-3 meetings '[{"id": "m3", "participants": 2, "moderators": 1}]'
sleep 5
rec "drain bbb-3 --force --timeout 0 (panic at once)" omc drain bbb-3 --force --yes --timeout 0s -i omc.yaml
rec "Scalelite's view" rake_sl servers
rec "the meeting on bbb-3's BBB after the panic (fake BBB state)" python3 -c "import json; print(json.load(open('$WORK/bbb-state.json'))['nodes']['bbb-3']['meetings'])"
bbb_state bbb-3 meetings '[]'
sleep 3
rec "remove bbb-3" omc remove bbb-3 --yes -i omc.yaml
rec "Scalelite's view" rake_sl servers
rec "status after remove" omc status -i omc.yaml

say ""
say "### tenants"
rec "tenant list, none" omc tenant list -i omc.yaml
rec "tenant add school-a" omc tenant add school-a -i omc.yaml
rec "tenant list" omc tenant list -i omc.yaml
rec "Scalelite's view" rake_sl tenants
SA1=$(cat "$WORK/omc/tenants/school-a.secret" 2>/dev/null)
rec "school-a's secret works on Scalelite's BBB API (host school-a.localhost)" via_tenant school-a "$SA1"
rec "tenant rotate school-a --keep-old" omc tenant rotate school-a --keep-old --yes -i omc.yaml
SA2=$(cat "$WORK/omc/tenants/school-a.secret" 2>/dev/null)
rec "Scalelite's view" rake_sl tenants
rec "old secret still valid" via_tenant school-a "$SA1"
rec "new secret valid" via_tenant school-a "$SA2"
rec "tenant rotate school-a" omc tenant rotate school-a --yes -i omc.yaml
SA3=$(cat "$WORK/omc/tenants/school-a.secret" 2>/dev/null)
rec "Scalelite's view" rake_sl tenants
rec "previous secret refused" via_tenant school-a "$SA2"
rec "newest secret valid" via_tenant school-a "$SA3"
rec "tenant disable school-a --yes" omc tenant disable school-a --yes -i omc.yaml
rec "Scalelite's view" rake_sl tenants
rec "last secret refused" via_tenant school-a "$SA3"
rec "tenant list -o json" omc tenant list -i omc.yaml -o json

say ""
say "### tenant name collision"
rec "tenant add school-b" omc tenant add school-b -i omc.yaml
SB1=$(cat "$WORK/omc/tenants/school-b.secret" 2>/dev/null)
rec "tenant add school-b again" omc tenant add school-b -i omc.yaml
SB2=$(cat "$WORK/omc/tenants/school-b.secret" 2>/dev/null)
rec "Scalelite's view" rake_sl tenants
rec "tenant list" omc tenant list -i omc.yaml
rec "first school-b secret" via_tenant school-b "$SB1"
rec "second school-b secret" via_tenant school-b "$SB2"
rec "tenant rotate school-b" omc tenant rotate school-b --yes -i omc.yaml
SB3=$(cat "$WORK/omc/tenants/school-b.secret" 2>/dev/null)
rec "Scalelite's view" rake_sl tenants
rec "rotated school-b secret (the one omc stored)" via_tenant school-b "$SB3"
rec "second school-b secret after the rotate" via_tenant school-b "$SB2"

# ================================================================ 3. errors
say ""
say "## 3. Error behaviour"
rec "wrong secret: status" env OMC_SCALELITE_SECRET=not-the-secret omc status -i omc.yaml
rec "wrong secret: enable bbb-1" env OMC_SCALELITE_SECRET=not-the-secret omc enable bbb-1 -i omc.yaml
rec "wrong secret: tenant list" env OMC_SCALELITE_SECRET=not-the-secret omc tenant list -i omc.yaml
rec "wrong secret (curl getServers)" curl -s -w '\n[HTTP %{http_code} %{content_type}]\n' "http://localhost:$SL_PORT/scalelite/api/getServers?checksum=$(sha getServersnot-the-secret)"
rec "Scalelite by IP while URL_HOST=localhost: status" omc status -i omc-by-ip.yaml
rec "getServers (curl)" api getServers ''
rec "getTenants (curl)" api getTenants ''
rec "addTenant (curl)" api addTenant '' '{"tenant":{"name":"curl-t","secrets":"c1:c2"}}'
rec "unknown server id (curl getServerInfo)" api getServerInfo id=nope
rec "unknown server id (curl updateServer)" api updateServer '' '{"id":"nope","server":{"state":"enable"}}'
rec "unknown tenant id (curl deleteTenant)" api deleteTenant '' '{"id":"nope"}'
B1URL=http://127.0.0.1:$BBB_PORT/bbb-1/bigbluebutton/api
rec "same URL added again behind omc's back (curl addServer)" api addServer '' "{\"server\":{\"url\":\"$B1URL\",\"secret\":\"$OMC_BBB1_SECRET\"}}"
rec "Scalelite's view" rake_sl servers
rec "status with a duplicate" omc status -i omc.yaml
rec "drain bbb-1 with a duplicate" omc drain bbb-1 --timeout 5s -i omc.yaml
rec "enable bbb-1 with a duplicate" omc enable bbb-1 -i omc.yaml
rec "Scalelite's view" rake_sl servers
rec "URL differing only by a trailing slash (curl addServer)" api addServer '' "{\"server\":{\"url\":\"$B1URL/\",\"secret\":\"$OMC_BBB1_SECRET\"}}"
rec "enable bbb-1" omc enable bbb-1 -i omc.yaml
rec "Scalelite's view" rake_sl servers
fi # HAS_API

# ================================================================ 4. api: rake over SSH
write_rake_inventory() { # write_rake_inventory FILE [CONTAINER]
  cat >"$WORK/omc/$1" <<EOF
apiVersion: omc/v1
name: realsl-rake
secrets:
  bbb_seed: env:OMC_BBB_SEED
  bbb1: env:OMC_BBB1_SECRET
  bbb2: env:OMC_BBB2_SECRET
  bbb3: env:OMC_BBB3_SECRET
groups:
  lb:
    provider: static
    roles: [scalelite]
    nodes:
      - name: scalelite-1      # the sshd above; its host key is in omc's known_hosts
        address: 127.0.0.1
        domain: scalelite.localhost
        ssh: {port: $SSH_PORT, user: $(id -un), key: $HOSTD/id_ed25519}
  pool1:
    provider: static
    roles: [bbb]
    pool:
      url: http://localhost:$SL_PORT
      secret: env:OMC_SCALELITE_SECRET
      api: rake
      host: scalelite-1${2:+
      container: $2}
      bbb_url: http://127.0.0.1:$BBB_PORT/{name}/bigbluebutton/api
      checks: []
      tag: eu
      tenant_secrets: tenants-rake
    nodes:
      - name: bbb-1            # reveals bbbVersion 3.0.4
        address: 127.0.0.1
        domain: bbb-1.localhost
        settings: {api_secret: bbb1, bbb_version: "3.0"}
      - name: bbb-2            # hides bbbVersion (BBB's default); its release is read over SSH
        address: 127.0.0.1
        domain: bbb-2.localhost
        settings: {api_secret: bbb2, bbb_version: "3.0"}
$(bbb2_ssh)
      - name: bbb-3            # hides bbbVersion, no bbb_version set
        address: 127.0.0.1
        domain: bbb-3.localhost
        settings: {api_secret: bbb3}
EOF
}
# host_calls FROM: the docker calls the host received since line FROM.
host_calls() { tail -n +"$(($1 + 1))" "$HOSTD/docker-calls.log"; }
ncalls() { wc -l <"$HOSTD/docker-calls.log"; }
# rrec TITLE CMD...: rec, then the docker calls the command made on the host.
rrec() {
  local from rc
  from=$(ncalls)
  rec "$@"
  rc=$?
  if [ "$(ncalls)" -gt "$from" ]; then
    { printf '\nOn the Scalelite host (docker stand-in, argv per call):\n```\n'; host_calls "$from" | sed -e 's/^/docker /'; printf '```\n'; } >>"$T"
  fi
  return $rc
}

say ""
say "## 4. omc's api: rake over a real SSH connection"
if [ -z "$HAS_SSHD" ]; then
  say ""
  say "Skipped: needs root, /usr/sbin/sshd (openssh-server) and /usr/local/sbin (the stand-in's mount point), and sshd starting (logs/sshd.log)."
else
  flush
  write_rake_inventory omc-rake.yaml
  write_rake_inventory omc-rake-nocontainer.yaml scalelite-nope
  say ""
  say "Scalelite's Redis emptied first. The inventory is omc-rake.yaml: group pool1 with \`api: rake\`, \`host: scalelite-1\`,"
  say "the default container (scalelite-api); scalelite-1 is the sshd on 127.0.0.1:$SSH_PORT (user $(id -un), a throwaway key),"
  say "whose host key run.sh put in omc's known_hosts ($(omc known-hosts path | sed "s#$WORK#WORK#")) beforehand."
  say "Each omc command below is followed by the \`docker\` calls the host received (the stand-in's log)."
  rec "validate" omc validate -i omc-rake.yaml
  rrec "status, empty pool" omc status -i omc-rake.yaml
  rrec "enable bbb-1 (reveals 3.0.4; expects 3.0): registers it" omc enable bbb-1 -i omc-rake.yaml
  rrec "enable bbb-2 (hides bbbVersion; expects 3.0; its release read over SSH)" omc enable bbb-2 -i omc-rake.yaml
  rrec "enable bbb-3 (hides bbbVersion; no bbb_version set)" omc enable bbb-3 -i omc-rake.yaml
  rec "Scalelite's view" rake_sl servers
  sleep 5
  rrec "status after the poller ran" omc status -i omc-rake.yaml
  rec "Scalelite's view" rake_sl servers

  say ""
  say "### drain over rake: a meeting (3 participants, 1 moderator) on bbb-1"
  bbb_state bbb-1 meetings '[{"id": "m1", "participants": 3, "moderators": 1}]'
  sleep 5
  rrec "status with the meeting" omc status -i omc-rake.yaml
  rrec "drain bbb-1 --timeout 15s (the meeting goes on)" omc drain bbb-1 --timeout 15s -i omc-rake.yaml
  rec "Scalelite's view" rake_sl servers
  (sleep 6; bbb_state bbb-1 meetings '[]') &
  rrec "drain bbb-1 --timeout 90s (the meeting ends after about 6 s)" omc drain bbb-1 --timeout 90s -i omc-rake.yaml
  rec "Scalelite's view" rake_sl servers
  rrec "enable bbb-1" omc enable bbb-1 -i omc-rake.yaml
  rec "Scalelite's view" rake_sl servers
  bbb_state bbb-3 meetings '[{"id": "m3", "participants": 2, "moderators": 1}]'
  sleep 5
  rrec "drain bbb-3 --force --timeout 0 (panic at once)" omc drain bbb-3 --force --yes --timeout 0s -i omc-rake.yaml
  rec "Scalelite's view" rake_sl servers
  bbb_state bbb-3 meetings '[]'
  sleep 3
  rrec "remove bbb-3" omc remove bbb-3 --yes -i omc-rake.yaml
  rec "Scalelite's view" rake_sl servers
  rrec "status after remove" omc status -i omc-rake.yaml

  say ""
  say "### tenants over rake"
  rrec "tenant list, none" omc tenant list -i omc-rake.yaml
  rrec "tenant add school-r" omc tenant add school-r -i omc-rake.yaml
  rrec "tenant list" omc tenant list -i omc-rake.yaml
  rec "Scalelite's view" rake_sl tenants
  SR1=$(cat "$WORK/omc/tenants-rake/school-r.secret" 2>/dev/null)
  rec "school-r's secret works on Scalelite's BBB API (host school-r.localhost)" via_tenant school-r "$SR1"
  rrec "tenant rotate school-r --keep-old" omc tenant rotate school-r --keep-old --yes -i omc-rake.yaml
  SR2=$(cat "$WORK/omc/tenants-rake/school-r.secret" 2>/dev/null)
  rec "Scalelite's view" rake_sl tenants
  rec "old secret still valid" via_tenant school-r "$SR1"
  rec "new secret valid" via_tenant school-r "$SR2"
  rrec "tenant rotate school-r" omc tenant rotate school-r --yes -i omc-rake.yaml
  SR3=$(cat "$WORK/omc/tenants-rake/school-r.secret" 2>/dev/null)
  rec "Scalelite's view" rake_sl tenants
  rec "previous secret refused" via_tenant school-r "$SR2"
  rec "newest secret valid" via_tenant school-r "$SR3"
  rrec "tenant disable school-r --yes" omc tenant disable school-r --yes -i omc-rake.yaml
  rec "Scalelite's view" rake_sl tenants
  rec "last secret refused" via_tenant school-r "$SR3"
  rrec "tenant add school-r again" omc tenant add school-r -i omc-rake.yaml
  rec "Scalelite's view" rake_sl tenants
  rrec "tenant list -o json" omc tenant list -i omc-rake.yaml -o json

  say ""
  say "### errors over rake"
  rrec "host key not the one in known_hosts: status" env XDG_STATE_HOME="$WORK/omc/state-wrongkey" omc status -i omc-rake.yaml
  rrec "container not there (container: scalelite-nope): status" omc status -i omc-rake-nocontainer.yaml
  say ""
  say "sshd accepted $(grep -c 'Accepted publickey' "$LOGS/sshd.log") logins in this section (logs/sshd.log); the host ran $(ncalls) docker calls (logs/docker-calls.log)."
fi

# ================================================================ 5. Go probes (multitenancy on)
if [ -n "${OMC_SRC:-}" ]; then
  say ""
  say "## 5. Go probes in a scratch clone (pool/scalelite/realsl_test.go, -tags realscalelite)"
  git clone -q "$OMC_SRC" "$WORK/omc-src" && cp "$HERE/shim/_realsl_test.go" "$WORK/omc-src/pool/scalelite/realsl_test.go"
  flush
  export REALSL_URL=http://localhost:$SL_PORT REALSL_SECRET=$LOADBALANCER_SECRET REALSL_RAKE_DIR=$WORK/scalelite
  REALSL_NO_TAGS=1
  [ -n "$HAS_TAG" ] && REALSL_NO_TAGS=
  export REALSL_CAPTURED=$OUT/rake REALSL_BBB=http://127.0.0.1:$BBB_PORT REALSL_NO_TAGS
  (cd "$WORK/omc-src" && go test -count=1 -tags realscalelite -run "TestRealRakeCaptured|TestRealRakeLive${HAS_API:+|TestRealClient}" -v ./pool/scalelite/) >"$OUT/go-probes.txt" 2>&1
  echo "go probes (multitenancy on): exit $?" >&2
  {
    printf '\n```\n'
    grep -E '^(=== RUN|--- |\s+realsl_test.go:[0-9]+: |ok|FAIL|PASS)' "$OUT/go-probes.txt" | grep -v -E 'realsl_test.go:[0-9]+: RAKE ' | sed -e "s#$WORK#WORK#g" | cut -c1-600
    printf '```\n(full output: go-probes.txt)\n'
  } >>"$T"
fi

# ================================================================ 6. multitenancy off
say ""
say "## 6. Multitenancy off (Scalelite restarted without MULTITENANCY_ENABLED)"
stop_api
if [ -n "$HAS_API" ]; then
  rec "status while Scalelite is stopped" omc status -i omc.yaml
  rec "enable bbb-1 while Scalelite is stopped" omc enable bbb-1 -i omc.yaml
fi
start_api puma-mt-off -u MULTITENANCY_ENABLED
[ -f "$HOSTD/scalelite.env" ] && host_env "$HOSTD/scalelite.env" off # the container restarted without it
if [ -n "$HAS_API" ]; then
  rec "enable bbb-1 (the Go probes emptied Redis)" omc enable bbb-1 -i omc.yaml
  sleep 4
  rec "tenant list" omc tenant list -i omc.yaml
  rec "getTenants (curl)" api getTenants ''
  rec "tenant add school-c" omc tenant add school-c -i omc.yaml
  rec "status still works" omc status -i omc.yaml
fi
CAPENV="-u MULTITENANCY_ENABLED" rec "rake tenants, MULTITENANCY_ENABLED unset" rake_sl tenants
CAPENV="MULTITENANCY_ENABLED=false" rec "rake tenants, MULTITENANCY_ENABLED=false" rake_sl tenants
if [ -f "$HOSTD/scalelite.env" ]; then
  rrec "api: rake: tenant list (the host's container without MULTITENANCY_ENABLED)" omc tenant list -i omc-rake.yaml
  rrec "api: rake: tenant add school-d" omc tenant add school-d -i omc-rake.yaml
  rrec "api: rake: status still works" omc status -i omc-rake.yaml
fi
if [ -n "${OMC_SRC:-}" ] && [ -n "$HAS_API" ]; then
  (cd "$WORK/omc-src" && REALSL_MT_OFF=1 go test -count=1 -tags realscalelite -run 'TestRealClient' -v ./pool/scalelite/) >"$OUT/go-probes-mt-off.txt" 2>&1
  echo "go probes (multitenancy off): exit $?" >&2
  {
    printf '\n```\n'
    grep -E '^(=== RUN|--- |\s+realsl_test.go:[0-9]+: |ok|FAIL|PASS)' "$OUT/go-probes-mt-off.txt" | sed -e "s#$WORK#WORK#g" | cut -c1-600
    printf '```\n(full output: go-probes-mt-off.txt)\n'
  } >>"$T"
fi

[ -f "$HOSTD/docker-calls.log" ] && cp "$HOSTD/docker-calls.log" "$LOGS/docker-calls.log"
cp "$WORK/bbb-state.json" "$OUT/logs/bbb-state-final.json"
for f in "$LOGS"/*.log "$OUT"/rake/*.err "$OUT"/go-probes*.txt; do [ -f "$f" ] && sed -i -e "s#$REDIS_NAMESPACE_DIR#REDIS_NAMESPACE_DIR#g" -e "s#$WORK#WORK#g" -e "s#$OUT#OUT#g" "$f"; done
echo "transcript: $T" >&2
