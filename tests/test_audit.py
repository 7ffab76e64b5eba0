"""`fast-litellm audit` on real installed trees.

Wheels are built here with zipfile and installed with pip (``--no-index``: no
network) into throw-away virtualenvs, then tampered with. Each check runs the
real CLI entry point (``fast_litellm.cli.main``) with ``--path`` on the copy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Tuple

import pytest

from fast_litellm import audit, cli

DISTUTILS_LINE = ("import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; "
                  "enabled and __import__('_distutils_hack').add_shim(); \n")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(dest: Path, name: str, version: str, files: dict, console_scripts: dict = None) -> Path:
    """A minimal pure-Python wheel (PEP 427) written with zipfile."""
    files = {k: (v.encode() if isinstance(v, str) else v) for k, v in files.items()}
    stem = f"{name.replace('-', '_')}-{version}"
    dist_info = f"{stem}.dist-info"
    files[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode()
    files[f"{dist_info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: fast-litellm-tests\nRoot-Is-Purelib: true\n"
                                   b"Tag: py3-none-any\n")
    if console_scripts:
        files[f"{dist_info}/entry_points.txt"] = ("[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in console_scripts.items())).encode()
    record = "".join(f"{p},sha256={_b64(d)},{len(d)}\n" for p, d in files.items()) + f"{dist_info}/RECORD,,\n"
    path = dest / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for p, d in files.items():
            zf.writestr(p, d)
        zf.writestr(f"{dist_info}/RECORD", record)
    return path


DEMO_FILES = {
    "demo_pkg/__init__.py": "from .core import answer\n",
    "demo_pkg/core.py": "def answer():\n    return 42\n",
    "demo_pkg/sub/__init__.py": "",
    "demo_pkg/sub/helpers.py": "VALUE = 'ok'\n",
    "demo_pkg/data/table.txt": "a,b\n1,2\n",
}


def _pip(venv_python: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv_python), "--disable-pip-version-check",
                    "-q", "install", "--no-index", "--no-deps", "--no-cache-dir", *args], check=True)


def _site(venv: Path) -> Path:
    return next((venv / "lib").glob("python*/site-packages"))


@pytest.fixture(scope="session")
def demo_venv(tmp_path_factory) -> Path:
    """A fresh virtualenv (no pip) with the demo wheel installed by pip, and its
    bytecode written by a later import (as on a real host)."""
    root = tmp_path_factory.mktemp("audit")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    wheel = build_wheel(root, "demo-pkg", "1.0", dict(DEMO_FILES), {"demo-answer": "demo_pkg:answer"})
    _pip(venv / "bin" / "python", "--no-compile", str(wheel))
    # bytecode written after install (compileall writes it even under PYTHONDONTWRITEBYTECODE)
    subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-q", str(_site(venv) / "demo_pkg")],
                   check=True)
    return venv


@pytest.fixture
def venv(demo_venv, tmp_path) -> Path:
    copy = tmp_path / "venv"
    shutil.copytree(demo_venv, copy, symlinks=True)
    return copy


@pytest.fixture(scope="session")
def empty_host(tmp_path_factory) -> Path:
    """A host root with no markers and no other site-packages (the real host is not the subject)."""
    return tmp_path_factory.mktemp("host")


@pytest.fixture(autouse=True)
def _hermetic_host(empty_host, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "HOST_ROOT", str(empty_host))


HOST_ROOT = None


def run(capsys, *argv: str):
    if "--host-root" not in argv:
        argv = (*argv, "--host-root", HOST_ROOT)
    rc = cli.main(["audit", "--json", *argv])
    out = capsys.readouterr().out
    report = json.loads(out)
    assert report["exit_code"] == rc
    return rc, report


def kinds(report) -> list:
    return sorted(f["kind"] for f in report["findings"])


def test_clean_tree_passes(venv, capsys):
    rc, r = run(capsys, "--path", str(_site(venv)), "--dist", "demo-pkg")
    assert rc == 0, r
    [d] = r["distributions"]
    assert (d["name"], d["version"], d["issues"], d["unlisted"]) == ("demo-pkg", "1.0", 0, 0)
    # every hashed RECORD entry: the 5 files, METADATA, WHEEL, entry_points, INSTALLER, REQUESTED, the script...
    assert d["verified"] >= len(DEMO_FILES) + 3
    # bytecode written after install is info, not a finding
    assert d["cached_bytecode"] >= 3
    assert r["findings"] == [] and r["errors"] == []


def test_modified_file(venv, capsys):
    target = _site(venv) / "demo_pkg" / "core.py"
    target.write_text("def answer():\n    return 43\n")
    rc, r = run(capsys, "--path", str(_site(venv)), "--dist", "demo-pkg")
    assert rc == 1
    assert kinds(r) == ["modified"]
    assert r["findings"][0]["path"] == "demo_pkg/core.py"


def test_modified_console_script_outside_site_packages(venv, capsys):
    script = venv / "bin" / "demo-answer"
    script.write_text(script.read_text() + "\nimport os\n")
    rc, r = run(capsys, "--path", str(_site(venv)), "--dist", "demo-pkg")
    assert rc == 1
    assert [f["path"] for f in r["findings"]] == ["../../../bin/demo-answer"]


def test_deleted_file(venv, capsys):
    (_site(venv) / "demo_pkg" / "data" / "table.txt").unlink()
    rc, r = run(capsys, "--path", str(_site(venv)), "--dist", "demo-pkg")
    assert rc == 1
    assert kinds(r) == ["missing"]
    assert r["findings"][0]["path"] == "demo_pkg/data/table.txt"


def test_extra_file_and_orphan_bytecode(venv, capsys):
    pkg = _site(venv) / "demo_pkg"
    (pkg / "sub" / "backdoor.py").write_text("import os\n")
    (pkg / "__pycache__" / "ghost.cpython-311.pyc").write_bytes(b"\x00" * 16)
    rc, r = run(capsys, "--path", str(_site(venv)), "--dist", "demo-pkg")
    assert rc == 1
    assert sorted((f["kind"], f["path"]) for f in r["findings"]) == [
        ("orphan_bytecode", "demo_pkg/__pycache__/ghost.cpython-311.pyc"),
        ("unlisted", "demo_pkg/sub/backdoor.py"),
    ]


def test_malicious_pth_unowned_and_owned(venv, tmp_path, capsys):
    site = _site(venv)
    (site / "zz_evil.pth").write_text("# looks harmless\n/opt/somewhere\nimport os; os.environ.setdefault('X', '1')\n")
    rc, r = run(capsys, "--path", str(site), "--dist", "demo-pkg")
    assert rc == 1
    [f] = r["findings"]
    assert (f["kind"], f["owner"], f["line_number"]) == ("pth_exec", "unowned", 3)
    assert f["line"].startswith("import os;")

    # the same payload shipped inside a wheel: reported with its owning distribution
    wheel = build_wheel(tmp_path, "sneaky", "0.1", {"sneaky_init.pth": "import sys\n", "sneaky/__init__.py": ""})
    _pip(venv / "bin" / "python", str(wheel))
    rc, r = run(capsys, "--path", str(site), "--dist", "sneaky")
    assert rc == 1
    owners = sorted((f["owner"], Path(f["path"]).name) for f in r["findings"])
    assert owners == [("sneaky", "sneaky_init.pth"), ("unowned", "zz_evil.pth")]


def test_pth_allowlist_is_by_content_and_owner(venv, tmp_path, capsys):
    site = _site(venv)
    # setuptools' shim content, but not installed by setuptools: a finding
    (site / "distutils-precedence.pth").write_text(DISTUTILS_LINE)
    rc, r = run(capsys, "--path", str(site), "--dist", "demo-pkg")
    assert rc == 1 and kinds(r) == ["pth_exec"]
    (site / "distutils-precedence.pth").unlink()

    # installed by a distribution named setuptools: known benign, reported as info
    wheel = build_wheel(tmp_path, "setuptools", "99.0", {"distutils-precedence.pth": DISTUTILS_LINE,
                                                         "_distutils_hack/__init__.py": ""})
    _pip(venv / "bin" / "python", str(wheel))
    rc, r = run(capsys, "--path", str(site), "--dist", "demo-pkg")
    assert rc == 0, r["findings"]
    assert [i["allowlist_id"] for i in r["info"] if i["kind"] == "pth_allowlisted"] == [
        "setuptools-distutils-precedence"]

    # a benign file name with other content is not allowlisted
    (site / "distutils-precedence.pth").write_text(DISTUTILS_LINE + "import socket\n")
    rc, r = run(capsys, "--path", str(site), "--dist", "demo-pkg")
    assert rc == 1
    assert [(f["kind"], f["line"]) for f in r["findings"]] == [("pth_exec", "import socket")]
    assert any(f["kind"] == "modified" for f in run(capsys, "--path", str(site), "--dist", "setuptools")[1]["findings"])

    # a reviewed file can be accepted explicitly by its hash
    sha = hashlib.sha256((site / "distutils-precedence.pth").read_bytes()).hexdigest()
    rc, r = run(capsys, "--path", str(site), "--dist", "demo-pkg", "--allow", sha)
    assert rc == 0


def test_startup_module_in_site_dir(venv, capsys):
    (_site(venv) / "sitecustomize.py").write_text("print('hi')\n")
    rc, r = run(capsys, "--path", str(_site(venv)), "--dist", "demo-pkg")
    assert rc == 1 and kinds(r) == ["startup_module"]


def _fake_litellm(site: Path, version: str) -> None:
    """A dummy distribution whose metadata claims to be litellm ``version``."""
    dist_info = site / f"litellm-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (site / "litellm").mkdir()
    files = {"litellm/__init__.py": b"", f"litellm-{version}.dist-info/METADATA":
             f"Metadata-Version: 2.1\nName: litellm\nVersion: {version}\n\nbody\n".encode()}
    for rel, data in files.items():
        (site / rel).write_bytes(data)
    record = "".join(f"{p},sha256={_b64(d)},{len(d)}\n" for p, d in files.items())
    (dist_info / "RECORD").write_text(record + f"litellm-{version}.dist-info/RECORD,,\n")


@pytest.mark.parametrize("version", ["1.82.7", "1.82.8"])
def test_known_compromised_release(tmp_path, capsys, version):
    site = tmp_path / "site-packages"
    _fake_litellm(site, version)
    rc, r = run(capsys, "--path", str(site))  # default targets: litellm (+ fast-litellm if present)
    assert rc == 1
    f, deleted = r["findings"]
    assert (f["kind"], f["severity"], f["version"]) == ("compromised_release", "critical", version)
    assert any("github.com/BerriAI/litellm/issues/24518" in s for s in f["sources"])
    assert (deleted["kind"], deleted["severity"]) == ("no_published_wheel", "critical")
    assert "deleted from PyPI" in deleted["message"]
    assert r["distributions"][0]["issues"] == 0  # its files are intact: the release itself is the problem


def test_clean_litellm_version_and_human_output(tmp_path, capsys):
    site = tmp_path / "site-packages"
    _fake_litellm(site, "1.82.6")
    assert cli.main(["audit", "--path", str(site), "--host-root", HOST_ROOT]) == 0
    out = capsys.readouterr().out
    assert "litellm 1.82.6" in out and "result: clean (exit 0)" in out
    _fake_litellm(tmp_path / "other", "1.82.8")
    assert cli.main(["audit", "--path", str(site), "--path", str(tmp_path / "other"), "--host-root", HOST_ROOT]) == 1
    out = capsys.readouterr().out
    assert "compromised_release" in out and "shadowed" in out  # the shadowed copy is still checked


def test_known_bad_pth_file(venv, capsys, monkeypatch):
    payload = b"import base64; exec(base64.b64decode('cHJpbnQoMSk='))\n"
    (_site(venv) / "litellm_init.pth").write_bytes(payload)
    data = audit.load_data("compromised.json")
    data["files"] = [dict(data["files"][0], sha256=hashlib.sha256(payload).hexdigest())]
    real = audit.load_data
    monkeypatch.setattr(audit, "load_data", lambda name: data if name == "compromised.json" else real(name))
    rc, r = run(capsys, "--path", str(_site(venv)), "--dist", "demo-pkg")
    assert rc == 1 and kinds(r) == ["known_bad_file"]


def test_could_not_check(tmp_path, capsys):
    rc, r = run(capsys, "--path", str(tmp_path / "nope"))
    assert rc == 2 and {e["kind"] for e in r["errors"]} >= {"path_not_found"}
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, r = run(capsys, "--path", str(empty))  # litellm absent: nothing to verify
    assert rc == 2 and [e["kind"] for e in r["errors"]] == ["not_installed"]
    _fake_litellm(empty, "1.0.0")
    (empty / "litellm-1.0.0.dist-info" / "RECORD").unlink()
    rc, r = run(capsys, "--path", str(empty))
    assert rc == 2 and [e["kind"] for e in r["errors"]] == ["no_record"]


def test_findings_win_over_errors(venv, capsys):
    (_site(venv) / "demo_pkg" / "core.py").write_text("x = 1\n")
    rc, r = run(capsys, "--path", str(_site(venv)), "--dist", "demo-pkg", "--dist", "not-there")
    assert rc == 1 and r["errors"] and r["findings"]


def test_rust_and_python_engines_agree(venv, capsys):
    site = _site(venv)
    pkg = site / "demo_pkg"
    (pkg / "core.py").write_text("tampered = True\n")
    (pkg / "sub" / "helpers.py").unlink()
    (pkg / "extra.so").write_bytes(b"\x7fELF")
    (pkg / "__pycache__" / "gone.cpython-311.pyc").write_bytes(b"")
    (site / "x.pth").write_text("import this\n")
    _fake_litellm(site, "1.82.7")
    args = ["--path", str(site), "--all"]
    rc_rust, rust = run(capsys, *args)
    rc_py, py = run(capsys, *args, "--engine", "python")
    assert rust["engine"] == "rust" and py["engine"] == "python"
    assert rc_rust == rc_py == 1
    assert rust["findings"] == py["findings"]
    assert rust["distributions"] == py["distributions"]
    # modified, missing, unlisted .so, 2 orphan .pyc (ours + helpers' now-sourceless one), .pth, litellm 1.82.7
    assert sorted(kinds(rust)) == ["compromised_release", "missing", "modified", "no_published_wheel",
                                   "orphan_bytecode", "orphan_bytecode", "pth_exec", "unlisted"]


def test_no_network_and_no_litellm_import(venv, tmp_path):
    """Run in a fresh interpreter with sockets disabled; litellm must not be imported."""
    code = (
        "import socket, sys\n"
        "def boom(*a, **k): raise AssertionError('network access attempted')\n"
        "socket.socket.connect = socket.socket.connect_ex = socket.socket.sendto = boom\n"
        "socket.create_connection = socket.getaddrinfo = boom\n"
        "from fast_litellm import cli\n"
        f"rc = cli.main(['audit', '--path', {str(_site(venv))!r}, '--dist', 'demo-pkg', '--all', '--host-root', "
        f"{HOST_ROOT!r}])\n"
        "assert 'litellm' not in sys.modules, 'litellm was imported'\n"
        "sys.exit(rc)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(audit.__file__).parents[1])] + sys.path))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_real_venv_with_pip_is_clean(tmp_path, capsys):
    """A virtualenv exactly as `python -m venv` makes it (pip, and setuptools with its
    distutils-precedence.pth on Python < 3.12) passes `--all`."""
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    rc, r = run(capsys, "--path", str(_site(venv)), "--all")
    assert rc == 0, r["findings"] + r["errors"]
    assert {d["name"] for d in r["distributions"]} >= {"pip"}


def test_litellm_ui_relocation_is_info(tmp_path, capsys):
    """The LiteLLM proxy moves out/<route>.html to out/<route>/index.html at start."""
    site = tmp_path / "site-packages"
    _fake_litellm(site, "1.82.6")  # older than the published-RECORD manifest: its RECORD is not compared
    ui = site / "litellm" / "proxy" / "_experimental" / "out"
    page, other = b"<html>chat</html>", b"<html>other</html>"
    (ui / "chat").mkdir(parents=True)
    (ui / "chat" / "index.html").write_bytes(page)
    (ui / "logs").mkdir()
    (ui / "logs" / "index.html").write_bytes(b"<html>changed</html>")
    record = site / "litellm-1.82.6.dist-info" / "RECORD"
    record.write_text(record.read_text() + "".join(
        f"litellm/proxy/_experimental/out/{n}.html,sha256={_b64(d)},{len(d)}\n"
        for n, d in (("chat", page), ("logs", other))))
    rc, r = run(capsys, "--path", str(site))
    assert rc == 1  # logs.html moved AND changed: still missing + unlisted
    assert sorted((f["kind"], f["path"]) for f in r["findings"]) == [
        ("missing", "litellm/proxy/_experimental/out/logs.html"),
        ("unlisted", "litellm/proxy/_experimental/out/logs/index.html"),
    ]
    assert [i["paths"] for i in r["info"] if i["kind"] == "litellm_ui_relocated"] == [
        ["litellm/proxy/_experimental/out/chat.html"]]


def test_fast_litellm_passes_its_own_audit(capsys):
    """Nothing of ours runs at interpreter start: no .pth, no startup module, in the
    source tree and (when installed) in the installed distribution, which verifies."""
    pkg = Path(audit.__file__).resolve().parent
    assert not list(pkg.rglob("*.pth"))
    import importlib.metadata as md

    try:
        dist = md.distribution("fast-litellm")
    except md.PackageNotFoundError:
        pytest.skip("fast-litellm is not installed as a distribution here (source tree only)")
    files = [str(f) for f in dist.files or []]
    assert not [f for f in files if f.endswith(".pth") or f.split("/")[0] in ("sitecustomize.py", "usercustomize.py")]
    site = str(dist.locate_file(""))
    rc, r = run(capsys, "--path", site, "--dist", "fast-litellm")
    ours = [f for f in r["findings"] if f.get("dist") == "fast-litellm" or f.get("owner") == "fast-litellm"]
    assert ours == []
    assert r["distributions"][0]["verified"] > 10


# -- the October 2026 compromise (litellm 1.107.0) and the March one: indicators --------------

SITE_INDICATORS = [  # (file written into site-packages, expected finding kinds)
    ("cook.pth", ["compromise_indicator", "pth_exec"]),
    ("cook.py", ["compromise_indicator"]),
    ("__pycache__/cook.cpython-311.pyc", ["compromise_indicator"]),
    ("sitecustomize.py", ["startup_module"]),
    ("__pycache__/sitecustomize.cpython-312.pyc", ["startup_module"]),
    ("usercustomize.py", ["startup_module"]),
    ("litellm_init.pth", ["compromise_indicator", "pth_exec"]),  # any content, not only the known sha256
]


@pytest.mark.parametrize("name,expected", SITE_INDICATORS)
def test_payload_file_in_site_packages(venv, capsys, name, expected):
    path = _site(venv) / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"import cook\n" if name.endswith(".pth") else b"\x00payload")
    rc, r = run(capsys, "--path", str(_site(venv)), "--dist", "demo-pkg")
    assert rc == 1 and kinds(r) == expected
    assert all(f["path"] == str(path) for f in r["findings"])
    if "compromise_indicator" in expected:
        [f] = [f for f in r["findings"] if f["kind"] == "compromise_indicator"]
        assert f["severity"] == "critical" and f["release"] in ("litellm 1.107.0", "litellm 1.82.8")


def test_payload_in_other_site_packages_of_the_host(tmp_path, venv, capsys):
    """Site directories of other interpreters (system, /usr/local, the user site) are searched for
    the payload files and start-up modules too, not only the audited environment's."""
    root, home = tmp_path / "host", tmp_path / "host" / "home" / "me"
    system = root / "usr" / "lib" / "python3.12" / "dist-packages"
    user = home / ".local" / "lib" / "python3.11" / "site-packages"
    for d in (system, user):
        d.mkdir(parents=True)
    (system / "cook.pth").write_text("import cook\n")
    (user / "sitecustomize.py").write_text("")
    rc, r = run(capsys, "--path", str(_site(venv)), "--dist", "demo-pkg", "--host-root", str(root),
                "--home", str(home))
    assert rc == 1
    assert sorted((f["kind"], f["path"]) for f in r["findings"]) == [
        ("compromise_indicator", str(system / "cook.pth")), ("startup_module", str(user / "sitecustomize.py"))]


