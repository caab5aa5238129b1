"""The device, web and CLI hooks, and a real third-party plugin package (tests/sample_plugin) installed and
found through its `jxc` entry point."""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

import engine.plugins
from engine import hookimpl
from engine.cli import main
from engine.plugins import (
    add_cli_commands,
    devices,
    form_widgets,
    plugin_manager,
    scan,
    template_folders,
    web_routes,
)

ROOT = Path(__file__).parent.parent
SAMPLE = Path(__file__).parent / "sample_plugin"


class Locations:
    @hookimpl
    def jxc_scan(self, app, text):
        if text.startswith("LOC-"):
            return {"kind": "location", "code": text[4:]}
        return None


class Greedy:
    """Reads every numeric code as its own item number, before the built-in GS1 reader sees it."""

    @hookimpl
    def jxc_scan(self, text):  # a hook implementation may take fewer arguments than the hook has
        return {"kind": "item", "code": f"internal-{text}"} if text.isdigit() else None


def test_scan_asks_plugins_until_one_recognises_the_code():
    manager = plugin_manager({"locations": Locations()}, entry_points=False)
    assert scan(manager, None, "LOC-A01\r\n") == {"kind": "location", "code": "A01"}
    assert scan(manager, None, "9506000134352")["gtin"] == "09506000134352"  # the built-in GS1 reader
    assert scan(manager, None, "unknown") is None


def test_first_match_wins_and_installed_plugins_come_before_built_ins():
    manager = plugin_manager({"greedy": Greedy(), "locations": Locations()}, entry_points=False)
    assert scan(manager, None, "9506000134352") == {"kind": "item", "code": "internal-9506000134352"}
    assert scan(manager, None, "(01)09506000134352")["code"] == "9506000134352"


def test_a_scan_result_must_say_what_it_found():
    class Sloppy:
        @hookimpl
        def jxc_scan(self, app, text):
            return "item 42"

    with pytest.raises(TypeError, match="expected a dict with 'kind' or 'error'"):
        scan(plugin_manager([Sloppy()], entry_points=False), None, "42")


async def _ok(request):
    return PlainTextResponse("ok")


class Web:
    @hookimpl
    def jxc_web_routes(self, app):
        return [Route("/plugins/web/ok", _ok), Mount("/plugins/web/static", routes=[])]

    @hookimpl
    def jxc_form_widgets(self):
        return {"stars": "web/stars.html"}

    @hookimpl
    def jxc_template_folders(self):
        return [Path(__file__).parent]

    @hookimpl
    def jxc_devices(self):
        return {"fake_scale": lambda port: f"scale on {port}"}


def test_web_routes_widgets_templates_and_devices_are_collected():
    manager = plugin_manager({"web": Web()}, entry_points=False)
    routes = web_routes(manager, app=None)
    assert [route.path for route in routes] == ["/plugins/web/ok", "/plugins/web/static"]
    assert form_widgets(manager, None) == {"stars": "web/stars.html"}
    assert template_folders(manager, None) == [Path(__file__).parent]
    assert devices(manager)["fake_scale"]("COM3") == "scale on COM3"


def test_in_process_web_routes_are_served():
    manager = plugin_manager({"web": Web()}, entry_points=False)
    web = Starlette(routes=web_routes(manager, None))
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/plugins/web/ok", "headers": [], "query_string": b"",
             "root_path": "", "scheme": "http", "server": ("test", 80)}
    asyncio.run(web(scope, receive, send))
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"ok"


def test_two_plugins_may_not_define_the_same_widget_or_device():
    class Other:
        @hookimpl
        def jxc_form_widgets(self):
            return {"stars": "other/stars.html"}

        @hookimpl
        def jxc_devices(self):
            return {"fake_scale": object}

    manager = plugin_manager({"web": Web(), "other": Other()}, entry_points=False)
    with pytest.raises(ValueError, match="form widget stars is defined twice: by other and by web"):
        form_widgets(manager, None)
    with pytest.raises(ValueError, match="device driver fake_scale is defined twice: by other and by web"):
        devices(manager)


def test_plugin_mistakes_in_web_hooks_are_named():
    class Broken:
        @hookimpl
        def jxc_web_routes(self):
            return ["/not/a/route"]

        @hookimpl
        def jxc_template_folders(self):
            return ["/no/such/folder"]

    manager = plugin_manager({"broken": Broken()}, entry_points=False)
    with pytest.raises(TypeError, match="plugin broken returned '/not/a/route' from jxc_web_routes"):
        web_routes(manager, app=None)
    with pytest.raises(ValueError, match="plugin broken's template folder /no/such/folder does not exist"):
        template_folders(manager, None)


