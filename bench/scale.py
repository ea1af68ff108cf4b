"""The index at scale: builds N synthetic chunks (default 1M) in a scratch embedded PostgreSQL
with the service's own schema, then measures what a question costs there. Prints numbers and
writes them as JSON; asserts nothing.

Data: chunk text is drawn from a stretch of the bundled corpus' words (a topic) plus a
Zipf-distributed synthetic vocabulary (so full-text search has common and rare terms); vectors
are perturbations of real embeddings (a random mix of two of the corpus' unit vectors plus
Gaussian noise, normalised), so they cluster the way real chunks do. Loaded with binary COPY,
indexes built afterwards. Queries: the labelled questions, embedded with the service's embedder.

Measured, per index variant (`vector` or `halfvec` HNSW with m / ef_construction) and
hnsw.ef_search: vector top-10 p50/p95 and recall@10 against exact search; the same with a
filter (a 10% subset of documents) and pgvector's iterative index scans; full-text p50/p95;
the service's fused hybrid statement p50/p95; index build time and size; PostgreSQL RSS.
EXPLAIN (ANALYZE, BUFFERS) of the hybrid statement is written beside the JSON.

Full text is timed per row budget (`--fts-budgets`; the service's is FTS_ROW_BUDGET) on the
questions and on the questions with one synthetic word of a few hundred to a few thousand
chunks appended, with the rows matched; the statement before the budget is timed on
`--baseline-queries` questions in the same run. With `--pgdata DIR` the scratch database is
kept and a later run with the same `--rows` reuses its chunks, ground truth and HNSW indexes
(so a long build can run niced and the timing later); `shared_buffers` is set to
`--shared-buffers` and each index is read into it (pg_prewarm) before it is timed.

Usage: nice -n 19 python bench/scale.py --rows 1000000 --variants vector:16:64
       python bench/scale.py --rows 100000 --variants vector:16:64,vector:24:128,halfvec:16:64
       nice -n 19 python bench/scale.py --pgdata /tmp/scale-1m/pgdata --ef 400  # build, keep
       python bench/scale.py --pgdata /tmp/scale-1m/pgdata --ef 400,800,1000     # time again
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import psycopg
from pgvector.psycopg import register_vector

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag_service.core.config import Settings  # noqa: E402
from rag_service.core.database import migrate  # noqa: E402
from rag_service.core.embedded import EmbeddedPostgres  # noqa: E402
from rag_service.retrieval.embedder import build_embedder  # noqa: E402
from rag_service.retrieval.search import (  # noqa: E402
    _HYBRID_SQL,
    _QT_CTE,
    FTS_PARAMS,
    FTS_ROW_BUDGET,
    HNSW_EF_SEARCH,
    RRF_K,
)
from rag_service.retrieval.text import searchable  # noqa: E402

DIM = 384
CHUNKS_PER_DOC = 1000
WORDS_PER_CHUNK = 70
BATCH = 50_000

# the service's full-text side alone (rag_service/retrieval/search.py)
_FTS_SQL = (
    "WITH"
    + _QT_CTE
    + """
