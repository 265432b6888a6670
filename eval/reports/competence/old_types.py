"""`eval/bench_competence.py` with the LLM client's relation filter as it was before the
competence change (commit 14f0301: a relation whose LLM argument types the schema forbids is
dropped by the client, before the merge): the default rule's numbers before that change.

    PYTHONPATH=$PWD python eval/reports/competence/old_types.py --sets conll04:dev,wlp:dev --limit 100 \
        --rules old --llm oracle:0.1@0.9,oracle:0.3@0.5,oracle:0.1@0.5
"""

import subprocess
import sys
import types
from pathlib import Path

from hybrid_ie.llm import answers

ROOT = Path(__file__).resolve().parents[3]
source = subprocess.run(["git", "show", "14f0301:hybrid_ie/llm/answers.py"], cwd=ROOT, capture_output=True,
                        text=True, check=True).stdout  # fmt: skip
before = sys.modules["answers_before"] = types.ModuleType("answers_before")
exec(compile(source, "answers@14f0301", "exec"), before.__dict__)  # noqa: S102 - the repository's own file
answers.AnswerBuilder.add_relation = before.AnswerBuilder.add_relation

sys.path.insert(0, str(ROOT / "eval"))
import bench_competence

sys.exit(bench_competence.main(sys.argv[1:]))
