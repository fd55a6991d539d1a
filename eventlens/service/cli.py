"""``eventlens serve`` and ``eventlens keys``: the service's commands (added to :mod:`eventlens.cli`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from eventlens.cli_common import fail_cleanly
from eventlens.settings import load_settings

DEFAULT_DATA = Path("eventlens-data")
_data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_DATA,
    show_default=True,
    help="The service's folder: its catalog, API keys, events and galleries.",
)
_config_option = click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False))


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@_data_option
@_config_option
@click.option("--workers", type=click.IntRange(min=0), help="Analysis worker processes (0: one per core).")
@fail_cleanly
def serve_cmd(host: str, port: int, data_dir: Path, config_file: Path | None, workers: int | None) -> None:
    """Run the REST service (OpenAPI docs at /docs). Every endpoint but /health needs an API key:
    make one with `eventlens keys create --name NAME --scope write`."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from eventlens.service.app import create_app  # noqa: PLC0415

    overrides = {"workers": workers} if workers is not None else {}
    settings = load_settings(config_file, **overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(data_dir, settings)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=30)


@click.group("keys")
def keys_group() -> None:
    """API keys of the service: create (the key is printed once), list, revoke. Stored hashed."""


def _engine(data_dir: Path):  # type: ignore[no-untyped-def]
    from eventlens.service.db import DataDir, open_service_db  # noqa: PLC0415

    return open_service_db(DataDir(data_dir.resolve()))


@keys_group.command("create")
@click.option("--name", required=True, help="Who or what uses the key (e.g. the platform's backend).")
@click.option(
    "--scope",
    type=click.Choice(["read", "write", "admin"]),
    default="write",
    show_default=True,
    help="read: GET; write: also POST and DELETE of its own events and galleries; admin: everything.",
)
@_data_option
@fail_cleanly
def keys_create_cmd(name: str, scope: str, data_dir: Path) -> None:
    """Create a key and print it, once, on stdout (nothing else is printed there)."""
    from eventlens.service.keys import create_key  # noqa: PLC0415

    engine = _engine(data_dir)
    try:
        key, record = create_key(engine, name, scope)
    finally:
        engine.dispose()
    click.echo(key)
    click.echo(
        f"created key {record.key_id} ({record.scope}) for {record.name}; it is not shown again", err=True
    )


@keys_group.command("list")
@_data_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@fail_cleanly
def keys_list_cmd(data_dir: Path, as_json: bool) -> None:
    """List keys (ids, names, scopes, dates; never the keys)."""
    from dataclasses import asdict  # noqa: PLC0415

    from eventlens.service.keys import list_keys  # noqa: PLC0415

    engine = _engine(data_dir)
    try:
        keys = list_keys(engine)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([asdict(k) for k in keys], indent=2))
        return
    for k in keys:
        state = f"revoked {k.revoked_at}" if k.revoked_at else f"last used {k.last_used_at or 'never'}"
        click.echo(f"{k.key_id}  {k.scope:<5}  {k.name}  (created {k.created_at}, {state})")


@keys_group.command("revoke")
@click.argument("key_id")
@_data_option
@fail_cleanly
def keys_revoke_cmd(key_id: str, data_dir: Path) -> None:
    """Revoke a key by its id (see `eventlens keys list`)."""
    from eventlens.service.keys import revoke_key  # noqa: PLC0415

    engine = _engine(data_dir)
    try:
        key = revoke_key(engine, key_id)
    finally:
        engine.dispose()
    click.echo(f"revoked key {key.key_id} ({key.name})", err=True)


@click.command("watch")
@click.argument("inbox", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--gallery", "gallery_id", required=True, help="The gallery whose people to recognise.")
@_data_option
@_config_option
@click.option("--once", is_flag=True, help="Process the photos there now, then stop.")
@fail_cleanly
def watch_cmd(inbox: Path, gallery_id: str, data_dir: Path, config_file: Path | None, once: bool) -> None:
    """Recognise a gallery's people in each new photo dropped into INBOX; writes
    INBOX/processed/<name>.json per photo (and a recognition record, as the API's search does)."""
    from eventlens.service.watch import watch  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    n = watch(inbox, gallery_id, data_dir, load_settings(config_file), once=once)
    click.echo(f"processed {n} photos", err=True)
