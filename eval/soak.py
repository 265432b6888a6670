"""Soak test of `hybrid-ie extract`: a batch job against a misbehaving local LLM server, killed and
resumed at random points, with a second job racing for the same output; then the same against a
healthy server (killed, resumed and raced the same way). Loopback only (127.0.0.1), bounded in documents and in time.

    python eval/soak.py                      # 150 documents, at most 600 s
    python eval/soak.py --docs 60 --seconds 300 --seed 1 --json soak.json

The faulty server answers each request, at random: HTTP 500 or 429 with a malformed Retry-After,
a body trickled one byte every 0.5 s, a 5 MB body, garbage JSON, a dropped connection, or a valid
answer (the smallest instance of the requested schema). Each round starts the job (``--resume``
once an output or a partial file exists), starts a second job on the same output once the first
holds the output's lock (it must stop with exit 2 naming the first job's pid), then kills the first job with
SIGKILL or SIGTERM after a random delay. After `--rounds` such rounds the job runs to the end.
Every wait is bounded by `--seconds` (the faulty phase gets 70% of it); a run that does not
finish in time is reported as not finished.

The report: documents in and out, lost and duplicated ids, spans whose offsets do not give their
text, the races refused / not refused, kills, the peak RSS of any job process (getrusage of the
waited children) and the wall time. Exit status 1 when anything was lost, duplicated or
misplaced, or a race was not refused.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the loopback test server (tests/support/llm_server.py)

from support.llm_server import LLMServer, Reply, client_config

FAULTS = (
    (0.15, lambda: Reply.server_error(500)),
    (0.05, lambda: Reply.rate_limited("in a while")),
    (0.04, lambda: Reply.trickle(0.5)),
    (0.04, lambda: Reply.ok("x" * 5_000_000)),
    (0.08, lambda: Reply.ok('{"entities": [{"text": ')),
    (0.04, lambda: Reply.drop()),
)


class FaultyServer(LLMServer):
    """The test server with a random reply per request (seeded)."""

    def __init__(self, seed: int):
        super().__init__()
        self.rng = random.Random(seed)

    def next_reply(self) -> Reply:
        with self.lock:
            roll = self.rng.random()
        for p, make in FAULTS:
            if roll < p:
                return make()
            roll -= p
        return Reply.ok()


def write_corpus(path: Path, n: int) -> list[str]:
    ids = [f"d{i:04d}" for i in range(n)]
    with path.open("w", encoding="utf-8") as handle:
        for i, doc_id in enumerate(ids):
            text = (f"Person{i} Smith works for Acme{i % 7} Corp in Boston. "
                    f"Mary{i} Jones lives in Paris and visited Berlin on Monday.")  # fmt: skip
            handle.write(json.dumps({"id": doc_id, "text": text}) + "\n")
    return ids


def job(corpus: Path, out: Path, config: Path, model: str | None, resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "hybrid_ie.cli", "extract", str(corpus), "-o", str(out), "--mode", "hybrid",
           "--escalate-all", "--budget", "1", "--llm-config", str(config), "--batch-size", "4", "--no-progress"]  # fmt: skip
    if model:
        cmd += ["--model", model]
    if resume:
        cmd.append("--resume")
    return cmd


def check(out: Path, ids: list[str]) -> dict[str, int]:
    seen: list[str] = []
    bad_offsets = spans = failed = 0
    for line in out.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        seen.append(doc["id"])
        failed += bool(doc.get("error"))
        for ent in doc.get("entities", []):
            spans += 1
            bad_offsets += doc["text"][ent["start"] : ent["end"]] != ent["text"]
    return {"documents_in": len(ids), "documents_out": len(seen), "lost": len(set(ids) - set(seen)),
            "duplicated": len(seen) - len(set(seen)), "unexpected": len(set(seen) - set(ids)),
            "failed_documents": failed, "spans": spans, "bad_offsets": bad_offsets}  # fmt: skip


def wait(proc: subprocess.Popen, until: float) -> int | None:
    """The exit status, or None when `until` (monotonic) came first."""
    try:
        proc.wait(timeout=max(0.1, until - time.monotonic()))
    except subprocess.TimeoutExpired:
        return None
    return proc.returncode


def soak(server: LLMServer, name: str, work: Path, ids: list[str], corpus: Path, args: argparse.Namespace,
         rng: random.Random, deadline: float, kills: bool) -> dict[str, object]:  # fmt: skip
    config = work / f"{name}.llm.json"
    settings = client_config(server, timeout_s=1.5, deadline_s=4.0, max_retries=1, backoff_s=0.05, backoff_max_s=0.5)
    config.write_text(json.dumps(settings.model_dump(mode="json", exclude_none=True)), encoding="utf-8")
    out = work / f"{name}.jsonl"
    partial = out.with_name(out.name + ".partial")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "HYBRID_IE_CACHE": str(work / "cache")}  # fmt: skip
    stats: dict[str, object] = {"rounds": 0, "sigkill": 0, "sigterm": 0, "races": 0, "races_refused": 0,
                                "exit_codes": [], "finished": False}  # fmt: skip

    def start(resume: bool, log: Path) -> subprocess.Popen:
        with log.open("w") as stderr:  # a file, not a pipe: a job that logs a lot never blocks on it
            return subprocess.Popen(job(corpus, out, config, args.model, resume), env=env, cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip

    started = time.monotonic()
    while time.monotonic() < deadline:
        final = not kills or stats["rounds"] >= args.rounds
        stats["rounds"] += 1
        first_log, race_log = work / f"{name}-{stats['rounds']}.err", work / f"{name}-{stats['rounds']}.race.err"
        first = start(out.exists() or partial.exists(), first_log)
        lock = out.with_name(out.name + ".lock")
        until = min(deadline, time.monotonic() + 180)
        while first.poll() is None and time.monotonic() < until:  # the job holds its lock: race it
            if lock.exists() and lock.read_text().strip() == str(first.pid):
                break
            time.sleep(0.2)
        if first.poll() is None:
            race = start(True, race_log)
            code = wait(race, deadline)
            if code is None:
                race.kill()
                race.wait()
            elif first.poll() is None:
                stats["races"] += 1
                stats["races_refused"] += code == 2 and f"pid {first.pid}" in race_log.read_text()
        signalled = False
        if not final and first.poll() is None:
            time.sleep(rng.uniform(1.0, 6.0))
            if first.poll() is None:
                signalled = True
                sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
                first.send_signal(sig)
                stats["sigkill" if sig == signal.SIGKILL else "sigterm"] += 1
        code = wait(first, max(deadline, time.monotonic() + 30) if signalled else deadline)  # a killed job: 30 s to go
        if code is None:
            first.kill()
            first.wait()
            stats["exit_codes"].append("out of time")
            break
        stats["exit_codes"].append(code)
        done = out.exists() and not partial.exists() and len(out.read_bytes().splitlines()) >= len(ids)
        print(f"soak {name}: round {stats['rounds']} exit {code}, {'finished' if done else 'going on'}",
              file=sys.stderr, flush=True)  # fmt: skip
        if code not in (0, 1, -signal.SIGKILL, -signal.SIGTERM):
            stats["last_error"] = first_log.read_text().strip().splitlines()[-1:]
            break
        if final and code in (0, 1):
            stats["finished"] = done
            break
    counts = check(out, ids) if out.exists() else {"documents_in": len(ids), "documents_out": 0, "lost": len(ids)}
    report = {"server": name, **counts, **stats}
    report["wall_s"] = round(time.monotonic() - started, 1)
    report["llm_requests"] = len(server.requests)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=600.0, help="time budget of the whole soak")
    parser.add_argument("--rounds", type=int, default=8, help="kill/resume rounds against the faulty server")
    parser.add_argument("--model", default=None, help="encoder checkpoint (default: the shipped one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.seconds
    with tempfile.TemporaryDirectory(prefix="hybrid-ie-soak-") as tmp:
        work = Path(tmp)
        corpus = work / "in.jsonl"
        ids = write_corpus(corpus, args.docs)
        reports = []
        with FaultyServer(args.seed) as faulty:
            reports.append(soak(faulty, "faulty", work, ids, corpus, args, rng, deadline - args.seconds * 0.3, True))
        with LLMServer() as healthy:
            reports.append(soak(healthy, "healthy", work, ids, corpus, args, rng, deadline, True))
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = {"docs": args.docs, "seed": args.seed, "peak_rss_mb_any_job": round(peak_kb / 1024, 1),
              "peak_rss_mb_soak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "runs": reports}  # fmt: skip
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    bad = any(r.get("lost") or r.get("duplicated") or r.get("bad_offsets") or r.get("unexpected")
              or r["races"] != r["races_refused"] or not r["finished"] for r in reports)  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
