#!/usr/bin/env bash
# Creates the Python environment that the PyKMIP interoperability test (tests/pykmip.rs) runs the
# real PyKMIP client from: <repo>/.venv with tests/pykmip/requirements.txt installed.
# Idempotent: when .venv already holds exactly these requirements it returns at once.
# Set PYTHON to choose the interpreter (default: python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/.venv"
requirements="$here/requirements.txt"
stamp="$venv/.kmipd-requirements.sha256"
python="${PYTHON:-python3}"

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
    && "$venv/bin/python" -c 'import kmip.services.kmip_client' 2>/dev/null; then
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup-venv: creating $venv with $("$python" --version 2>&1)" >&2
    "$python" -m venv "$venv"
fi
echo "setup-venv: installing $requirements" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements"
"$venv/bin/python" -c 'import kmip.services.kmip_client'
echo "$want" > "$stamp"
echo "setup-venv: ready ($("$venv/bin/python" -c 'import kmip.version as v; print("PyKMIP", v.__version__)'))" >&2
