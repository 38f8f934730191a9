#!/usr/bin/env bash
# Debian's Chromium for the HTML report's browser test (tests/report). Without it that test skips and says why;
# nothing else needs a browser.
command -v chromium >/dev/null 2>&1 && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "note: no apt-get; the report's browser test will be skipped"; exit 0; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
{ $SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
  || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }; } \
  || echo "note: chromium could not be installed; the report's browser test will be skipped"
exit 0
