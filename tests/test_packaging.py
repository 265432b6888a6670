"""Every data file inside the package ships in the wheel: the package-data globs of pyproject.toml
match each non-Python file under hybrid_ie/ (a file they miss works from a checkout and breaks in
a wheel install, as the JSON files did until the globs were added)."""

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_package_data_globs_cover_every_data_file():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["hybrid_ie"]
    package = ROOT / "hybrid_ie"
    data = [p.relative_to(package).as_posix() for p in package.rglob("*")
            if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts]  # fmt: skip
    assert data, "no data files found: the test looks in the wrong place"
    # setuptools globs: "*" does not cross a folder, so "*/*.json" is one level down
    missed = [f for f in data if not any(fnmatch(f, g) and f.count("/") == g.count("/") for g in globs)]
    assert missed == []
