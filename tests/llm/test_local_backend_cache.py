"""The local LLM loads once per process per model and settings (a fake `llama_cpp.Llama`
counts the loads) and says so on stderr while it loads."""

from __future__ import annotations

import sys
import types

from hybrid_ie.llm import local


def test_clients_of_one_local_model_share_one_load(tmp_path, monkeypatch, capfd):
    loads = []

    class FakeLlama:
        def __init__(self, **kwargs):
            loads.append(kwargs)

    monkeypatch.setitem(sys.modules, "llama_cpp", types.SimpleNamespace(Llama=FakeLlama))
    monkeypatch.setattr(local, "_BACKENDS", {})
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    first = local.local_backend(str(gguf), n_ctx=2048, seed=1)
    assert local.local_backend(str(gguf), n_ctx=2048, seed=1) is first and len(loads) == 1
    assert local.local_backend(str(gguf), n_ctx=4096, seed=1) is not first and len(loads) == 2
    err = capfd.readouterr().err
    assert "hybrid-ie: loading local LLM m.gguf ..." in err and "hybrid-ie: loaded local LLM m.gguf in" in err