HOST_MARKERS = ["/tmp/remote_code_loader.lock", "~/.config/sysmon/", "/tmp/pglog", "/tmp/.pg_state",
                "/tmp/tpcp.tar.gz"]


@pytest.mark.parametrize("marker", HOST_MARKERS)
def test_host_marker(tmp_path, venv, capsys, marker):
    root, home = tmp_path / "host", tmp_path / "home"
    path = home / marker[2:] if marker.startswith("~/") else root / marker.lstrip("/")
    if marker.endswith("/"):
        path.mkdir(parents=True)
        (path / "sysmon.py").write_text("")
    else:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    rc, r = run(capsys, "--path", str(_site(venv)), "--dist", "demo-pkg", "--host-root", str(root),
                "--home", str(home))
    assert rc == 1
    [f] = r["findings"]
    assert (f["kind"], f["severity"], f["path"].rstrip("/")) == ("host_marker", "critical", str(path))
    assert f["release"] == ("litellm 1.107.0" if "remote_code_loader" in marker else "litellm 1.82.7/1.82.8")
    # the same tree, markers absent: clean
    rc, r = run(capsys, "--path", str(_site(venv)), "--dist", "demo-pkg", "--host-root", str(tmp_path / "none"),
                "--home", str(tmp_path / "none"))
    assert rc == 0


