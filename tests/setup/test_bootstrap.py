"""The README's set-up on a fresh machine: ``scripts/demo.sh --setup-only`` with no Odoo importable.

In a temporary HOME (and so an empty ``~/.cache``), with a Python that has no ``odoo`` and
``ODOO_REPO`` pointing at a local git repository of Odoo 18's source, the script clones Odoo,
builds its virtual environment with Odoo's and the project's requirements, creates the
database with the addon and the bridge's API key, and exits 0. A second run reuses all of it:
it is a small fraction of the first and changes no file. ``scripts/test.sh --setup-only``
reuses the same set-up, and a wrong ``ODOO_REPO`` fails naming it.

The local source: ``WA_BOOTSTRAP_ODOO_SOURCE`` — a git repository with a branch ``18.0``, or an
Odoo 18 source tree (a folder with ``odoo/``, ``addons/``, ``requirements.txt``) — and by default
the source tree of the importable ``odoo`` package. A tree is committed into a throwaway
repository in the temporary folder (only Odoo's own top-level entries). The internet is not used
for Odoo's source; Python packages come from pip's configured index, as for a user.

Run by ``scripts/test.sh`` as a stage of its own (``WA_BOOTSTRAP_TEST=1``, see conftest.py),
or alone: ``WA_BOOTSTRAP_TEST=1 python3 -m pytest -p no:odoo tests/setup/test_bootstrap.py -v`` (a few
minutes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / ".run" / "logs" / "bootstrap"
BRANCH = "18.0"
# Odoo's own top-level entries: a source tree may hold other things (a venv, local addons)
ODOO_ENTRIES = ("odoo", "addons", "odoo-bin", "setup.py", "setup.cfg", "setup", "requirements.txt",
                "LICENSE", "COPYRIGHT", "MANIFEST.in", "README.md")
FIRST_RUN_TIMEOUT = 45 * 60


def _git(*args: str, cwd: Path | None = None, git_dir: Path | None = None, work_tree: Path | None = None) -> str:
    command = ["git"]
    if git_dir:
        command.append(f"--git-dir={git_dir}")
    if work_tree:
        command.append(f"--work-tree={work_tree}")
    done = subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def local_odoo_source() -> Path:
    configured = os.environ.get("WA_BOOTSTRAP_ODOO_SOURCE")
    if configured:
        return Path(configured)
    try:
        import odoo
    except ImportError:
        pytest.fail("no local Odoo 18 source: set WA_BOOTSTRAP_ODOO_SOURCE to a git repository of Odoo 18 (branch "
                    "18.0) or to Odoo 18's source tree")
    tree = Path(odoo.__file__).resolve().parents[1]
    if not (tree / "requirements.txt").is_file() or not (tree / "addons" / "mail").is_dir():
        pytest.fail(f"the importable odoo ({tree}) is not a source tree: set WA_BOOTSTRAP_ODOO_SOURCE")
    return tree


def odoo_repository(source: Path, workdir: Path) -> Path:
    """A git repository with branch 18.0 of Odoo's source: ``source`` itself, or one made from the tree."""
    try:
        if _git("rev-parse", "--verify", "-q", f"refs/heads/{BRANCH}", cwd=source):
            return source
    except RuntimeError:
        pass
    if not (source / "odoo" / "release.py").is_file():
        pytest.fail(f"WA_BOOTSTRAP_ODOO_SOURCE={source} is neither a git repository with a branch {BRANCH} "
                    "nor Odoo's source tree")
    repo = workdir / "odoo.git"
    _git("init", "-q", "--bare", "-b", BRANCH, str(repo))
    # speed over size: the repository lives for this test only
    for key, value in (("core.looseCompression", "0"), ("pack.compression", "0"), ("gc.auto", "0")):
        _git("config", key, value, git_dir=repo)
    (repo / "info" / "exclude").write_text("__pycache__/\n*.pyc\n*.egg-info/\n", encoding="utf-8")
    entries = [name for name in ODOO_ENTRIES if (source / name).exists()]
    _git("add", "-A", "--", *entries, git_dir=repo, work_tree=source)
    _git("-c", "user.name=bootstrap test", "-c", "user.email=bootstrap@localhost", "commit", "-q",
         "-m", "Odoo 18 source (local copy, for the bootstrap test)", git_dir=repo, work_tree=source)
    return repo


