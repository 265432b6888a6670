"""The README's first three Python snippets run as printed, from a folder outside the checkout, with
the shipped checkpoint (slow: real model, fresh processes): with no LLM set up (the default mode
falls back to the encoder), and the pipeline snippet with an openai-compatible LLM configured (a
loopback server on 127.0.0.1: the same code runs hybrid)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.llm_server import LLMServer

from hybrid_ie.paths import MODELS_DIR

ROOT = Path(__file__).resolve().parents[1]
SNIPPETS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)[:3]
# Runs each snippet file as a script, then says which mode the pipeline snippet ran in.
DRIVER = """
import json, runpy, sys
spaces = [runpy.run_path(path, run_name="__main__") for path in sys.argv[1:]]
print("MODES " + json.dumps([[g["docs"][0].meta["pipeline"]["mode"], g["ex"].mode] for g in spaces if "ex" in g]))
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (MODELS_DIR / "hybrid-ie-minilm-zs" / "model.safetensors").exists(),
                       reason="no shipped checkpoint"),
]


def run_snippets(tmp_path: Path, indices: list[int], llm_env: dict[str, str]) -> tuple[str, list[list[str]]]:
    paths = []
    for i in indices:
        paths.append(tmp_path / f"snippet{i + 1}.py")
        paths[-1].write_text(SNIPPETS[i], encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("HYBRID_IE_LLM_")}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", HYBRID_IE_CACHE=str(tmp_path / "cache"), **llm_env)
    done = subprocess.run([sys.executable, "-c", DRIVER, *map(str, paths)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=1800, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    modes = json.loads(done.stdout.rsplit("MODES ", 1)[1])
    return done.stdout + done.stderr, modes


def test_the_readme_snippets_run_as_printed_without_an_llm(tmp_path):
    pytest.importorskip("spacy", reason="the third snippet is the spaCy component's (pip install hybrid-ie[spacy])")
    assert len(SNIPPETS) == 3 and "JointEncoder" in SNIPPETS[0] and "spacy" in SNIPPETS[2]
    output, modes = run_snippets(tmp_path, [0, 1, 2], {"HYBRID_IE_LLM_BACKEND": "local",
                                                       "HYBRID_IE_LLM_MODEL": str(tmp_path / "absent.gguf")})  # fmt: skip
    assert modes == [["encoder", "encoder"]]
    assert "mode auto chose encoder" in output and output.count("Tim Cook") >= 3


def test_the_pipeline_snippet_runs_hybrid_where_an_llm_is_configured(tmp_path):
    with LLMServer() as server:
        llm = {"HYBRID_IE_LLM_BACKEND": "openai", "HYBRID_IE_LLM_MODEL": "test-model",
               "HYBRID_IE_LLM_BASE_URL": server.base_url}  # fmt: skip
        output, modes = run_snippets(tmp_path, [1], llm)
    assert modes == [["hybrid", "hybrid"]]
    assert "mode auto" not in output and "Tim Cook" in output
