"""Desktop metadata in resources/: the .desktop entry, the AppStream file and the icon renders agree with what
packaging/build.sh installs (icon name, launcher name, sizes)."""

from __future__ import annotations

import configparser
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "resources"
DESKTOP = RESOURCES / "weavegraph-studio.desktop"
METAINFO = RESOURCES / "org.weavegraph.Studio.metainfo.xml"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_desktop_entry_launches_the_installed_studio() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DESKTOP, encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "weavegraph-studio"
    assert entry["TryExec"] == "weavegraph-studio"
    assert entry["Icon"] == "weavegraph-studio"
    assert entry["Terminal"] == "false"
    assert entry["StartupWMClass"] == "Weavegraph Studio"  # QCoreApplication.applicationName(): the X11 class
    assert entry["Categories"].endswith(";")


def test_desktop_entry_validates() -> None:
    # scripts/setup.sh test installs desktop-file-utils, so the check never skips
    assert shutil.which("desktop-file-validate"), "desktop-file-utils is missing: run scripts/setup.sh test"
    proc = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_metainfo_names_the_desktop_entry_and_icon() -> None:
    component = ET.parse(METAINFO).getroot()
    assert component.tag == "component" and component.get("type") == "desktop-application"
    assert component.findtext("id") == METAINFO.name.removesuffix(".metainfo.xml")
    assert component.findtext("launchable") == DESKTOP.name
    assert component.findtext("icon") == "weavegraph-studio"
    assert {b.text for b in component.iter("binary")} == {"weavegraph-studio", "weavegraph"}
    assert component.findtext("metadata_license") and component.findtext("summary")


def test_icon_renders_exist_at_every_size() -> None:
    for size in SIZES:
        assert png_size(RESOURCES / "icons" / f"weavegraph-{size}.png") == (size, size)
    assert png_size(RESOURCES / "icons" / "weavegraph.png") == (256, 256)
    svg = ET.parse(RESOURCES / "icons" / "weavegraph.svg").getroot()
    assert svg.get("viewBox") == "0 0 512 512"
