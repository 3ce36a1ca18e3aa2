#!/usr/bin/env bash
# Headless Chromium for the demo page's browser test: installed from Debian when missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "note: chromium is not installed and cannot be installed here (needs root and apt-get);" \
       "the browser test will be skipped. Install the Debian package 'chromium' to run it." >&2
fi
