"""A new password for the CLI (`jxc user add`): read from an environment variable the caller names, or typed
twice at a terminal. Never from the command line, where it would stay in the shell history and show in `ps`."""

from __future__ import annotations

import getpass
import os
import sys

MIN_LENGTH = 8  # as the web UI's password change asks (engine/web/account.py)


class PasswordProblem(Exception):
    """Why no password could be had; the message is for the person at the terminal."""


def read_new_password(name: str, *, env_var: str | None = None, ask: bool = False) -> str | None:
    """The password chosen for user `name`, or None when neither `env_var` nor `ask` was given."""
    if env_var is not None:
        password = os.environ.get(env_var)
        if not password:
            raise PasswordProblem(f"the environment variable {env_var} (from --password-env) is not set or empty")
    elif ask:
        if not sys.stdin.isatty():
            raise PasswordProblem("--ask-password needs a terminal to type at; give the password in an environment "
                                  "variable with --password-env VAR instead")
        password = getpass.getpass(f"password for {name}: ")
        if password != getpass.getpass("again: "):
            raise PasswordProblem("the two passwords differ")
    else:
        return None
    if len(password) < MIN_LENGTH:
        raise PasswordProblem(f"a password has at least {MIN_LENGTH} characters")
    return password


__all__ = ["MIN_LENGTH", "PasswordProblem", "read_new_password"]
