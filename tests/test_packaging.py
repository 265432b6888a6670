"""Every data file inside the package ships in the wheel: the package-data globs of pyproject.toml
match each non-Python file under hybrid_ie/ (a file they miss works from a checkout and breaks in
a wheel install, as the JSON files did until the globs were added). matplotlib is the `bench`
extra: the core never imports it, and the benchmark without it stops with one line."""

import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from typer.testing import CliRunner

from hybrid_ie.cli import app

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

    from hybrid_ie.checkpoints import CONFIG_NAME, DEFAULT_CHECKPOINT, ENTRY_POINT_GROUP, WEIGHTS_NAME

    folder = ROOT / "packages" / DEFAULT_CHECKPOINT
    project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == DEFAULT_CHECKPOINT
    assert project["entry-points"][ENTRY_POINT_GROUP] == {DEFAULT_CHECKPOINT: "hybrid_ie_minilm_zs:get_model_path"}
    setup = ast.parse((folder / "setup.py").read_text(encoding="utf-8"))
    files = next(ast.literal_eval(node.value) for node in setup.body
                 if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "FILES")  # fmt: skip
    assert {CONFIG_NAME, WEIGHTS_NAME, "README.md", "tokenizer.json"} <= set(files)
    assert all((ROOT / "models" / DEFAULT_CHECKPOINT / name).is_file() for name in files)


def test_matplotlib_is_the_bench_extra_and_never_imported_by_the_core():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not [d for d in config["dependencies"] if d.startswith("matplotlib")]
    assert [d for d in config["optional-dependencies"]["bench"] if d.startswith("matplotlib")]
    code = ("import sys, hybrid_ie, hybrid_ie.benchmark, hybrid_ie.benchmark.runner, hybrid_ie.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_benchmark_without_the_bench_extra_stops_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    gold = ROOT / "eval" / "samples" / "news_gold.jsonl"
    args = ["benchmark", "--dataset", str(gold), "--schema", "conll04", "-o", str(tmp_path / "rep")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "pip install 'hybrid-ie[bench]'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "rep").exists()  # stopped before the run
