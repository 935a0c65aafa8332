"""docs/architecture.md names every module of the package, so the map stays true as code moves."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "crnn_ctc"


def test_every_module_is_named_in_the_architecture_document() -> None:
    document = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    modules = sorted(path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py"))
    missing = [module for module in modules if f"`{module}`" not in document]
    assert not missing, f"add these modules to docs/architecture.md: {', '.join(missing)}"
