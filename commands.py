"""Command-line tools: ``flask create-user`` and ``flask demo-data``."""

from __future__ import annotations

import re

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import with_appcontext

import demo
from models import ROLES, Team, User, db, default_compensation_limit, record


def register(app: Flask) -> None:
    app.cli.add_command(create_user)
    app.cli.add_command(demo_data)
    app.cli.add_command(demo_logins)


@click.command("create-user")
@with_appcontext
@click.argument("username")
@click.option("--role", type=click.Choice(list(ROLES)), default="agent", show_default=True)
@click.option("--name", "display_name", help="Name shown to colleagues (default: the username).")
@click.option("--team", "team_name", help="Name of an existing team.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user(username, role, display_name, team_name, password):
    """Create an account (an administrator for a fresh install, for example)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", username):
        raise click.UsageError("the username takes letters, digits, dot, dash or underscore (at most 64)")
    if not 8 <= len(password) <= 128:
        raise click.UsageError("the password needs 8 to 128 characters")
    if db.session.scalar(User.by_username(username)) is not None:
        raise click.UsageError(f"user {username!r} exists already")
    team = None
    if team_name:
        team = db.session.scalar(sa.select(Team).where(Team.name == team_name))
        if team is None:
            names = ", ".join(db.session.scalars(sa.select(Team.name)).all())
            raise click.UsageError(f"no team named {team_name!r}; teams: {names}")
    user = User(username=username, display_name=display_name or username, role=role, team=team,
                compensation_limit=default_compensation_limit(role), password_hash="")
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    record(None, "user", user.id, "created", username=username, role=role, via="command line")
    db.session.commit()
    click.echo(f"created {role} {username}")


@click.command("demo-data")
@with_appcontext
@click.option("--cases", "case_count", default=200, show_default=True, help="How many after-sales cases to create.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
@click.option("--seed", default=7, show_default=True, help="Random seed, for repeatable data.")
def demo_data(case_count, if_empty, seed):
    """Fill the database with a believable demo shop."""
    if if_empty and db.session.scalar(sa.select(sa.func.count()).select_from(User)):
        click.echo("the database has users already: demo data not loaded")
        return
    summary = demo.create(case_count=case_count, seed=seed)
    click.echo(summary)


@click.command("demo-logins")
@with_appcontext
def demo_logins():
    """Print the demo accounts that exist in this database."""
    click.echo(f"  Demo logins (password {demo.DEMO_PASSWORD}):")
    for username, role, name in demo.demo_logins():
        user = db.session.scalar(User.by_username(username))
        if user is not None and user.active and user.check_password(demo.DEMO_PASSWORD):
            click.echo(f"    {username:<10} {role:<9} {name}")
