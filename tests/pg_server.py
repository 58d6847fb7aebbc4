"""A throwaway PostgreSQL server for tests, built from Debian's server binaries.

pytest-postgresql was considered: it calls ``pg_ctl`` as the current user and has no option to run
it as another one, and ``initdb``/``pg_ctl`` refuse to run as root (CI runs as root). So this module
runs them through ``runuser -u postgres`` when root, in a temporary directory that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL server binaries not found; install them with `apt-get install postgresql`"
)

# Durability buys nothing for a server that is deleted at the end of the run.
_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


def find_bin_dir() -> Path | None:
    """The newest Debian server bin dir, else wherever ``initdb`` is on PATH."""
    dirs = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if dirs:
        newest = max(dirs, key=lambda p: int(Path(p).parent.parent.name))
        return Path(newest).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_owner(argv: list[str]) -> list[str]:
    """Root may not run initdb/pg_ctl: hand the command to the ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class PgServer:
    bin_dir: Path
    root: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        subprocess.run(_as_owner(list(argv)), check=True, capture_output=True, text=True)

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is worth a checkpoint) and delete its files."""
        pg_ctl = str(self.bin_dir / "pg_ctl")
        # already stopped or never started: the files go either way
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(pg_ctl, "stop", "-D", str(self.data_dir), "-m", "immediate", "-w")
        shutil.rmtree(self.root, ignore_errors=True)


def start(bin_dir: Path | None = None) -> PgServer:
    """Init a cluster in a fresh temp dir, start it on a free 127.0.0.1 port with trust auth."""
    bin_dir = bin_dir or find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError(INSTALL_HINT)
    root = Path(tempfile.mkdtemp(prefix="paynet-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PgServer(bin_dir, root, _free_port())
    try:
        server._run(
            str(bin_dir / "initdb"), "-D", str(server.data_dir), "-U", "postgres",
            "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        settings = {
            **_SETTINGS,
            "listen_addresses": "'127.0.0.1'",
            "port": str(server.port),
            "unix_socket_directories": f"'{root}'",
        }
        with open(server.data_dir / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        server._run(
            str(bin_dir / "pg_ctl"), "start", "-D", str(server.data_dir), "-w", "-t", "60",
            "-l", str(root / "server.log"),
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        log = root / "server.log"
        detail = log.read_text() if log.exists() else ""
        server.stop()
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}{detail}") from exc
    return server


def create_database(server_url: str, template: str = "template0", options: str = "") -> str:
    """A fresh database on the server (a copy of ``template``: empty by default); its URL.
    ``options`` go at the end of ``CREATE DATABASE`` (e.g. a collation)."""
    import psycopg

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" {options}')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(db_url: str) -> None:
    """Drop a database made by :func:`create_database`, closing connections a test left open."""
    import psycopg

    server_url, name = db_url.rsplit("/", 1)
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_database(url: str) -> None:
    """Empty every table of a paynet-ops cache database but the migrations' own."""
    import psycopg

    kept = ("schema_migrations", "invoice_statuses")
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            if r[0] not in kept
        ]
        # Replica role: the audit log's append-only triggers would refuse the TRUNCATE.
        conn.execute("SET session_replication_role = replica")
        conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        conn.execute("INSERT INTO data_version (id, version) VALUES (1, 1)")
