"""`jxc user add` with a password for the web UI: from an environment variable the command names, or typed
twice at a terminal; never on the command line. A refused password adds nobody."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from engine.cli import main
from engine.web.auth import verify_password

APP = str(Path(__file__).parent.parent / "apps" / "no_stock")


@pytest.fixture
def db(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'jxc.sqlite'}"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def stored(db: str) -> dict[str, str | None]:
    """Login name → password hash, as the web UI's login reads it."""
    engine = create_engine(db)
    try:
        with engine.connect() as connection:
            from sqlalchemy import MetaData, Table

            users = Table("jxc_user", MetaData(), autoload_with=connection)
            return dict(connection.execute(select(users.c.name, users.c.password_hash)).all())
    finally:
        engine.dispose()


def test_password_from_a_named_environment_variable(capsys, monkeypatch, db):
    monkeypatch.setenv("ZHANG_PASSWORD", "库房-2026-secret")
    code, out, _ = run(capsys, "user", "add", "zhang", "--role", "purchaser", "--password-env", "ZHANG_PASSWORD",
                       "--app", APP, "--db", db)
    assert code == 0
    assert out.strip() == "added user zhang (purchaser); they log in to the web UI with the password given"
    hashes = stored(db)
    assert hashes["zhang"] and hashes["zhang"].startswith("$argon2")  # hashed, never kept as typed
    assert verify_password(hashes["zhang"], "库房-2026-secret")
    assert not verify_password(hashes["zhang"], "库房-2026-secreT")


def test_without_a_password_option_the_user_has_none(capsys, db):
    code, out, _ = run(capsys, "user", "add", "li", "--app", APP, "--db", db)
    assert (code, out.strip()) == (0, "added user li (no roles yet)")
    assert stored(db) == {"li": None}


@pytest.mark.parametrize(("value", "message"), [
    (None, "the environment variable NEW_PW (from --password-env) is not set or empty; user wang not added"),
    ("", "the environment variable NEW_PW (from --password-env) is not set or empty; user wang not added"),
    ("short", "a password has at least 8 characters; user wang not added"),
])
def test_a_refused_password_adds_nobody(capsys, monkeypatch, db, value, message):
    run(capsys, "user", "add", "li", "--app", APP, "--db", db)  # the database exists, with someone else
    if value is None:
        monkeypatch.delenv("NEW_PW", raising=False)
    else:
        monkeypatch.setenv("NEW_PW", value)
    code, out, err = run(capsys, "user", "add", "wang", "--password-env", "NEW_PW", "--app", APP, "--db", db)
    assert (code, out) == (1, "")
    assert message in err and "Traceback" not in err
    assert list(stored(db)) == ["li"]


class Terminal:
    """A person at a terminal typing `answers` in turn at the password prompts."""

    def __init__(self, monkeypatch, *answers: str, tty: bool = True) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []
        monkeypatch.setattr("sys.stdin.isatty", lambda: tty)
        monkeypatch.setattr("getpass.getpass", self.getpass)

    def getpass(self, prompt: str = "") -> str:
        self.prompts.append(prompt)
        return self.answers.pop(0)


def test_password_typed_twice_at_a_terminal(capsys, monkeypatch, db):
    terminal = Terminal(monkeypatch, "typed-password-1", "typed-password-1")
    code, _, _ = run(capsys, "user", "add", "zhao", "--ask-password", "--app", APP, "--db", db)
    assert code == 0 and terminal.prompts == ["password for zhao: ", "again: "]
    assert verify_password(stored(db)["zhao"], "typed-password-1")


def test_typed_passwords_that_differ_add_nobody(capsys, monkeypatch, db):
    Terminal(monkeypatch, "typed-password-1", "typed-password-2")
    code, _, err = run(capsys, "user", "add", "zhao", "--ask-password", "--app", APP, "--db", db)
    assert code == 1 and "the two passwords differ; user zhao not added" in err
    assert not Path(db.removeprefix("sqlite:///")).exists()  # refused before the database was even opened


def test_asking_needs_a_terminal(capsys, monkeypatch, db):
    terminal = Terminal(monkeypatch, tty=False)
    code, _, err = run(capsys, "user", "add", "zhao", "--ask-password", "--app", APP, "--db", db)
    assert code == 1 and "--ask-password needs a terminal" in err and "--password-env VAR" in err
    assert terminal.prompts == []


def test_a_password_is_never_given_on_the_command_line(capsys, monkeypatch, db):
    monkeypatch.setenv("NEW_PW", "long-enough-1")
    with pytest.raises(SystemExit) as both:
        main(["user", "add", "zhao", "--password-env", "NEW_PW", "--ask-password", "--app", APP, "--db", db])
    assert both.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit) as typed:
        main(["user", "add", "zhao", "--password", "secret123", "--app", APP, "--db", db])
    assert typed.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err
