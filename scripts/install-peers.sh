#!/usr/bin/env bash
# Installs the real peers the connector tests and the demo talk to, from Debian's packages:
# Mosquitto (MQTT broker and its mosquitto_pub client) and util-linux's logger (syslog client);
# promtool (from the prometheus package), which lints the worker's /metrics in the tests; and
# Chromium with its chromedriver and a CJK font, the real browser the alert board is tested in.
# A no-op when they are present; needs root (or sudo) and apt-get otherwise.
set -euo pipefail
missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v logger >/dev/null 2>&1 || missing+=(bsdutils)
# Only /usr/bin/promtool is used; the package's Prometheus server is not (docker-compose.yml runs one).
command -v promtool >/dev/null 2>&1 || [ -x /usr/bin/promtool ] || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ -d /usr/share/fonts/truetype/wqy ] || missing+=(fonts-wqy-zenhei)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "==> installing ${missing[*]} (Debian packages)"
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "need root to install ${missing[*]}: run 'apt-get install ${missing[*]}' as root" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no apt-get here: install ${missing[*]} with your system's package manager" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
# The packages enable a system broker on 1883 and a Prometheus server on 9090 where an init system runs;
# tests and the demo start their own broker and use neither.
