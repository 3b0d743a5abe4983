"""Catalog helpers: JSON-lines survive a torn last line and replay into the Tiled catalog."""

from __future__ import annotations

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
        back = tables_from_catalog(client[out.uid])["primary"]["gc-h2_umol"]
    assert list(back) == list(tables_from_documents(out.documents)["primary"]["gc-h2_umol"])