class Hello:
    @hookimpl
    def jxc_cli_commands(self, subparsers):
        hello = subparsers.add_parser("hello", help="say hello")
        hello.add_argument("name")
        hello.add_argument("--fail", action="store_true")
        hello.set_defaults(handler=lambda args: print(f"hello, {args.name}") or (5 if args.fail else None))


@pytest.fixture
def cli_plugins(monkeypatch):
    """Make `jxc` use these plugins (and no installed ones)."""
    def use(**plugins):
        monkeypatch.setattr(engine.plugins, "plugin_manager",
                            lambda: plugin_manager(plugins, entry_points=False))
    return use


def test_a_plugin_adds_a_jxc_command(cli_plugins, capsys):
    cli_plugins(hello=Hello())
    assert main(["hello", "world"]) == 0
    assert capsys.readouterr().out == "hello, world\n"
    assert main(["hello", "world", "--fail"]) == 5
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "say hello" in capsys.readouterr().out


def test_a_plugin_command_may_not_take_a_jxc_command_name(cli_plugins, capsys):
    class Clash:
        @hookimpl
        def jxc_cli_commands(self, subparsers):
            subparsers.add_parser("check").set_defaults(handler=print)

    cli_plugins(clash=Clash())
    assert main(["formula", "1 + 1"]) == 0  # jxc still works, without the plugin's commands
    captured = capsys.readouterr()
    assert "= 2" in captured.out
    assert "jxc: warning: plugin commands are not available (ValueError: plugin clash: " in captured.err
    assert "conflicting subparser: check" in captured.err


def test_a_plugin_command_needs_a_handler():
    class NoHandler:
        @hookimpl
        def jxc_cli_commands(self, subparsers):
            subparsers.add_parser("idle")

    commands = argparse.ArgumentParser().add_subparsers()
    with pytest.raises(ValueError, match="plugin no_handler's command idle has no handler"):
        add_cli_commands(plugin_manager({"no_handler": NoHandler()}, entry_points=False), commands)


# --- a third-party plugin package, installed (outside the venv) and found through its entry point ---------------


# The installing tests share one worker under xdist, so the package is built once.
installed = pytest.mark.xdist_group("sample_plugin")


def _install(source: Path, target: Path) -> Path:
    """pip-install a copy of `source` into the folder `target` (not the venv; the source tree stays clean)."""
    copy = target.parent / f"{target.name}-src"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
                             "--disable-pip-version-check", "--target", str(target), str(copy)],
                            capture_output=True, text=True, timeout=600)
    if result.returncode:
        pytest.fail(f"pip could not install {source.name}:\n{result.stdout}\n{result.stderr}")
    return target


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory) -> Path:
    return _install(SAMPLE, tmp_path_factory.mktemp("plugins") / "site")


@pytest.fixture(scope="module")
def broken_site(sample_site, tmp_path_factory) -> Path:
    """The sample plugin with a misspelt hook, as a careless author might release it: the installed sample, copied
    (a second pip install of the same package would take seconds), with the hook misspelt in its module and the
    module's hash and size in the RECORD of installed files, as pip writes them."""
    site = shutil.copytree(sample_site, tmp_path_factory.mktemp("broken") / "site",
                           ignore=shutil.ignore_patterns("__pycache__"))  # what the sample's tests compiled
    module = site / "jxc_sample" / "__init__.py"
    text = module.read_text(encoding="utf-8")
    assert "def jxc_scan(" in text
    data = text.replace("def jxc_scan(", "def jxc_scann(").encode("utf-8")
    module.write_bytes(data)
    record = site / "jxc_sample-1.0.0.dist-info" / "RECORD"
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    lines = record.read_text(encoding="utf-8").splitlines()
    entry = "jxc_sample/__init__.py,"
    assert sum(line.startswith(entry) for line in lines) == 1
    record.write_text("\n".join(f"{entry}sha256={digest},{len(data)}" if line.startswith(entry) else line
                                for line in lines) + "\n", encoding="utf-8")
    return site


