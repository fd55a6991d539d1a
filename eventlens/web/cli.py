"""``eventlens users``: the web UI's users (added to :mod:`eventlens.cli`). Passwords are read from a
prompt (or one line of stdin with ``--password-stdin``), never from the command line, and stored hashed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from eventlens.cli_common import fail_cleanly
from eventlens.service.cli import _data_option, _engine

_ROLES = ["viewer", "editor", "admin"]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


_password_stdin = click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin (scripts)."
)


@click.group("users")
def users_group() -> None:
    """Users of the web UI: create, list, delete, set-password. Roles: viewer (reads), editor (also
    corrects people and starts runs), admin (also deletes events)."""


@users_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(_ROLES), default="editor", show_default=True)
@_password_stdin
@_data_option
@fail_cleanly
def users_create_cmd(username: str, role: str, password_stdin: bool, data_dir: Path) -> None:
    """Create a user (the password is asked for; at least 10 characters)."""
    from eventlens.service.users import create_user  # noqa: PLC0415

    password = _password(password_stdin)
    engine = _engine(data_dir)
    try:
        user = create_user(engine, username, password, role)
    finally:
        engine.dispose()
    click.echo(f"created user {user.username} ({user.role})", err=True)


@users_group.command("list")
@_data_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@fail_cleanly
def users_list_cmd(data_dir: Path, as_json: bool) -> None:
    """List users and their roles (never a password or its hash)."""
    from dataclasses import asdict  # noqa: PLC0415

    from eventlens.service.users import list_users  # noqa: PLC0415

    engine = _engine(data_dir)
    try:
        found = list_users(engine)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([asdict(u) for u in found], indent=2))
        return
    for u in found:
        click.echo(
            f"{u.username}  {u.role:<6}  (created {u.created_at}, password set {u.password_changed_at})"
        )


@users_group.command("delete")
@click.argument("username")
@_data_option
@fail_cleanly
def users_delete_cmd(username: str, data_dir: Path) -> None:
    """Delete a user; their sessions end at once."""
    from eventlens.service.users import delete_user  # noqa: PLC0415

    engine = _engine(data_dir)
    try:
        ended = delete_user(engine, username)
    finally:
        engine.dispose()
    click.echo(f"deleted user {username} ({ended} sessions ended)", err=True)


@users_group.command("set-password")
@click.argument("username")
@_password_stdin
@_data_option
@fail_cleanly
def users_set_password_cmd(username: str, password_stdin: bool, data_dir: Path) -> None:
    """Change a user's password; their sessions end at once."""
    from eventlens.service.users import set_password  # noqa: PLC0415

    password = _password(password_stdin)
    engine = _engine(data_dir)
    try:
        ended = set_password(engine, username, password)
    finally:
        engine.dispose()
    click.echo(f"changed the password of {username} ({ended} sessions ended)", err=True)
