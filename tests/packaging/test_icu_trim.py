"""packaging/icu_trim.py: which ICU data items stay, the common-data round trip, and (with binutils) a trimmed
library that ICU still opens for collation, converters and time-zone names."""

from __future__ import annotations

import glob
import importlib.util
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("icu_trim", ROOT / "packaging" / "icu_trim.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("icu_trim", module)
    spec.loader.exec_module(module)
    return module


icu_trim = load_tool()


def qt_icu_data() -> Path:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or spec.origin is None:
        pytest.skip("PySide6 is not installed")
    found = sorted(glob.glob(str(Path(spec.origin).parent / "Qt" / "lib" / "libicudata.so.*")))
    if not found or sys.platform != "linux":
        pytest.skip("no ICU data library in this PySide6 (not a Linux wheel)")
    return Path(found[0])


@pytest.mark.parametrize(
    ("name", "size", "kept"),
    [
        ("icudt73l/coll/root.res", 1000, True),
        ("icudt73l/coll/ucadata.icu", 200_000, True),
        ("icudt73l/coll/de.res", 1000, False),
        ("icudt73l/zoneinfo64.res", 150_000, True),
        ("icudt73l/zone/en.res", 1000, True),
        ("icudt73l/zone/fr_CA.res", 1000, False),
        ("icudt73l/res_index.res", 1000, True),
        ("icudt73l/en_GB.res", 1000, True),
        ("icudt73l/ars.res", 100, False),
        ("icudt73l/supplementalData.res", 240_000, True),
        ("icudt73l/brkitr/root.res", 1000, False),
        ("icudt73l/curr/en.res", 1000, False),
        ("icudt73l/unames.icu", 296_000, False),
        ("icudt73l/rfc3491.spp", 20_000, False),
        ("icudt73l/cnvalias.icu", 64_000, True),
        ("icudt73l/ibm-5348_P100-1997.cnv", 1_700, True),
        ("icudt73l/gb18030.cnv", 232_000, False),
    ],
)
def test_keep_rules(name: str, size: int, kept: bool) -> None:
    assert icu_trim.keep(name, b"\0" * size) is kept


def test_common_data_round_trip() -> None:
    _, data = icu_trim.read_common_data(qt_icu_data().read_bytes())
    header, items = icu_trim.parse_items(data)
    assert len(items) > 1000 and items == sorted(items)
    kept = [(n, b) for n, b in items if icu_trim.keep(n, b)]
    rebuilt = icu_trim.build_common_data(header, kept)
    assert icu_trim.parse_items(rebuilt) == (header, kept)
    assert len(rebuilt) < len(data) / 5


def test_not_icu_data_is_refused(tmp_path: Path) -> None:
    with pytest.raises(icu_trim.IcuDataError):
        icu_trim.read_common_data(b"not an ELF file")
    with pytest.raises(icu_trim.IcuDataError):
        icu_trim.parse_items(b"\x20\x00\xda\x27" + b"\0" * 60)


CHECK = textwrap.dedent(
    """
    import ctypes, sys
    folder = sys.argv[1]
    uc = ctypes.CDLL(folder + "/libicuuc.so.{v}")
    i18n = ctypes.CDLL(folder + "/libicui18n.so.{v}")
    i18n.ucol_open_{v}.restype = ctypes.c_void_p
    i18n.ucal_open_{v}.restype = ctypes.c_void_p
    uc.ucnv_open_{v}.restype = ctypes.c_void_p
    status = ctypes.c_int(0)
    collator = i18n.ucol_open_{v}(b"de", ctypes.byref(status))
    assert collator and status.value <= 0, status.value  # warnings (< 0): fell back to the root collation
    order = i18n.ucol_strcollUTF8_{v}(
        ctypes.c_void_p(collator), "äpfel".encode(), -1, b"zebra", -1, ctypes.byref(status))
    assert order == -1, order
    for name in (b"UTF-8", b"ISO-8859-2", b"windows-1252"):
        status.value = 0
        assert uc.ucnv_open_{v}(name, ctypes.byref(status)) and status.value <= 0, (name, status.value)
    status.value = 0
    zone = "Europe/Berlin".encode("utf-16-le") + bytes(2)
    calendar = i18n.ucal_open_{v}(ctypes.c_char_p(zone), -1, b"en_US", 0, ctypes.byref(status))
    buffer = (ctypes.c_uint16 * 64)()
    n = i18n.ucal_getTimeZoneDisplayName_{v}(
        ctypes.c_void_p(calendar), 0, b"en_US", buffer, 64, ctypes.byref(status))
    assert bytes(buffer)[: 2 * n].decode("utf-16-le") == "Central European Standard Time", status.value
    print("ok")
    """
)


@pytest.mark.skipif(shutil.which("as") is None or shutil.which("ld") is None, reason="binutils not installed")
def test_trimmed_library_still_serves_qt(tmp_path: Path) -> None:
    data = qt_icu_data()
    version = data.name.rsplit(".", 1)[-1]
    for lib in ("libicudata", "libicuuc", "libicui18n"):
        shutil.copy(data.parent / f"{lib}.so.{version}", tmp_path)
    before, after = icu_trim.trim(tmp_path / data.name)
    assert after < before / 5
    # a fresh process: this one may already have Qt's full ICU loaded under the same soname
    proc = subprocess.run(
        [sys.executable, "-c", CHECK.format(v=version), str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
