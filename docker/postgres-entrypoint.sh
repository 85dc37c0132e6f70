#!/bin/sh
# The lottery's PostgreSQL, for the Compose files that `generate-compose.sh
# --centrals K` writes: on an empty data folder (a new volume) it creates the
# cluster, the role `lottery` (password POSTGRES_PASSWORD, default lottery)
# and the database `lottery`; then it runs the server in the foreground.
set -eu
data=/var/lib/postgresql/data
if [ ! -s "$data/PG_VERSION" ]; then
  password_file=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:-lottery}" > "$password_file"
  # Inside the container (docker compose exec postgres psql -U lottery lottery) the socket is trusted.
  initdb -D "$data" -U lottery --pwfile="$password_file" --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C >/dev/null
  rm -f "$password_file"
  # Centrals connect over the Compose network, with the password.
  echo 'host all all 0.0.0.0/0 scram-sha-256' >> "$data/pg_hba.conf"
  echo 'CREATE DATABASE lottery' | postgres --single -D "$data" postgres >/dev/null
fi
exec postgres -D "$data" -c listen_addresses='*' -c max_connections=200
