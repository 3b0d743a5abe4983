"""Catalog helpers: JSON-lines survive a torn last line and replay into the Tiled catalog."""

from __future__ import annotations

import json

from labctl.catalog import JsonLinesWriter, ingest_jsonl, open_catalog, read_jsonl
from labctl.experiments import get_experiment, tables_from_catalog, tables_from_documents


def test_a_crashed_runs_jsonl_replays_into_the_catalog(dry_session, tmp_path):
    exp = get_experiment("h2-evolution")
    kw = exp.resolve({"duration": "1h"})
    writer = JsonLinesWriter(tmp_path / "runs")
    token = dry_session.RE.subscribe(writer)
    try:
        out = dry_session.run(exp.build(dry_session.bench, kw))
    finally:
        dry_session.RE.unsubscribe(token)
    path = tmp_path / "runs" / f"{out.uid}.jsonl"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"name": "event", "doc": {"trunc')  # a write cut short by a crash
    docs = list(read_jsonl(path))
    assert [n for n, _ in docs] == [n for n, _ in out.documents]
    with open_catalog(tmp_path / "data") as client:
        assert ingest_jsonl(client, path) == out.uid
        back = tables_from_catalog(client[out.uid])["primary"]["gc-h2_loop_umol"]
    assert list(back) == list(tables_from_documents(out.documents)["primary"]["gc-h2_loop_umol"])


def _rows(run, stream):
    return len(run[stream].read()["time"])


def test_repair_run_completes_a_catalog_copy_and_is_idempotent(recording_session, data_dir, tmp_path):
    from labctl.catalog import repair_run

    exp = get_experiment("h2-evolution")
    kw = exp.resolve({"duration": "1h", "sample_interval": "30min"})
    recording_session.bench.load_sample(**kw)
    out = recording_session.run(exp.build(recording_session.bench, kw), md=recording_session.bench.metadata())
    assert out.exit_status == "success", out.reason
    docs = list(read_jsonl(out.jsonl))
    counts = docs[-1][1]["num_events"]
    assert counts["primary"] == 4 and counts["lamp_monitor"] > 100
    with open_catalog(data_dir) as client:
        assert repair_run(client, out.jsonl) == "ok"

        # the catalog lost the run (a worker that died before writing it)
        client.delete_contents(out.uid, recursive=True, external_only=False)
        assert out.uid not in client
        assert repair_run(client, out.jsonl) == "added"
        assert {s: _rows(client[out.uid], s) for s in counts} == counts
        assert repair_run(client, out.jsonl) == "ok"

        # the catalog holds the run closed but only part of its events (a write that failed mid-run)
        client.delete_contents(out.uid, recursive=True, external_only=False)
        part = tmp_path / f"{out.uid}.jsonl"
        events = [i for i, (n, _) in enumerate(docs) if n == "event"]
        keep = set(range(len(docs))) - set(events[len(events) // 2 :])
        part.write_text(
            "".join(json.dumps({"name": n, "doc": d}) + "\n" for i, (n, d) in enumerate(docs) if i in keep),
            encoding="utf-8",
        )
        ingest_jsonl(client, part)
        assert _rows(client[out.uid], "lamp_monitor") < counts["lamp_monitor"]
        assert repair_run(client, out.jsonl) == "rewritten"
        assert {s: _rows(client[out.uid], s) for s in counts} == counts
        assert repair_run(client, out.jsonl) == "ok"
        assert client[out.uid].metadata["stop"]["exit_status"] == "success"
