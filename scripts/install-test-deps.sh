#!/usr/bin/env bash
# Installs the Debian packages some tests need beyond Node.js, when missing:
#   fuse3, python3-pyfuse3   faultfs, the FUSE disk that loses unsynced writes
#                            (test/reliability/faulty-disk.test.ts, test/faultfs/)
#   postgresql               a real PostgreSQL server for the database store's tests
#                            (test/reliability/postgres.test.ts; run as the postgres user)
#   bsdutils                 util-linux's `script`, a pseudo-terminal for the agency's
#                            progress bar (test/integration/progress.test.ts)
#   openssl                  the test certificates of npm run certs (scripts/make-certs.ts),
#                            for test/integration/tls.test.ts and generate-compose --tls
#   chromium                 Debian's browser, driven by playwright-core for the live status
#                            page's test (test/integration/status-page.test.ts)
# Needs root (apt-get). Without these packages, those tests skip and say why;
# CI runs this first and then the suite with LOTTERY_REQUIRE_ALL=1, so that a
# skip is a failure there.
set -euo pipefail

packages=()
command -v fusermount3 >/dev/null 2>&1 || packages+=(fuse3)
/usr/bin/python3 -c 'import pyfuse3' >/dev/null 2>&1 || packages+=(python3-pyfuse3)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages+=(postgresql)
command -v script >/dev/null 2>&1 || packages+=(bsdutils)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
# fonts-liberation: chromium only recommends fonts, and a page without any renders no text.
[[ -x /usr/bin/chromium ]] || packages+=(chromium fonts-liberation)

if ((${#packages[@]} == 0)); then
  echo "install-test-deps: everything is installed already"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-test-deps: needs root to install ${packages[*]} (try: sudo $0)" >&2
  exit 1
fi
echo "install-test-deps: installing ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# PostgreSQL refuses to run as root: the tests start it as this user.
id postgres >/dev/null 2>&1 || useradd -m postgres
