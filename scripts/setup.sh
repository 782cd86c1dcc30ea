#!/usr/bin/env bash
# Idempotent setup for a fresh Debian 12 machine (run as root): QGIS 3.22 from
# Debian, a venv made from the system Python (QGIS's own interpreter) with
# --system-site-packages, and the Python dependencies. Safe to run again.
#   bash scripts/setup.sh        everything (tests, training, QGIS)      requirements.txt
#   bash scripts/setup.sh demo   only what masking needs (no QGIS, no PyTorch)   requirements-demo.txt
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${CLOUDFREE_VENV:-$here/.venv}"
profile="${1:-full}"
if [ "$profile" = demo ]; then
  apt_pkgs=(libgdal-dev gdal-bin python3-venv python3-dev build-essential)
  req="$here/requirements-demo.txt"
else
  apt_pkgs=(qgis python3-qgis qgis-providers libgdal-dev gdal-bin python3-venv python3-dev build-essential xvfb)
  req="$here/requirements.txt"
fi
stamp="$venv/.cloudfree-setup-$profile"
wanted="$(cat "$here/requirements-demo.txt" "$req")"
up_to_date() { [ -f "$1" ] && [ "$(cat "$1")" = "$wanted" ]; }

need_apt=()
for pkg in "${apt_pkgs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

full_wanted="$(cat "$here/requirements-demo.txt" "$here/requirements.txt")"
if up_to_date "$stamp" || { [ -f "$venv/.cloudfree-setup-full" ] && [ "$(cat "$venv/.cloudfree-setup-full")" = "$full_wanted" ]; }; then
  echo "setup: environment up to date ($venv)"
else
  [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/python" -m pip install -q --upgrade "pip>=23"
  # rasterio is built against the system GDAL so that inside QGIS only one GDAL is loaded.
  "$venv/bin/python" -m pip install -q --no-binary rasterio -r "$req"
  printf '%s' "$wanted" > "$stamp"
fi

# QGIS wants the plugin folder to be named after the package: expose the
# repository as build/plugins/cloudfree for QGIS_PLUGINPATH and for imports.
mkdir -p "$here/build/plugins"
ln -sfn "$here" "$here/build/plugins/cloudfree"
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$here/build/plugins" > "$site/cloudfree-dev.pth"
cat > "$venv/bin/cloudfree" <<EOS
#!/bin/sh
exec "$venv/bin/python" -m cloudfree "\$@"
EOS
chmod +x "$venv/bin/cloudfree"
echo "setup: ready. Python: $venv/bin/python, command line: $venv/bin/cloudfree"
