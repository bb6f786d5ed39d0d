# Sourced by scripts/dev and scripts/test: make sure .venv exists and has this checkout installed.
# Creates the venv with python3 (3.11 or newer) when missing, and runs `pip install -e '.[dev]'`
# only when pyproject.toml changed since the last install (a hash stamp kept inside .venv).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  if ! PY="$(find_python)"; then
    echo "Python 3.11 or newer is required (python3 is $(python3 --version 2>&1 || echo 'missing'))." >&2
    echo "Install it (e.g. apt-get install -y python3 python3-venv) or set PYTHON=/path/to/python3.11." >&2
    exit 1
  fi
  echo "Creating .venv with $("$PY" --version)..." >&2
  if ! "$PY" -m venv .venv; then
    echo "Could not create .venv: install the venv module (apt-get install -y python3-venv)." >&2
    exit 1
  fi
fi

stamp=.venv/.codex-graphql-install
wanted="$(cat pyproject.toml | sha256sum | cut -d' ' -f1) $ROOT"
installed_here() {
  # The editable install must point at this checkout (a copied .venv would point elsewhere).
  .venv/bin/python - "$ROOT" <<'PY' 2>/dev/null
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("codex_graphql")
root = pathlib.Path(sys.argv[1]).resolve()
sys.exit(0 if spec and spec.origin and root in pathlib.Path(spec.origin).resolve().parents else 1)
PY
}
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ] || [ ! -x .venv/bin/codex-graphql ] || ! installed_here; then
  echo "Installing Codex GraphQL and its dev dependencies into .venv (pip install -e '.[dev]')..." >&2
  started=$SECONDS
  # (The filter drops pip's notes about configured local package indexes that lack a package.)
  if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' \
      2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); then
    echo "pip install failed; see the messages above." >&2
    exit 1
  fi
  echo "$wanted" > "$stamp"
  echo "Installed in $((SECONDS - started)) s." >&2
fi