def test_october_release_is_compromised_and_deleted(tmp_path, capsys):
    site = tmp_path / "site-packages"
    _fake_litellm(site, "1.107.0")
    rc, r = run(capsys, "--path", str(site))
    assert rc == 1
    assert [(f["kind"], f["severity"]) for f in r["findings"]] == [
        ("compromised_release", "critical"), ("no_published_wheel", "critical")]
    assert "cook.pth" in r["findings"][0]["message"] and "remote_code_loader.lock" in r["findings"][0]["message"]


# -- the installed RECORD against the published one ----------------------------------------------


def _installed_litellm() -> Path:
    """The dist-info of the LiteLLM pin this test runs on (read, never imported)."""
    import importlib.metadata as md

    dist = md.distribution("litellm")
    return Path(dist.locate_file(f"litellm-{dist.version}.dist-info"))


def _copy_dist_info(tmp_path: Path) -> Tuple[Path, Path, str]:
    src = _installed_litellm()
    site = tmp_path / "site-packages"
    site.mkdir()
    shutil.copytree(src, site / src.name)
    return site, site / src.name / "RECORD", src.name.split("-")[1][: -len(".dist")]


def _record_check(site: Path):
    """Only the manifest comparison (the copied dist-info has no package files to verify)."""
    r = audit.run_audit(paths=[str(site)], dists=["none"], host_root=HOST_ROOT)
    return ([(f["kind"], f["severity"]) for f in r["findings"]],
            [i for i in r["info"] if i["kind"] in ("published_record", "not_in_manifest")])


