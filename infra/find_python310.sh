#!/usr/bin/env bash
# Print the path of a Python 3.10 interpreter, or explain what to install and fail.
# TFX 1.16 supports Python 3.9-3.10 only, and no newer TFX installs on Linux.
set -u
candidates=()
[ -n "${PYTHON310:-}" ] && candidates+=("$PYTHON310")
candidates+=(python3.10)
for dir in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10.*/bin; do
  [ -d "$dir" ] && candidates+=("$dir/python3.10")
done
candidates+=(/usr/bin/python3.10 /usr/local/bin/python3.10 python3)
for candidate in "${candidates[@]}"; do
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if "$path" -c 'import sys, venv; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
    echo "$path"
    exit 0
  fi
done
cat >&2 <<'MSG'
error: Python 3.10 was not found (TFX 1.16 needs Python 3.9-3.10).
Install it, then run make again, for example:
  pyenv install 3.10.13                      # with pyenv (https://github.com/pyenv/pyenv)
  sudo apt-get install python3.10 python3.10-venv   # Debian/Ubuntu with 3.10 packages
or point PYTHON310=/path/to/python3.10 at an interpreter you already have.
MSG
exit 1
