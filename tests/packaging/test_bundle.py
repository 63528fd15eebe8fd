"""Packaging smoke test: packaging/build.sh builds the bundle and the .deb once; the bundle's --self-test
passes offscreen with no project Python around; the .deb installs into a temporary root (dpkg --root as root,
dpkg -x otherwise), its /usr/bin launchers pass the same self-test, and it removes cleanly."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "resources" / "examples" / "market_ticks.wgraph.json"
DEPENDS = (
    "libc6 (>= 2.36)",
    "libgl1",
    "libegl1",
    "libxcb1",
    "libx11-6",
    "libxkbcommon-x11-0",
    "libdbus-1-3",
    "fontconfig",
    "fonts-dejavu-core",
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


@dataclass(frozen=True)
class Build:
    bundle: Path
    deb: Path
    seconds: float


def missing_tool() -> str | None:
    """Why the packaging build cannot run here, or None."""
    if importlib.util.find_spec("PyInstaller") is None:
        return "PyInstaller is not installed (pip install -e '.[packaging]')"
    for tool, package in (("dpkg-deb", "dpkg"), ("objcopy", "binutils"), ("ldd", "libc-bin")):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed (Debian package {package})"
    return None


def clean_env(home: Path) -> dict[str, str]:
    """An environment with no project virtualenv, no user settings and no database URLs: what a desktop user
    who never installed Python for the project has, offscreen."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "WEAVEGRAPH_", "DATABASE_", "PG", "QT_", "XDG_"))
    }
    runtime = home / "runtime"
    for sub in ("config", "data", "cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    runtime.mkdir(mode=0o700, exist_ok=True)
    env.update(
        HOME=str(home),
        PATH="/usr/local/bin:/usr/bin:/bin",
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_RUNTIME_DIR=str(runtime),
        QT_QPA_PLATFORM="offscreen",
    )
    return env


def self_test(executable: Path, home: Path) -> str:
    """Run `executable --self-test` in a clean environment and return its output; exit != 0 fails the test."""
    proc = subprocess.run(
        [str(executable), "--self-test"],
        cwd=home,
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{executable} --self-test exited {proc.returncode}:\n{output[-4000:]}"
    assert "self-test passed" in proc.stdout, output[-4000:]
    assert "FAIL" not in proc.stdout, output[-4000:]
    return proc.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Build:
    reason = missing_tool()
    if reason is not None:
        pytest.skip(f"cannot build the desktop packages: {reason}")
    out = tmp_path_factory.mktemp("packaging")
    started = time.perf_counter()
    proc = subprocess.run(
        ["bash", str(ROOT / "packaging" / "build.sh"), "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1400,
    )
    assert proc.returncode == 0, f"packaging/build.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    deb = Path(proc.stdout.strip().splitlines()[-1])
    assert deb.is_file() and deb.suffix == ".deb", proc.stdout
    return Build(out / "dist" / "weavegraph-studio", deb, time.perf_counter() - started)


def test_bundle_self_test_offscreen(built: Build, tmp_path: Path) -> None:
    studio = built.bundle / "weavegraph-studio"
    output = self_test(studio, tmp_path)
    for check in ("main window shown", "run completed", "checkpoint opened in the browser", "session listed"):
        assert f"PASS {check}" in output
    # the CLI shares the bundle's libraries
    cli = built.bundle / "weavegraph"
    env = clean_env(tmp_path)
    valid = subprocess.run([str(cli), "validate", str(EXAMPLE)], env=env, capture_output=True, text=True)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    run = subprocess.run([str(cli), "run", str(EXAMPLE), "--json"], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["step"] >= 1 and result["session_id"]
    size = sum(p.stat().st_size for p in built.bundle.rglob("*") if p.is_file() and not p.is_symlink())
    # 169 MB when built (ICU data trimmed, unused Qt parts dropped; the Queue panel's PgQueuer brings
    # pydantic; the optional extras langgraph/otel/metrics are excluded): a jump means trimming broke
    assert size < 180_000_000, f"bundle grew to {size / 1e6:.0f} MB (was 169 MB)"


def test_deb_installs_runs_and_removes(built: Build, tmp_path: Path) -> None:
    fields = subprocess.run(
        ["dpkg-deb", "--field", str(built.deb), "Package", "Depends"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Package: weavegraph-studio" in fields
    for dependency in DEPENDS:
        assert dependency in fields
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(built.deb)], capture_output=True, text=True
    ).stdout
    for path in (
        "./opt/weavegraph-studio/weavegraph-studio",
        "./opt/weavegraph-studio/weavegraph",
        "./usr/bin/weavegraph-studio -> ../../opt/weavegraph-studio/weavegraph-studio",
        "./usr/bin/weavegraph -> ../../opt/weavegraph-studio/weavegraph",
        "./usr/share/applications/weavegraph-studio.desktop",
        "./usr/share/icons/hicolor/256x256/apps/weavegraph-studio.png",
        "./usr/share/icons/hicolor/scalable/apps/weavegraph-studio.svg",
        "./usr/share/metainfo/org.weavegraph.Studio.metainfo.xml",
    ):
        assert path in listing, f"{path} is not in the .deb"
    owners = {line.split()[1] for line in listing.splitlines()}
    assert owners == {"root/root"}, owners  # dpkg-deb --root-owner-group

    target = tmp_path / "root"
    as_root = os.geteuid() == 0
    if as_root:
        # a real install and removal, into an empty dpkg database under `target` (never the host's /)
        for sub in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"):
            (target / sub).mkdir(parents=True)
        for name in ("status", "available"):
            (target / "var/lib/dpkg" / name).touch()
        dpkg = ["dpkg", f"--root={target}", "--force-depends", "--force-script-chrootless"]
        subprocess.run([*dpkg, "--install", str(built.deb)], capture_output=True, check=True)
    else:
        subprocess.run(["dpkg-deb", "--extract", str(built.deb), str(target)], check=True)
    launcher = target / "usr" / "bin" / "weavegraph-studio"
    assert launcher.is_symlink()
    home = tmp_path / "home"
    home.mkdir()
    self_test(launcher, home)
    version = subprocess.run(
        [str(target / "usr" / "bin" / "weavegraph"), "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.startswith("weavegraph "), (
        version.stdout + version.stderr
    )

    if as_root:
        subprocess.run([*dpkg, "--remove", "weavegraph-studio"], capture_output=True, check=True)
        status = (target / "var/lib/dpkg/status").read_text()
        assert "Package: weavegraph-studio" not in status or "Status: deinstall ok config-files" in status
    else:
        shutil.rmtree(target)
    assert not (target / "opt" / "weavegraph-studio").exists()
    assert not launcher.exists() and not launcher.is_symlink()
