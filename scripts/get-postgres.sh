#!/usr/bin/env bash
# PostgreSQL server binaries from Debian's packages, for the tests that share a study
# between workers through a real server (the tests start a private cluster themselves).
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's postgresql"
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  exit 0
fi
echo "PostgreSQL not found and not root: the PostgreSQL tests will be skipped" >&2