class Sandbox:
    """A fresh user: temporary HOME and cache, a Python without Odoo, a database and stream prefix of its own."""

    def __init__(self, workdir: Path, odoo_repo: Path):
        self.workdir = workdir
        self.home = workdir / "home"
        self.cache = self.home / ".cache"
        self.home.mkdir()
        self.odoo_repo = odoo_repo
        self.db = f"wa_boot_{uuid.uuid4().hex[:8]}"
        # a Python with no odoo: a bare venv of the interpreter running the tests
        base = workdir / "python"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base)], check=True)
        self.python = base / "bin" / "python"
        self.cache_dir = self.cache / "whatsapp-attendance"
        self.venv = self.cache_dir / f"venv-{BRANCH}"
        self.odoo_src = self.cache_dir / f"odoo-{BRANCH}"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHON", "WA_CACHE_DIR", "ODOO_RC", "ODOO_REPO",
                              "ODOO_BRANCH", "XDG_CACHE_HOME", "PIP_CACHE_DIR", "WA_BOOTSTRAP_TEST")}
        env.update(HOME=str(self.home), PYTHON=str(self.python), ODOO_REPO=str(self.odoo_repo),
                   WA_DEMO_DB=self.db, ODOO_PORT="8769")
        env.update(overrides)
        return env

    def run(self, name: str, command: list[str], timeout: float = FIRST_RUN_TIMEOUT, **env: str):
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, env=self.env(**env), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)
        elapsed = time.monotonic() - started
        (LOG_DIR / f"{name}.log").write_text(f"$ {' '.join(command)}\nexit {done.returncode} after {elapsed:.1f}s\n"
                                             f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}",
                                             encoding="utf-8")
        return done, elapsed

    def files(self) -> dict[str, tuple[int, int]]:
        """Every file of the set-up outside __pycache__, with its mtime and size."""
        found = {}
        for path in self.cache_dir.rglob("*"):
            if "__pycache__" in path.parts or path.is_dir() or path.is_symlink():
                continue
            stat = path.stat()
            found[str(path.relative_to(self.cache_dir))] = (stat.st_mtime_ns, stat.st_size)
        return found

    def freeze(self) -> str:
        return subprocess.run([str(self.venv / "bin" / "python"), "-m", "pip", "freeze", "--all"],
                              capture_output=True, text=True, check=True).stdout

    def cleanup(self) -> None:
        subprocess.run(["dropdb", "--if-exists", "--force", self.db], capture_output=True, check=False)
        run_dir = ROOT / ".run"
        for leftover in (run_dir / f"bridge-{self.db}.env", run_dir / f"addon-{self.db}.sha",
                         run_dir / f"odoo-demo-{self.db}.conf"):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(run_dir / "data" / "filestore" / self.db, ignore_errors=True)
        try:
            import redis

            client = redis.Redis.from_url(os.environ.get("WA_REDIS_URL", "redis://127.0.0.1:6379/0"))
            keys = list(client.scan_iter(match=f"{self.db}:*"))
            if keys:
                client.delete(*keys)
        except Exception:  # best effort: the prefix is unique to this run
            pass
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bootstrap")
    box = Sandbox(workdir, odoo_repository(local_odoo_source(), workdir))
    assert subprocess.run([str(box.python), "-c", "import odoo"], capture_output=True, check=False).returncode, \
        "the sandbox's Python must not import odoo"
    try:
        yield box
    finally:
        box.cleanup()


@pytest.fixture(scope="module")
def first_run(sandbox):
    done, elapsed = sandbox.run("first-run", ["bash", "scripts/demo.sh", "--setup-only"])
    assert done.returncode == 0, f"first run failed (log: {LOG_DIR / 'first-run.log'}):\n{done.stderr[-3000:]}"
    return elapsed


def _report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n    {line}")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOG_DIR / "times.txt", "a", encoding="utf-8") as times:
        times.write(line + "\n")


def test_first_run_sets_everything_up(sandbox, first_run, capsys):
    _report(capsys, f"first run of scripts/demo.sh --setup-only: {first_run:.0f} s")
    where = subprocess.run([str(sandbox.venv / "bin" / "python"), "-c", "import odoo; print(odoo.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(sandbox.odoo_src.resolve()), where
    assert (sandbox.odoo_src / ".git").is_dir(), "Odoo's source is a git clone"
    freeze = sandbox.freeze()
    for package in ("cbor2==5.4.2", "psycopg2==", "python-ldap==", "starlette==", "pytest-odoo=="):
        assert package.lower() in freeze.lower(), f"{package} not in the venv"
    installed = subprocess.run(["psql", "-d", sandbox.db, "-tAc", "select state from ir_module_module "
                                "where name='whatsapp_attendance'"], capture_output=True, text=True, check=False)
    assert installed.stdout.strip() == "installed", installed.stderr
    bridge_env = (ROOT / ".run" / f"bridge-{sandbox.db}.env").read_text(encoding="utf-8")
    assert "WA_ODOO_API_KEY=" in bridge_env and f"WA_ODOO_DB={sandbox.db}" in bridge_env
    log = (LOG_DIR / "first-run.log").read_text(encoding="utf-8")
    assert "it will be built from" in log and "cloning" in log and "Odoo 18 ready in" in log


def test_second_run_is_fast_and_changes_nothing(sandbox, first_run, capsys):
    before_files, before_freeze = sandbox.files(), sandbox.freeze()
    done, elapsed = sandbox.run("second-run", ["bash", "scripts/demo.sh", "--setup-only"], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    _report(capsys, f"second run of scripts/demo.sh --setup-only: {elapsed:.1f} s")
    assert elapsed < first_run / 5, f"second run took {elapsed:.0f}s, first {first_run:.0f}s"
    assert "already has the addon" in done.stderr and "reusing" in done.stderr
    assert sandbox.freeze() == before_freeze
    after_files = sandbox.files()
    changed = sorted(name for name in set(before_files) | set(after_files)
                     if before_files.get(name) != after_files.get(name))
    assert not changed, f"the second run changed files of the set-up: {changed[:20]}"


def test_test_sh_reuses_the_same_setup(sandbox, first_run):
    before = sandbox.files()
    done, elapsed = sandbox.run("test-sh-setup", ["bash", "scripts/test.sh", "--setup-only"], timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Odoo 18 in {sandbox.venv}" in done.stderr
    assert sandbox.files() == before


def test_a_wrong_odoo_repo_is_named(sandbox):
    wrong = sandbox.workdir / "no-such-odoo.git"
    done, _ = sandbox.run("wrong-repo", ["bash", "scripts/demo.sh", "--setup-only"], timeout=300,
                          ODOO_REPO=str(wrong), XDG_CACHE_HOME=str(sandbox.workdir / "other-cache"))
    assert done.returncode != 0
    assert f"ODOO_REPO={wrong}" in done.stderr, done.stderr[-2000:]
    assert not (sandbox.workdir / "other-cache" / "whatsapp-attendance" / f"odoo-{BRANCH}").exists()