SELECT c.id FROM chunks c, qt WHERE c.tsv @@ qt.tq
ORDER BY ts_rank_cd(c.tsv, qt.tq) DESC, c.id LIMIT %(n)s
"""
)
_FTS_ROWS_SQL = "WITH" + _QT_CTE + " SELECT count(*) FROM chunks c, qt WHERE c.tsv @@ qt.tq"
# every lexeme under MAX_DF, whatever the index size: the statement before the row budget
UNBOUNDED = {**FTS_PARAMS, "fts_above": 2**62}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def corpus_material(settings: Settings) -> tuple[list[str], np.ndarray, list[str]]:
    """The bundled corpus' words, its units' embedding inputs and their vectors."""
    from ingestion.writer import DocumentWriter, files_under

    writer = DocumentWriter(settings, None, None)  # type: ignore[arg-type]
    inputs: list[str] = []
    words: list[str] = []
    for source, path in files_under([settings.corpus_dir]):
        doc = writer.parse(source, path.read_bytes(), "sha")
        inputs += doc.inputs
        words += doc.text.split()
    return words, build_embedder(settings).embed(inputs), inputs


def synthetic_batch(
    rng: np.random.Generator, n: int, words: np.ndarray, bases: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """`n` chunk texts and unit vectors (see the module docstring)."""
    # a chunk keeps to a topic: its words come from one 5% stretch of the corpus' text
    span = max(WORDS_PER_CHUNK, len(words) // 20)
    topic = rng.integers(0, len(words) - span, size=(n, 1))
    picks = topic + rng.integers(0, span, size=(n, WORDS_PER_CHUNK))
    rare = rng.zipf(1.3, size=(n, WORDS_PER_CHUNK // 5)) % 200_000
    texts = [
        " ".join(words[p]) + " " + " ".join(f"zq{r}" for r in rr)
        for p, rr in zip(picks, rare, strict=True)
    ]
    i, j = rng.integers(0, len(bases), size=(2, n))
    w = rng.random((n, 1), dtype=np.float32)
    vecs = w * bases[i] + (1 - w) * bases[j]
    vecs += rng.standard_normal((n, DIM), dtype=np.float32) * (0.35 / np.sqrt(DIM))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return texts, vecs.astype(np.float32)


def load(conn: psycopg.Connection, rows: int, words: list[str], bases: np.ndarray) -> float:
    """COPY `rows` chunks (and their documents) in batches; the seconds it took."""
    rng = np.random.default_rng(16)
    vocab = np.array(words, dtype=object)
    t0 = time.perf_counter()
    n_docs = (rows + CHUNKS_PER_DOC - 1) // CHUNKS_PER_DOC
    with (
        conn.cursor() as cur,
        cur.copy("COPY documents (id, source, title, sha256, bytes, content) FROM STDIN") as cp,
    ):
        for d in range(1, n_docs + 1):
            cp.write_row((d, f"synthetic-{d}.txt", f"Synthetic {d}", "x", 1, "x"))
    conn.commit()
    done = 0
    while done < rows:
        n = min(BATCH, rows - done)
        texts, vecs = synthetic_batch(rng, n, vocab, bases)
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY chunks (id, document_id, ordinal, heading, text, search_text, start_char,"
                " end_char, embedding) FROM STDIN (FORMAT BINARY)"
            ) as cp,
        ):
            cp.set_types(["int8", "int8", "int4", "text", "text", "text", "int4", "int4", "vector"])
            for k in range(n):
                cid = done + k + 1
                doc = (cid - 1) // CHUNKS_PER_DOC + 1
                cp.write_row((cid, doc, cid, "", texts[k], texts[k], 0, len(texts[k]), vecs[k]))
        conn.commit()
        done += n
        print(f"  loaded {done:,} chunks ({time.perf_counter() - t0:.0f} s)", flush=True)
    conn.execute("SELECT setval('chunks_id_seq', %s)", (rows,))
    conn.commit()
    return time.perf_counter() - t0


def timed(conn: psycopg.Connection, sql: str, params: dict | tuple) -> tuple[float, list]:
    t0 = time.perf_counter()
    rows = conn.execute(sql, params).fetchall()
    return (time.perf_counter() - t0) * 1000, rows


def exact_top(conn: psycopg.Connection, qvecs: np.ndarray, where: str = "") -> list[set[int]]:
    """Ground truth: top-10 by a sequential scan (no index), with the same filter."""
    conn.execute("SET enable_indexscan = off")
    out = [
        {
            r[0]
            for r in conn.execute(
                f"SELECT id FROM chunks {where} ORDER BY embedding <=> %s LIMIT 10", (q,)
            )
        }
        for q in qvecs
    ]
    conn.execute("RESET enable_indexscan")
    return out


def pg_rss(conn: psycopg.Connection) -> float:
    """MB resident in the PostgreSQL server's processes (postmaster and children)."""
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
    parent = psutil.Process(pid).parent()
    procs = [parent, *parent.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--variants", default="vector:16:64")
    ap.add_argument("--ef", default="40,100,200,400,800")
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--out", default=str(ROOT / "bench" / "profile"))
    ap.add_argument(
        "--pgdata",
        help="keep the scratch database here and reuse its chunks, ground truth and HNSW"
        " indexes on the next run with the same --rows (default: a temporary one, deleted)",
    )
    ap.add_argument("--shared-buffers", default="4GB")
    ap.add_argument(
        "--fts-budgets",
        default=str(FTS_ROW_BUDGET),
        help="full-text row budgets to time (the hybrid uses the service's)",
    )
    ap.add_argument(
        "--baseline-queries",
        type=int,
        default=20,
        help="questions timed with the unbounded full-text side (before the budget)",
    )
    args = ap.parse_args()
    settings = Settings()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    questions = [
        json.loads(line)["question"]
        for name in ("dev.jsonl", "extra.jsonl")
        for line in (ROOT / "evals" / "datasets" / name).read_text().splitlines()
        if line.strip()
    ][: args.queries]
    words, bases, _ = corpus_material(settings)
    qvecs = build_embedder(settings).embed(questions)
    qtexts = [searchable(q) for q in questions]

    keep = args.pgdata is not None
    pgdata = (
        Path(args.pgdata).resolve()
        if keep
        else Path(tempfile.mkdtemp(prefix="bench-scale-")) / "pgdata"
    )
    server = EmbeddedPostgres(pgdata, delete_on_stop=not keep)
    url = server.start()
    result: dict = {
        "rows": args.rows,
        "queries": len(questions),
        "shared_buffers": args.shared_buffers,
        "variants": [],
    }
    try:
        with psycopg.connect(url, autocommit=True) as admin:
            for s in ("fsync", "synchronous_commit", "full_page_writes"):
                admin.execute(f"ALTER SYSTEM SET {s} = off")
            admin.execute(f"ALTER SYSTEM SET shared_buffers = '{args.shared_buffers}'")
            admin.execute("SELECT pg_reload_conf()")
            restart = admin.execute(
                "SELECT pg_size_bytes(current_setting('shared_buffers')) <> pg_size_bytes(%s)",
                (args.shared_buffers,),
            ).fetchone()[0]  # type: ignore[index]
        if restart:  # shared_buffers takes a restart
            server.stop()
            server = EmbeddedPostgres(pgdata, delete_on_stop=not keep)
            url = server.start()
        with psycopg.connect(url) as conn:
            migrate(conn, embedding_model="synthetic", embedding_dim=DIM)
            register_vector(conn)
            have = conn.execute("SELECT n_chunks FROM corpus_stats").fetchone()[0]  # type: ignore[index]
            if have == args.rows and keep:
                print(f"reusing the {have:,} chunks in {pgdata}", flush=True)
                conn.commit()
                result.update(json.loads((pgdata.parent / "load.json").read_text()))
            else:
                if have:
                    raise SystemExit(f"{pgdata} holds {have:,} chunks, not {args.rows:,}")
                # indexes are built after the load (maintaining HNSW row by row is far slower)
                conn.execute("DROP INDEX chunks_embedding_hnsw, chunks_tsv_gin")
                conn.commit()
                result["load_s"] = load(conn, args.rows, words, bases)
                conn.execute("SET maintenance_work_mem = '6GB'")
                conn.execute("SET max_parallel_maintenance_workers = 1")
                t0 = time.perf_counter()
                conn.execute("CREATE INDEX chunks_tsv_gin ON chunks USING gin (tsv)")
                conn.commit()
                result["gin_build_s"] = time.perf_counter() - t0
                with psycopg.connect(url, autocommit=True) as admin:
                    admin.execute("VACUUM ANALYZE chunks")
                result["table_mb"] = conn.execute(
                    "SELECT pg_table_size('chunks') / 1048576.0"
                ).fetchone()[0]  # type: ignore[index]
                load_info = {k: result[k] for k in ("load_s", "gin_build_s", "table_mb")}
                (pgdata.parent / "load.json").write_text(json.dumps(load_info, default=float))
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            conn.commit()
            print(f"load {result['load_s']:.0f} s, GIN {result['gin_build_s']:.0f} s", flush=True)

            filt = "WHERE document_id %% 10 = 0"
            cached = pgdata.parent / f"truth-{len(questions)}.json"
            if keep and cached.exists():
                truth, truth_f = ([set(t) for t in ts] for ts in json.loads(cached.read_text()))
            else:
                truth = exact_top(conn, qvecs)
                truth_f = exact_top(conn, qvecs, filt)
                cached.write_text(json.dumps([[sorted(t) for t in ts] for ts in (truth, truth_f)]))

            # The labelled questions' words are the corpus' own, in over 0.5% of the chunks
            # at 1M, so a row budget leaves them all to the vector side; the same questions
            # with one synthetic word of a few hundred to a few thousand chunks appended
            # (a name, a code) time the full-text side when it has rows to rank.
            rng = np.random.default_rng(7)
            rare = rng.integers(300, 3000, len(qtexts))
            rtexts = [f"{t} zq{r}" for t, r in zip(qtexts, rare, strict=True)]
            dfs = [
                conn.execute(
                    "SELECT coalesce(max(ndoc), 0) FROM lexicon WHERE word = %s", (f"zq{r}",)
                ).fetchone()[0]  # type: ignore[index]
                for r in rare
            ]
            conn.commit()
            print(f"rare words appended: chunks holding one {min(dfs):,} to {max(dfs):,}")
            budgets = [int(b) for b in args.fts_budgets.split(",")]
            result["fts"] = []
            for budget in budgets:
                params = {**FTS_PARAMS, "fts_budget": budget, "n": 20}
                for label, texts in (("questions", qtexts), ("with a rare word", rtexts)):
                    fts = [timed(conn, _FTS_SQL, {**params, "qtext": t})[0] for t in texts]
                    matched = [
                        conn.execute(_FTS_ROWS_SQL, {**params, "qtext": t}).fetchone()[0]  # type: ignore[index]
                        for t in texts
                    ]
                    row = {
                        "budget": budget,
                        "questions": label,
                        "p50": pct(fts, 0.5),
                        "p95": pct(fts, 0.95),
                        "rows_mean": statistics.fmean(matched),
                        "rows_max": max(matched),
                    }
                    result["fts"].append(row)
                    print(
                        f"full text, row budget {budget:,}, {label}: p50 {row['p50']:.1f} ms, p95"
                        f" {row['p95']:.1f} ms, rows matched mean {row['rows_mean']:.0f}"
                        f" max {row['rows_max']:,}",
                        flush=True,
                    )
            base_q = qtexts[: args.baseline_queries]
            if base_q:
                fts = [timed(conn, _FTS_SQL, {**UNBOUNDED, "n": 20, "qtext": t})[0] for t in base_q]
                result["fts_unbounded"] = {"p50": pct(fts, 0.5), "p95": pct(fts, 0.95)}
                print(
                    f"full text, unbounded (before), {len(base_q)} questions: p50"
                    f" {pct(fts, 0.5):.1f} ms, p95 {pct(fts, 0.95):.1f} ms",
                    flush=True,
                )

            for variant in args.variants.split(","):
                kind, m, efc = variant.split(":")
                col = "embedding" if kind == "vector" else f"(embedding::halfvec({DIM}))"
                ops = f"{kind}_cosine_ops"
                # one index per kind (so a kept database holds both); rebuilt when m /
                # ef_construction differ from the ones in its comment
                index = "chunks_embedding_hnsw" + ("" if kind == "vector" else "_half")
                built = conn.execute("SELECT obj_description(to_regclass(%s))", (index,)).fetchone()
                if built and built[0] and built[0].startswith(variant + " "):
                    build = float(built[0].split()[1])
                    print(f"{variant}: reusing {index}", flush=True)
                else:
                    conn.execute(f"DROP INDEX IF EXISTS {index}")
                    conn.execute("SET maintenance_work_mem = '6GB'")
                    conn.execute("SET max_parallel_maintenance_workers = 1")
                    t0 = time.perf_counter()
                    conn.execute(
                        f"CREATE INDEX {index} ON chunks USING hnsw ({col} {ops})"
                        f" WITH (m = {int(m)}, ef_construction = {int(efc)})"
                    )
                    build = time.perf_counter() - t0
                    conn.execute(f"COMMENT ON INDEX {index} IS '{variant} {build:.1f}'")
                    conn.commit()
                size = conn.execute("SELECT pg_relation_size(%s) / 1048576.0", (index,)).fetchone()[
                    0
                ]  # type: ignore[index]
                # a serving database has its index in memory; read it in once before timing
                conn.execute("SELECT pg_prewarm(%s)", (index,))
                conn.commit()
                print(f"{variant}: build {build:.0f} s, {size:.0f} MB", flush=True)
                order = (
                    "embedding <=> %s"
                    if kind == "vector"
                    else (f"embedding::halfvec({DIM}) <=> %s::halfvec({DIM})")
                )
                for ef in [int(e) for e in args.ef.split(",")]:
                    conn.execute(f"SET hnsw.ef_search = {ef}")
                    row: dict = {
                        "variant": variant,
                        "build_s": build,
                        "index_mb": size,
                        "ef_search": ef,
                    }
                    for label, where, gt in (("vector", "", truth), ("filtered", filt, truth_f)):
                        if label == "filtered":
                            conn.execute("SET hnsw.iterative_scan = relaxed_order")
                        lat, rec = [], []
                        for q, g in zip(qvecs, gt, strict=True):
                            ms, rows = timed(
                                conn,
                                f"SELECT id FROM (SELECT id, embedding FROM chunks {where}"
                                f" ORDER BY {order} LIMIT 10) s ORDER BY embedding <=> %s",
                                (q, q),
                            )
                            lat.append(ms)
                            rec.append(len({r[0] for r in rows} & g) / max(1, len(g)))
                        conn.execute("RESET hnsw.iterative_scan")
                        row[label] = {
                            "p50": pct(lat, 0.5),
                            "p95": pct(lat, 0.95),
                            "recall10": statistics.fmean(rec),
                        }
                    sql = (
                        _HYBRID_SQL
                        if kind == "vector"
                        else _HYBRID_SQL.replace(
                            "ORDER BY embedding <=> %(qvec)s",
                            f"ORDER BY embedding::halfvec({DIM}) <=> %(qvec)s::halfvec({DIM})",
                        )
                    )
                    base = {"n": 20, "k": 5, "rrf_k": RRF_K}
                    hyb = [
                        timed(conn, sql, {**base, **FTS_PARAMS, "qtext": t, "qvec": q})[0]
                        for q, t in zip(qvecs, qtexts, strict=True)
                    ]
                    row["hybrid"] = {"p50": pct(hyb, 0.5), "p95": pct(hyb, 0.95)}
                    hyb = [
                        timed(conn, sql, {**base, **FTS_PARAMS, "qtext": t, "qvec": q})[0]
                        for q, t in zip(qvecs, rtexts, strict=True)
                    ]
                    row["hybrid_rare"] = {"p50": pct(hyb, 0.5), "p95": pct(hyb, 0.95)}
                    if ef == HNSW_EF_SEARCH and base_q:
                        hyb = [
                            timed(conn, sql, {**base, **UNBOUNDED, "qtext": t, "qvec": q})[0]
                            for q, t in zip(qvecs, base_q, strict=False)
                        ]
                        row["hybrid_unbounded"] = {"p50": pct(hyb, 0.5), "p95": pct(hyb, 0.95)}
                        print(
                            f"  ef_search {ef}: hybrid unbounded (before), {len(base_q)}"
                            f" questions: p50 {pct(hyb, 0.5):.1f} p95 {pct(hyb, 0.95):.1f} ms",
                            flush=True,
                        )
                    conn.commit()
                    row["pg_rss_mb"] = pg_rss(conn)
                    result["variants"].append(row)
                    print(
                        f"  ef_search {ef}: vector p50 {row['vector']['p50']:.1f} p95"
                        f" {row['vector']['p95']:.1f} ms recall@10 {row['vector']['recall10']:.3f}"
                        f" | filtered p50 {row['filtered']['p50']:.1f} ms recall@10"
                        f" {row['filtered']['recall10']:.3f}"
                        f" | hybrid p50 {row['hybrid']['p50']:.1f}"
                        f" p95 {row['hybrid']['p95']:.1f} ms, with a rare word p50"
                        f" {row['hybrid_rare']['p50']:.1f} p95 {row['hybrid_rare']['p95']:.1f} ms"
                        f" | PostgreSQL RSS"
                        f" {row['pg_rss_mb']:.0f} MB",
                        flush=True,
                    )
                conn.execute(f"SET hnsw.ef_search = {HNSW_EF_SEARCH}")
                plan = conn.execute(
                    "EXPLAIN (ANALYZE, BUFFERS) " + sql,
                    {**base, **FTS_PARAMS, "qtext": qtexts[0], "qvec": qvecs[0]},
                ).fetchall()
                conn.commit()
                (
                    out_dir / f"explain-hybrid-{args.rows}-{variant.replace(':', '-')}.txt"
                ).write_text("\n".join(r[0] for r in plan) + "\n")
    finally:
        server.stop()
    path = out_dir / f"scale-{args.rows}.json"
    path.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(f"written {path}")


if __name__ == "__main__":
    main()
