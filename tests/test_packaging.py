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


def test_weights_package_is_the_default_checkpoint_with_all_its_files():
    """packages/hybrid-ie-minilm-zs: named and announced as the default checkpoint, and every file
    its build copies from models/ is there (the wheel itself is built by .ci/install-test)."""
    import ast

    from hybrid_ie.encoder.checkpoints import CONFIG_NAME, DEFAULT_CHECKPOINT, ENTRY_POINT_GROUP, WEIGHTS_NAME

    folder = ROOT / "packages" / DEFAULT_CHECKPOINT
    project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == DEFAULT_CHECKPOINT
    assert project["entry-points"][ENTRY_POINT_GROUP] == {DEFAULT_CHECKPOINT: "hybrid_ie_minilm_zs:get_model_path"}
    setup = ast.parse((folder / "setup.py").read_text(encoding="utf-8"))
    files = next(ast.literal_eval(node.value) for node in setup.body
                 if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "FILES")  # fmt: skip
    assert {CONFIG_NAME, WEIGHTS_NAME, "README.md", "tokenizer.json"} <= set(files)
    assert all((ROOT / "models" / DEFAULT_CHECKPOINT / name).is_file() for name in files)
