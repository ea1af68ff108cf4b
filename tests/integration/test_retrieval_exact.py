"""Small indexes are searched exactly (the same answer wherever the index was built); large
ones may go through HNSW."""

from __future__ import annotations

from rag_service.retrieval.search import _SCAN_SQL


def _index_scans(services, exact_below: int) -> tuple[str, str]:
    vec = services.embedder.embed(["median day rate"])[0]
    with services.db.connection() as conn, conn.transaction():
        conn.execute(_SCAN_SQL, {"ef": "40", "exact_below": exact_below})
        setting = conn.execute("SHOW enable_indexscan").fetchone()[0]
        rows = conn.execute(
            "EXPLAIN SELECT id FROM chunks ORDER BY embedding <=> %s LIMIT 20", (vec,)
        ).fetchall()
    return setting, "\n".join(r[0] for r in rows)


def test_small_index_is_scanned_exactly_and_large_may_use_hnsw(services) -> None:
    setting, plan = _index_scans(services, 20_000)
    assert setting == "off" and "hnsw" not in plan and "Seq Scan on chunks" in plan
    setting, _ = _index_scans(services, 0)
    assert setting == "on"
