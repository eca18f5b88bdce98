# Shared by bin/setup, bin/test and bin/run: find Odoo 18.0 and its Python.
# shellcheck shell=bash
set -euo pipefail

PROJECT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PROJECT_DIR

die() { echo "ip_telephony: $*" >&2; exit 2; }

require_odoo() {
    command -v odoo >/dev/null 2>&1 ||
        die "no 'odoo' command on PATH. This project needs Odoo 18.0 installed (its 'odoo' command on PATH) and PostgreSQL."
    local version
    version=$(odoo --version 2>/dev/null || true)
    case "$version" in
        *"Odoo Server 18.0"*) ;;
        *) die "'odoo --version' says '${version:-nothing}', this addon needs Odoo Server 18.0." ;;
    esac
    # The Python that runs Odoo is the interpreter named on the script's first line.
    ODOO_BIN=$(command -v odoo)
    ODOO_PYTHON=$(head -n1 "$ODOO_BIN" | sed -n 's/^#! *//p' | awk '{print $1}')
    if [ "${ODOO_PYTHON##*/}" = "env" ]; then
        ODOO_PYTHON=$(command -v "$(head -n1 "$ODOO_BIN" | awk '{print $2}')")
    fi
    [ -x "$ODOO_PYTHON" ] || die "cannot find the Python that runs $ODOO_BIN"
    ODOO_ADDONS=$("$ODOO_PYTHON" - <<'PY'
import os
import odoo
import odoo.addons

paths = [p for p in odoo.addons.__path__ if os.path.isdir(os.path.join(p, "base"))]
main = os.path.abspath(os.path.join(os.path.dirname(odoo.__file__), "..", "addons"))
if os.path.isdir(os.path.join(main, "web")):
    paths.append(main)
print(",".join(dict.fromkeys(paths)))
PY
)
    export ODOO_BIN ODOO_PYTHON ODOO_ADDONS
}

# Link the repository under its technical name into a private addons folder,
# whatever the clone's folder is called.
link_addon() {
    local root=$1
    mkdir -p "$root"
    ln -sfn "$PROJECT_DIR" "$root/ip_telephony"
}

# Odoo refuses to run as 'postgres': use a role of our own, created once.
ensure_db_role() {
    DB_HOST=${PGHOST:-127.0.0.1}
    DB_USER=${IP_TELEPHONY_DB_USER:-ip_telephony}
    export DB_HOST DB_USER
    if ! psql -h "$DB_HOST" -U "$DB_USER" -d postgres -tAc "select 1" >/dev/null 2>&1; then
        createuser -h "$DB_HOST" -U postgres --superuser "$DB_USER" ||
            die "cannot create the PostgreSQL role $DB_USER on $DB_HOST (is PostgreSQL running?)"
    fi
}

free_port() {
    "$ODOO_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
