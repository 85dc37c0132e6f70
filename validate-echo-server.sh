#!/bin/sh
# Checks that the running `server` container answers an Echo frame with the
# very same bytes. Netcat runs in a throwaway busybox container attached to the
# server container's own Docker network: no netcat on the host, no published
# ports. Prints exactly one line:
#
#   action: test_echo_server | result: success
#   action: test_echo_server | result: fail
#
# and exits 0 on success, 1 on failure. POSIX sh: runs under sh (dash) and bash.
#
# Environment (optional): SERVER_CONTAINER (default server), SERVER_PORT
# (default 12345), ECHO_TIMEOUT seconds (default 5).

container=${SERVER_CONTAINER:-server}
port=${SERVER_PORT:-12345}
limit=${ECHO_TIMEOUT:-5}

# An Echo frame: type 0x0E, u32 big-endian body length (12), body "Hello server".
# Octal escapes, which dash's, bash's and busybox's printf all understand.
frame='\016\000\000\000\014Hello server'

result() {
  echo "action: test_echo_server | result: $1"
  [ "$1" = success ]
}

# The server container's first network and its address on it.
target=$(docker container inspect --format '{{range $name, $net := .NetworkSettings.Networks}}{{$name}} {{$net.IPAddress}}{{println}}{{end}}' "$container" 2>/dev/null | awk 'NF == 2 { print; exit }')
network=${target% *}
address=${target#* }
if [ -z "$target" ] || [ -z "$network" ] || [ -z "$address" ]; then
  result fail
  exit 1
fi

# Inside busybox: send the frame, half-close, read what comes back (nc ends when
# the server closes; `timeout` bounds a server that never does), compare bytes.
# The frame is passed as $1, the address as $2, the port as $3, the limit as $4.
check='
expected=$(printf "$1" | od -An -v -tx1)
reply=$(printf "$1" | timeout "$4" nc -w "$4" "$2" "$3" | od -An -v -tx1)
[ -n "$reply" ] && [ "$reply" = "$expected" ]
'
if docker run --rm --network "$network" busybox sh -c "$check" check "$frame" "$address" "$port" "$limit" >/dev/null 2>&1; then
  result success
else
  result fail
  exit 1
fi
