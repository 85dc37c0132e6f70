#!/usr/bin/env bash
# Writes a Docker Compose file for the lottery: the central `server` and the
# agencies `client1`..`clientN`.
#
#   ./generate-compose.sh OUT N [--centrals K] [--tls DIR]
#        e.g.  ./generate-compose.sh docker-compose-dev.yaml 5
#              ./generate-compose.sh docker-compose-pg.yaml 5 --centrals 3
#              npm run certs -- --out certs --agencies 5 && ./generate-compose.sh docker-compose-tls.yaml 5 --tls certs
#
# With --tls DIR (a folder made by `npm run certs`) the agencies reach the
# centrals over mutual TLS: each central is given DIR/server.crt, server.key
# and ca.crt, each agency i DIR/ca.crt, agency-i.crt and agency-i.key (its
# own, nobody else's), as read-only files under /certs, and the TLS
# variables point at them.
#
# With --centrals K the bets live in a PostgreSQL service \`postgres\` (its
# image built locally from docker/Dockerfile) shared by K centrals: \`server\`,
# \`server2\`..\`serverK\`. With K > 1 the agencies are given the list of
# centrals in CLI_SERVER_ADDRESS (the one variable that then has to shadow
# server.address of client/config.yaml: the file holds one address).
#
# The file mounts (never copies into images) this checkout's server/config.ini,
# client/config.yaml and .data/agency-<i>.csv, keeps bets.csv on an anonymous
# volume that lives as long as the server container (a restart or a crash
# recovers the lottery; `docker compose down` and `up` start a new one from
# the current .data/), restarts the server when it fails (a storage
# fail-stop recovers by itself), and tells the server how many agencies the
# draw waits for (SERVER_AGENCIES=N) and turns on its status port
# (SERVER_STATUS_PORT=9100 on 0.0.0.0, reachable on the Compose network). It sets no environment variable that shadows a key of
# the config files, so editing those files is enough to change the settings.
# Paths are relative (./server/config.ini ...) when OUT sits in this checkout's
# root, absolute otherwise, so `docker compose -f OUT up` works wherever OUT is.
# Run with sh by mistake? Hand over to bash (this line is plain POSIX sh).
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

readonly MAX_AGENCIES=65535
readonly MAX_CENTRALS=16
# Each central's status port (/metrics, /healthz, /readyz, the live page), on
# the Compose network; not published on the host.
readonly STATUS_PORT=9100
prog=$(basename "$0")

