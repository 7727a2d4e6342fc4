# Sourced by the other scripts: make sure .venv holds the pinned emulator
# (moto) and test tools, installing them from PyPI when missing or changed.
ensure_venv() {
    local req=tests/emulator/requirements.txt stamp=.venv/.requirements.sha256
    local want
    want=$(sha256sum "$req" | cut -d' ' -f1)
    if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "setting up .venv with $(grep -v '^#' "$req" | tr '\n' ' ')" >&2
        python3 -m venv .venv
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
        echo "$want" > "$stamp"
    fi
}
