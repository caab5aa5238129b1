#!/usr/bin/env bash
# Make sure the headless Chromium the browser tests drive (Debian's `chromium` package) is installed, with a
# CJK font: without one, Chinese text is drawn as boxes in the screenshots the tests save.
set -eu
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -d /usr/share/fonts/truetype/wqy ] || need+=(fonts-wqy-microhei)
if [ ${#need[@]} = 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing ${need[*]}: this machine has no apt-get; install Debian's ${need[*]} package(s)." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "Installing Debian's ${need[*]} for the browser tests"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
  $sudo apt-get update >/dev/null
  $sudo apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
}
test -x /usr/bin/chromium