usage() {
  cat <<USAGE
usage: $prog OUT N [--centrals K] [--tls DIR]

Writes a Docker Compose file OUT with the service \`server\` and the agencies
\`client1\`..\`clientN\` (N from 0 to $MAX_AGENCIES; 0 writes the server only).
Agency i reads .data/agency-i.csv.

--centrals K (1 to $MAX_CENTRALS): the bets live in a PostgreSQL service
\`postgres\`, shared by K centrals \`server\`, \`server2\`..\`serverK\`; every
agency is given all of them.

--tls DIR: mutual TLS between agencies and centrals with the certificates in
DIR (ca.crt, server.crt, server.key, agency-i.crt, agency-i.key), as made by
\`npm run certs -- --out DIR --agencies N\`.

examples: $prog docker-compose-dev.yaml 5 && docker compose -f docker-compose-dev.yaml up --build
          $prog docker-compose-pg.yaml 5 --centrals 3
          $prog docker-compose-tls.yaml 5 --tls certs
USAGE
}

fail() {
  echo "$prog: $*" >&2
  usage >&2
  exit 2
}

if [[ $# -eq 1 && ( $1 == -h || $1 == --help ) ]]; then
  usage
  exit 0
fi
centrals=0
tls_dir=
positional=()
while (($# > 0)); do
  case $1 in
    --centrals)
      (($# >= 2)) || fail "--centrals needs a number"
      [[ $2 =~ ^[0-9]{1,2}$ ]] && ((10#$2 >= 1 && 10#$2 <= MAX_CENTRALS)) || fail "--centrals must be a whole number from 1 to $MAX_CENTRALS, got '$2'"
      centrals=$((10#$2))
      shift 2
      ;;
    --tls)
      (($# >= 2)) && [[ -n $2 ]] || fail "--tls needs the certificates' folder"
      tls_dir=$2
      shift 2
      ;;
    --*) fail "unknown option '$1'" ;;
    *)
      positional+=("$1")
      shift
      ;;
  esac
done
set -- "${positional[@]+"${positional[@]}"}"
[[ $# -eq 2 ]] || fail "expected 2 arguments (OUT and N), got $#"

out=$1
count=$2
[[ -n $out ]] || fail "OUT must not be empty"
[[ $count =~ ^[0-9]{1,5}$ ]] || fail "N must be a whole number from 0 to $MAX_AGENCIES, got '$count'"
count=$((10#$count))
((count <= MAX_AGENCIES)) || fail "N must be a whole number from 0 to $MAX_AGENCIES, got '$2'"

# Where OUT goes: its directory must exist and be writable, OUT must not be a directory.
out_dir=$(dirname -- "$out")
out_dir=$(cd -- "$out_dir" 2>/dev/null && pwd -P) || fail "cannot write '$out': no such directory '$(dirname -- "$out")'"
[[ ! -d $out ]] || fail "cannot write '$out': it is a directory"
[[ -w $out_dir ]] || fail "cannot write '$out': directory '$out_dir' is not writable"
[[ ! -e $out || -w $out ]] || fail "cannot write '$out': file is not writable"

# The certificates: every file the services will mount must be there (a missing bind source would stop `up`).
if [[ -n $tls_dir ]]; then
  tls_abs=$(cd -- "$tls_dir" 2>/dev/null && pwd -P) || fail "--tls: no such directory '$tls_dir'"
  tls_missing=()
  for f in ca.crt server.crt server.key; do [[ -f $tls_abs/$f ]] || tls_missing+=("$f"); done
  for ((i = 1; i <= count; i++)); do
    for f in "agency-$i.crt" "agency-$i.key"; do [[ -f $tls_abs/$f ]] || tls_missing+=("$f"); done
  done
  ((${#tls_missing[@]} == 0)) ||
    fail "--tls: '$tls_dir' lacks ${tls_missing[*]:0:4}$( ((${#tls_missing[@]} > 4)) && echo ' ...'); make them with: npm run certs -- --out $tls_dir --agencies $count"
fi

# The checkout whose files are mounted: the one this script lives in.
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
if [[ $out_dir == "$root" ]]; then base=. ; else base=$root; fi
shown_out=$out
[[ $base != . ]] || shown_out=$(basename -- "$out")

yaml_path() { # quote a path for YAML when it needs it
  if [[ $1 =~ ^[A-Za-z0-9_./-]+$ ]]; then printf '%s' "$1"; else printf "'%s'" "${1//\'/\'\'}"; fi
}

# Long syntax on purpose: unlike the short one, it refuses a missing source
# instead of creating a directory in its place.
bind_mount() { # source target
  cat <<MOUNT
      - type: bind
        source: $(yaml_path "$1")
        target: $2
        read_only: true
MOUNT
}

# The TLS variables and files of a central and of agency i (nothing without --tls).
server_tls_env() {
  [[ -n $tls_dir ]] || return 0
  printf '      SERVER_TLS_CERT: /certs/server.crt\n      SERVER_TLS_KEY: /certs/server.key\n      SERVER_TLS_CA: /certs/ca.crt\n'
}
server_tls_mounts() {
  [[ -n $tls_dir ]] || return 0
  local f
  for f in ca.crt server.crt server.key; do bind_mount "$tls_abs/$f" "/certs/$f"; done
}
client_tls_env() {
  [[ -n $tls_dir ]] || return 0
  printf '      CLI_TLS_CA: /certs/ca.crt\n      CLI_TLS_CERT: /certs/agency.crt\n      CLI_TLS_KEY: /certs/agency.key\n'
}
client_tls_mounts() { # i
  [[ -n $tls_dir ]] || return 0
  bind_mount "$tls_abs/ca.crt" /certs/ca.crt
  bind_mount "$tls_abs/agency-$1.crt" /certs/agency.crt
  bind_mount "$tls_abs/agency-$1.key" /certs/agency.key
}

build_section() { # target
  cat <<BUILD
    build:
      context: $(yaml_path "$base")
      dockerfile: docker/Dockerfile
      target: $1
BUILD
}

client_service() { # i, CLI_SERVER_ADDRESS ("" for none: config.yaml's), the centrals it depends on
  local i=$1 address=$2 name
  shift 2
  cat <<CLIENT

  client$i:
    container_name: client$i
    image: lottery-client:latest
CLIENT
  build_section client
  cat <<CLIENT
    environment:
      CLI_ID: "$i"
CLIENT
  [[ -n $address ]] && printf '      CLI_SERVER_ADDRESS: "%s"\n' "$address"
  client_tls_env
  cat <<CLIENT
    volumes:
CLIENT
  bind_mount "$base/client/config.yaml" /app/client/config.yaml
  bind_mount "$base/.data/agency-$i.csv" /data/agency.csv
  client_tls_mounts "$i"
  cat <<CLIENT
    networks:
      - lottery
    depends_on:
CLIENT
  for name in "$@"; do printf '      - %s\n' "$name"; done
}

generate() {
  local who="the central server and $count agencies (client1..client$count)"
  ((count == 1)) && who="the central server and 1 agency (client1)"
  ((count == 0)) && who="the central server alone (no agencies)"
  cat <<HEAD
# Lottery: $who.
# Generated by: ./generate-compose.sh $shown_out $count${tls_dir:+ --tls $tls_dir} (edit the generator, not this file)
#
# Settings live in the mounted server/config.ini and client/config.yaml:
# edit them and run \`docker compose up\` again, no image rebuild needed.
# Agency i sends the bets in .data/agency-i.csv. The lottery (bets.csv and
# its journal) lives in the server container's own volume: a restart or a
# crash of the container recovers it; \`docker compose down\` ends it, and
# the next \`up\` starts a new lottery. Keep one with
# \`docker compose cp server:/var/lib/lottery ./lottery-files\` before \`down\`.
name: lottery

services:
  server:
    container_name: server
    image: lottery-server:latest
HEAD
  build_section server
  cat <<SERVER
    restart: on-failure
    environment:
      SERVER_AGENCIES: "$count"
      SERVER_BETS_FILE: /var/lib/lottery/bets.csv
      SERVER_STATUS_PORT: "$STATUS_PORT"
      SERVER_STATUS_HOST: 0.0.0.0
SERVER
  server_tls_env
  cat <<SERVER
    volumes:
SERVER
  bind_mount "$base/server/config.ini" /app/server/config.ini
  server_tls_mounts
  cat <<SERVER
      - type: volume
        target: /var/lib/lottery
    networks:
      - lottery
SERVER
  local i
  for ((i = 1; i <= count; i++)); do client_service "$i" "" server; done
  cat <<TAIL

networks:
  lottery:
TAIL
}

# The database variant: a PostgreSQL service and K centrals sharing it.
readonly DB_URL=postgres://lottery:lottery@postgres:5432/lottery

central_name() { # i → server, server2, ...
  if (($1 == 1)); then printf 'server'; else printf 'server%d' "$1"; fi
}

generate_database() {
  local i names=() addresses=()
  for ((i = 1; i <= centrals; i++)); do
    names+=("$(central_name "$i")")
    addresses+=("$(central_name "$i"):12345")
  done
  local list
  list=$(IFS=,; printf '%s' "${addresses[*]}")
  cat <<HEAD
# Lottery: $centrals central(s) (${names[*]}) on one PostgreSQL database and $count agencies.
# Generated by: ./generate-compose.sh $shown_out $count --centrals $centrals${tls_dir:+ --tls $tls_dir} (edit the generator, not this file)
#
# Settings live in the mounted server/config.ini and client/config.yaml:
# edit them and run \`docker compose up\` again, no image rebuild needed.
# Agency i sends the bets in .data/agency-i.csv. The lottery lives in the
# \`postgres\` container's database (tables lottery, agencies, bets, winners:
# \`docker compose exec postgres psql -U lottery lottery\`). A restart or a
# crash of any container recovers it; \`docker compose down\` ends it, and
# the next \`up\` starts a new lottery.
name: lottery

services:
  postgres:
    container_name: postgres
    image: lottery-postgres:latest
HEAD
  build_section postgres
  cat <<DB
    restart: on-failure
    volumes:
      - type: volume
        target: /var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "lottery", "-d", "lottery"]
      interval: 1s
      timeout: 3s
      retries: 60
    networks:
      - lottery
DB
  for ((i = 1; i <= centrals; i++)); do
    cat <<SERVER

  ${names[i - 1]}:
    container_name: ${names[i - 1]}
    image: lottery-server:latest
SERVER
    build_section server
    cat <<SERVER
    restart: on-failure
    environment:
      SERVER_AGENCIES: "$count"
      SERVER_DATABASE_URL: $DB_URL
      SERVER_STATUS_PORT: "$STATUS_PORT"
      SERVER_STATUS_HOST: 0.0.0.0
SERVER
    server_tls_env
    cat <<SERVER
    volumes:
SERVER
    bind_mount "$base/server/config.ini" /app/server/config.ini
    server_tls_mounts
    cat <<SERVER
    networks:
      - lottery
    depends_on:
      postgres:
        condition: service_healthy
SERVER
  done
  for ((i = 1; i <= count; i++)); do client_service "$i" "$( ((centrals > 1)) && printf '%s' "$list")" "${names[@]}"; done
  cat <<TAIL

networks:
  lottery:
TAIL
}

if ((centrals > 0)); then content=$(generate_database); else content=$(generate); fi
printf '%s\n' "$content" >"$out" 2>/dev/null || fail "cannot write '$out'"

missing=0
for ((i = 1; i <= count; i++)); do
  [[ -f $root/.data/agency-$i.csv ]] || missing=$((missing + 1))
done
if ((missing > 0)); then
  echo "$prog: note: $missing of the $count agency files .data/agency-i.csv do not exist yet; add them before \`docker compose up\`" >&2
fi
what="server"
((centrals > 0)) && what="postgres + $centrals central(s)"
tls_note=
[[ -z $tls_dir ]] || tls_note="; mutual TLS with the certificates in $tls_abs"
echo "$prog: wrote $out ($what + $count $( ((count == 1)) && echo agency || echo agencies)$tls_note)"
