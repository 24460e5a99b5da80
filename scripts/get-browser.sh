#!/usr/bin/env bash
# Headless Chromium + ChromeDriver from Debian's packages, for the dashboard's browser test.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's chromium and chromium-driver"
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  exit 0
fi
echo "chromium/chromedriver not found and not root: the browser test will be skipped" >&2
