#!/usr/bin/env bash
# Installs what classroom-agent needs and is missing: Debian packages (when root), a venv
# in .venv and the Python packages. Safe to run again: it only installs what is missing.
#   scripts/setup.sh           what the agent and the demo need
#   scripts/setup.sh --tests   plus what the test suite needs (broker, browser, RTSP server)
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--tests" ] && want_tests=1

# opencv-doc: its sample photos are the faces of the demo's engagement clip (and of the
# engagement tests and accuracy bench); without it the demo runs without engagement
debs=(python3 python3-venv python3-dev mosquitto ffmpeg opencv-doc)
if [ "$want_tests" = 1 ]; then
  # fonts-noto-cjk: without a CJK font Chromium draws the zh-CN pages as empty boxes
  debs+=(openssl chromium chromium-driver fonts-noto-cjk socat python3-gi gir1.2-gst-rtsp-server-1.0
         gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
         gstreamer1.0-plugins-bad gstreamer1.0-tools
         nginx-light libnginx-mod-rtmp srt-tools  # live push tests: a real RTMP and SRT server
         postgresql)  # postgresql: the district collector's PostgreSQL tests
fi

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages (run as root to install): ${missing[*]}" >&2
  fi
fi

py=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($py --version)"
  "$py" -m venv .venv
fi

# Versions come from constraints.txt (the lock: what CI tested), so a fresh machine gets
# what CI tested; scripts/lock refreshes it. Reinstall only when either file changed.
stamp=.venv/.classroom-agent-installed
extras=""
[ "$want_tests" = 1 ] && extras="[test]"
sum="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)$extras"
if [ ! -f "$stamp" ] || ! grep -qxF -- "$sum" "$stamp"; then
  echo "setup: installing Python packages into .venv (locked by constraints.txt)"
  .venv/bin/python -m pip install -q --upgrade "pip>=23"
  .venv/bin/python -m pip install -q -c constraints.txt -e ".${extras}"
  # keep the stamp for the widest install done, so --tests is not redone by a demo run
  echo "$sum" >> "$stamp"
fi

# Interop test only: pjlink-advance (a third-party PJLink emulator) needs Python >= 3.13.
# Where such an interpreter exists, give it its own venv; elsewhere that test skips.
if [ "$want_tests" = 1 ] && [ ! -x .work/py313/bin/python ]; then
  # a real interpreter first: pyenv's shims refuse versions not selected in pyenv
  py313=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*/bin/python3 2>/dev/null | head -n1 || true)
  [ -n "$py313" ] || py313=$(command -v python3.13 || command -v python3.14 || true)
  if [ -n "$py313" ]; then
    echo "setup: pjlink-advance interop venv with $py313"
    ("$py313" -m venv .work/py313 &&
     .work/py313/bin/pip install -q -c constraints-tools.txt pjlink-advance) \
      || { echo "setup: pjlink-advance unavailable; its interop test will skip" >&2; rm -rf .work/py313; }
  fi
fi

# Fallback test only: amqtt, a real MQTT 3.1.1-only broker, in its own venv (its
# dependencies are not the agent's business).
if [ "$want_tests" = 1 ] && [ ! -x .work/amqtt/bin/amqtt ]; then
  echo "setup: amqtt (MQTT 3.1.1 broker for the fallback test)"
  ("$py" -m venv .work/amqtt && .work/amqtt/bin/pip install -q -c constraints-tools.txt amqtt) \
    || { echo "setup: amqtt unavailable; the 3.1.1 fallback test will skip" >&2; rm -rf .work/amqtt; }
fi