def test_clean_install_of_the_pin_is_published(capsys, monkeypatch):
    """The real venv of this pin, exactly as pip installed it: files and RECORD as published.
    The launcher's sitecustomize (on PYTHONPATH, not in a site directory) is not a finding."""
    monkeypatch.syspath_prepend(str(Path(audit.__file__).parent / "_launcher"))
    r = audit.run_audit(dists=["litellm"], host_root=HOST_ROOT)
    assert r["findings"] == [] and r["status"] == "clean", r["findings"]
    [d] = r["distributions"]
    assert d["published_record"] == "published"
    [i] = [i for i in r["info"] if i["kind"] == "published_record"]
    assert i["wheel"].startswith(f"litellm-{d['version']}-")


def test_installer_rewrites_are_not_differences(tmp_path):
    """What pip/uv change in RECORD (row order, bytecode, scripts, INSTALLER...) is not a difference."""
    site, record, version = _copy_dist_info(tmp_path)
    rows = record.read_text().splitlines()
    extra = ["litellm/__pycache__/zz.cpython-313.pyc,,", f"../../../bin/litellm-x,sha256={_b64(b'x')},1",
             f"litellm-{version}.dist-info/direct_url.json,sha256={_b64(b'{}')},2"]
    record.write_text("\n".join(list(reversed(rows)) + extra) + "\n")
    findings, [i] = _record_check(site)
    assert findings == [] and i["kind"] == "published_record"


