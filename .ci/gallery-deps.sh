#!/usr/bin/env bash
# What tests/test_gallery_browser.py needs on a fresh Debian machine: Debian's Chromium at
# /usr/bin/chromium. The tests drive it with the `playwright` pip package (in the `test`
# extra), which is told `executable_path="/usr/bin/chromium"`; `playwright install` is never
# run, since it downloads a browser build of its own. Idempotent; run as root or with sudo.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -x /usr/bin/chromium ]; then
  as_root apt-get update -q
  # chromium-driver too, so that Selenium could drive the same browser.
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends \
    chromium chromium-driver fonts-liberation
fi
/usr/bin/chromium --version
