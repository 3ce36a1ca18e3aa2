#!/bin/sh
# mypy --strict on the example app (schema.py and functions/).
# The app imports its own modules relatively (`from ..schema import ...`), as the
# loader imports it as one package; mypy sees the same through a package named `app`.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ln -s "$root" "$tmp/app"
cd "$tmp"
MYPYPATH="$root" "$root/.venv/bin/mypy" --strict --explicit-package-bases \
    --config-file "$root/pyproject.toml" app/schema.py app/functions