@pytest.mark.parametrize("tamper", ["hash", "added", "removed"])
def test_tampered_record_is_not_published(tmp_path, tamper):
    """A RECORD that matches a malicious wheel's own files is not the published one."""
    site, record, version = _copy_dist_info(tmp_path)
    rows = record.read_text().splitlines()
    i = next(n for n, row in enumerate(rows) if row.startswith("litellm/proxy/proxy_server.py,"))
    payload = b"import os  # payload\n"
    if tamper == "hash":
        rows[i] = f"litellm/proxy/proxy_server.py,sha256={_b64(payload)},{len(payload)}"
    elif tamper == "added":
        rows.append(f"litellm/_telemetry.py,sha256={_b64(payload)},{len(payload)}")
    else:
        del rows[i]
    record.write_text("\n".join(rows) + "\n")
    findings, info = _record_check(site)
    assert findings == [("record_not_published", "high")] and info == []


@pytest.mark.parametrize("version,expected", [("1.96.1", ("no_published_wheel", "high")),
                                              ("1.111.0", "not_in_manifest"), ("1.82.6", "not_in_manifest")])
def test_version_without_published_wheel(tmp_path, capsys, version, expected):
    site = tmp_path / "site-packages"
    _fake_litellm(site, version)
    rc, r = run(capsys, "--path", str(site))
    if expected == "not_in_manifest":  # newer or older than the manifest: informational only
        assert rc == 0 and [i["kind"] for i in r["info"] if i["kind"] == expected] == [expected]
    else:
        assert rc == 1 and [(f["kind"], f["severity"]) for f in r["findings"]] == [expected]