def _env(site: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("JXC_DEBUG", None)
    return env


def run_python(site: Path, script: str, cwd: Path = ROOT) -> dict:
    """Run `script` in a fresh interpreter that has the plugin installed; it prints one JSON value."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                            env=_env(site), cwd=cwd, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_jxc(site: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("jxc")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "engine.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=_env(site), cwd=cwd, timeout=120)


@installed
def test_the_sample_plugin_is_found_through_its_entry_point(sample_site):
    assert not (SAMPLE / "build").exists() and not list(SAMPLE.glob("*.egg-info"))  # the source tree stays clean
    found = run_python(sample_site, """
        import json
        from importlib.metadata import entry_points
        from engine.plugins import plugin_manager, settings_schemas
        manager = plugin_manager()
        plugin = manager.get_plugin("jxc_sample")
        print(json.dumps({
            "entry_points": [(e.name, e.value) for e in entry_points(group="jxc")],
            "module": plugin.__name__, "file": plugin.__file__,
            "dist": [(dist.project_name, dist.version) for _, dist in manager.list_plugin_distinfo()],
            "hooks": sorted(h.name for h in manager.get_hookcallers(plugin)),
            "schema": settings_schemas(manager)["jxc_sample"]["required"],
        }))
    """)
    assert found["entry_points"] == [["jxc_sample", "jxc_sample"]]
    assert found["module"] == "jxc_sample" and found["file"].startswith(str(sample_site))
    assert found["dist"] == [["jxc-sample", "1.0.0"]]
    assert found["hooks"] == ["jxc_before_submit", "jxc_cli_commands", "jxc_form_widgets", "jxc_formula_functions",
                              "jxc_scan", "jxc_settings_schema", "jxc_template_folders", "jxc_web_routes"]
    assert found["schema"] == ["limit"]


@installed
def test_its_formula_function_and_settings_work_in_an_app(sample_site, tmp_path):
    app = tmp_path / "apps" / "shop"
    app.mkdir(parents=True)
    (app / "app.yaml").write_text(textwrap.dedent("""\
        name: shop
        title: 小店
        plugins:
          jxc_sample: {limit: 500}
        entities:
          item:
            fields:
              price: decimal
              bulk_price: {type: decimal, formula: "TRIPLE(price)"}
    """), encoding="utf-8")
    (tmp_path / "apps" / "bad").mkdir()
    (tmp_path / "apps" / "bad" / "app.yaml").write_text(
        (app / "app.yaml").read_text(encoding="utf-8").replace("{limit: 500}", "{limit: -1, colour: red}"),
        encoding="utf-8")
    found = run_python(sample_site, """
        import json
        from decimal import Decimal
        from dsl.loader import load_app
        from dsl.problems import CheckFailed
        from engine.plugins import channels, formula_registry, plugin_manager, settings_schemas
        manager = plugin_manager()
        def load(path):
            return load_app(path, registry=formula_registry(manager), channels=channels(manager),
                            plugins=settings_schemas(manager))
        app = load("apps/shop")
        formula = app.entities["item"].fields["bulk_price"].formula
        try:
            load("apps/bad")
            problems = []
        except CheckFailed as failed:
            problems = [str(problem).splitlines()[0] for problem in failed.problems]
        print(json.dumps({
            "value": str(formula.python({"price": Decimal("2.5")}, None)),
            "by": app.registry.get("TRIPLE").plugin,
            "settings": dict(app.plugins["jxc_sample"]),
            "problems": problems,
        }))
    """, cwd=tmp_path)
    assert found["value"] == "7.5"
    assert found["by"] == "jxc_sample"
    assert found["settings"] == {"limit": 500}
    assert found["problems"] == [
        "apps/bad/app.yaml:4:15: error: plugin jxc_sample: Additional properties are not allowed ('colour' was "
        "unexpected)",
        "apps/bad/app.yaml:4:23: error: plugin jxc_sample: -1 is less than the minimum of 0"]


def _apps_with_and_without_the_sample(folder: Path) -> None:
    """apps/shop enables jxc_sample under plugins:, apps/plain does not."""
    for name, plugins in (("shop", "plugins:\n  jxc_sample: {limit: 500}\n"), ("plain", "")):
        (folder / "apps" / name).mkdir(parents=True)
        (folder / "apps" / name / "app.yaml").write_text(f"name: {name}\ntitle: 小店\n{plugins}", encoding="utf-8")


_LOAD = """
        from dsl.loader import load_app
        from engine.plugins import channels, formula_registry, plugin_manager, settings_schemas
        manager = plugin_manager()
        def load(path):
            return load_app(path, registry=formula_registry(manager), channels=channels(manager),
                            plugins=settings_schemas(manager))
"""  # indented as the scripts it starts


@installed
def test_its_scan_veto_route_and_widget_hooks_run(sample_site, tmp_path):
    _apps_with_and_without_the_sample(tmp_path)
    found = run_python(sample_site, _LOAD + """
        import asyncio, json
        from starlette.applications import Starlette
        from engine.plugins import form_widgets, scan, template_folders, web_routes
        shop = load("apps/shop")
        web = Starlette(routes=web_routes(manager, shop))
        sent = []
        async def receive():
            return {"type": "http.request", "body": b""}
        async def send(message):
            sent.append(message)
        scope = {"type": "http", "method": "GET", "path": "/plugins/jxc_sample/hello", "headers": [],
                 "query_string": b"", "root_path": "", "scheme": "http", "server": ("test", 80)}
        asyncio.run(web(scope, receive, send))
        vetoes = manager.hook.jxc_before_submit(session=None, entity=None, record={"total": "1200"}, connection=None)
        folder = template_folders(manager, shop)[0]
        print(json.dumps({
            "sample": scan(manager, None, "SAMPLE:X-9"),
            "gs1": scan(manager, None, "(01)09506000134352")["code"],
            "status": sent[0]["status"], "body": sent[1]["body"].decode(),
            "vetoes": vetoes,
            "widget": form_widgets(manager, shop)["stars"],
            "template": (folder / form_widgets(manager, shop)["stars"]).is_file(),
        }))
    """, cwd=tmp_path)
    assert found["sample"] == {"kind": "item", "code": "X-9"}
    assert found["gs1"] == "9506000134352"  # the built-in reader still reads what the plugin does not
    assert (found["status"], found["body"]) == (200, "hello from jxc_sample")
    assert found["vetoes"] == ["jxc_sample: totals above 1000 need approval"]
    assert found["widget"] == "jxc_sample/stars.html" and found["template"]


@installed
def test_its_pages_templates_and_widgets_are_only_for_apps_that_enable_it(sample_site, tmp_path):
    _apps_with_and_without_the_sample(tmp_path)
    found = run_python(sample_site, _LOAD + """
        import json
        from engine.plugins import form_widgets, template_folders, web_routes
        def used(app):
            return {"routes": [route.path for route in web_routes(manager, app)],
                    "folders": [folder.parent.name for folder in template_folders(manager, app)],
                    "widgets": sorted(form_widgets(manager, app))}
        print(json.dumps({"shop": used(load("apps/shop")), "plain": used(load("apps/plain")), "none": used(None)}))
    """, cwd=tmp_path)
    assert found["shop"] == {"routes": ["/plugins/jxc_sample/hello"], "folders": ["jxc_sample"], "widgets": ["stars"]}
    assert found["plain"] == found["none"] == {"routes": [], "folders": [], "widgets": []}


@installed
def test_its_page_is_served_only_by_an_app_that_enables_it(sample_site, tmp_path):
    """Through jxc's own web app (engine.web.app.create_app), as `jxc serve` builds it."""
    _apps_with_and_without_the_sample(tmp_path)
    found = run_python(sample_site, """
        import json
        from starlette.testclient import TestClient
        from engine.startup import start
        from engine.web.app import create_app
        statuses = {}
        for name in ("shop", "plain"):
            started = start(f"apps/{name}", f"sqlite:///{name}.sqlite")
            with TestClient(create_app(started)) as client:
                statuses[name] = client.get("/plugins/jxc_sample/hello").status_code
            started.engine.dispose()
        print(json.dumps(statuses))
    """, cwd=tmp_path)
    assert found == {"shop": 200, "plain": 404}


@installed
def test_its_command_runs_through_jxc(sample_site):
    result = run_jxc(sample_site, "sample-hello", "世界", "--times", "2")
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello, 世界\nhello, 世界\n", "")
    assert run_jxc(sample_site, "sample-hello", "nobody").returncode == 3  # the handler's exit code
    help_text = run_jxc(sample_site, "--help").stdout
    assert "sample-hello" in help_text and "greet someone (from the jxc_sample plugin)" in help_text


@installed
def test_a_misspelt_hook_in_an_installed_plugin_is_refused(broken_site, tmp_path):
    found = run_python(broken_site, """
        import json, pluggy
        from engine.plugins import plugin_manager
        try:
            plugin_manager()
            print(json.dumps("accepted"))
        except pluggy.PluginValidationError as error:
            print(json.dumps(str(error)))
    """)
    assert found.startswith("unknown hook 'jxc_scann' in plugin <module 'jxc_sample'")
    (tmp_path / "apps" / "shop").mkdir(parents=True)
    (tmp_path / "apps" / "shop" / "app.yaml").write_text("name: shop\ntitle: 小店\n", encoding="utf-8")
    result = run_jxc(broken_site, "check", "apps/shop", cwd=tmp_path)
    assert result.returncode == 1
    assert "jxc: the plugin jxc_sample is broken, ask its author to fix it: unknown hook 'jxc_scann'" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_the_package_the_plugin_is_not_there():
    """The venv itself stays untouched: the sample plugin exists only where a test installed it."""
    assert plugin_manager().get_plugin("jxc_sample") is None