def test_manifest_covers_the_supported_range():
    from packaging.version import Version

    m = audit.load_data("litellm_records.json")
    assert m["range"][0] == "1.83.7" and Version(m["range"][1]) >= Version("1.110.2")
    assert {"1.83.7", "1.83.14", "1.110.2"} <= set(m["versions"]) and "1.107.0" not in m["versions"]
    assert set(m["deleted"]) == {"1.82.7", "1.82.8", "1.107.0"}
    assert all(e["wheels"] for e in m["versions"].values())


def test_manifest_script_reads_record_from_zip_ranges(tmp_path):
    """The script's range reader (end record, central directory, one member) agrees with zipfile,
    on a wheel whose RECORD is not the last member and is preceded by a large stored file."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "make-litellm-record-manifest.py"
    spec = importlib.util.spec_from_file_location("make_manifest", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    wheel = build_wheel(tmp_path, "demo-pkg", "1.0", dict(DEMO_FILES, **{"demo_pkg/blob.bin": os.urandom(200_000)}))
    deflated = tmp_path / "deflated.whl"  # as real wheels are
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in src.namelist():
            zf.writestr(name, src.read(name))
        zf.writestr("demo_pkg/after.txt", "written after RECORD\n")
    with zipfile.ZipFile(deflated) as zf:
        expected = zf.read("demo_pkg-1.0.dist-info/RECORD")
        assert zf.getinfo("demo_pkg-1.0.dist-info/RECORD").compress_type == zipfile.ZIP_DEFLATED
    blob = deflated.read_bytes()

    class LocalRanges(script.Remote):  # the same reads, served from the bytes instead of HTTP
        def read(self, start, length):
            return blob[start: min(self.size, start + length)]

    assert script.record_by_range(LocalRanges("file://" + str(deflated), len(blob))) == expected
