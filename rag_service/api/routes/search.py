"""GET /v1/search: ranked chunks with every score, for debugging retrieval."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from rag_service.api.deps import PipelineDep, SettingsDep
from rag_service.api.routes.ask import check_length
from rag_service.api.schemas import SearchHit, SearchResponse, UnitOut
from rag_service.core.inputs import check_text
from rag_service.pipeline import validate_question

router = APIRouter(prefix="/v1", tags=["search"])
MIN_TEXT_CHARS = 500


@router.get("/search", response_model=SearchResponse)
def search(
    pipeline: PipelineDep,
    settings: SettingsDep,
    q: Annotated[str, Query(min_length=1, description="The query.")],
    k: Annotated[int, Query(ge=1, le=50)] = 5,
) -> SearchResponse:
    """Ranked chunks with every score. The response stays under RAG_SEARCH_MAX_BYTES: a chunk
    or unit text over its share is cut (`truncated`), and hits past the budget are left out."""
    check_length(check_text(q, "query"), pipeline.max_question_chars, "query")
    query = validate_question(q, pipeline.max_question_chars)
    ev = pipeline.gather(query, k)
    budget = settings.search_max_bytes
    share = max(MIN_TEXT_CHARS, budget // (2 * k))  # characters for one text, about
    hits: list[SearchHit] = []
    truncated = False
    for c in ev.ranked[:k]:
        text, cut = _cut(c.text, share)
        units = []
        for u in c.units:
            utext, ucut = _cut(u.text, share // 2)
            cut |= ucut
            units.append(
                UnitOut(
                    kind=u.kind,
                    text=utext,
                    start=u.start,
                    end=u.end,
                    dense=round(u.dense, 4),
                    score=round(u.score, 4),
                )
            )
        hit = SearchHit(
            chunk_id=c.chunk_id,
            document=c.source,
            heading=_cut(c.heading, MIN_TEXT_CHARS)[0],
            text=text,
            start=c.start,
            end=c.end,
            vector_rank=c.vector_rank,
            text_rank=c.text_rank,
            fused=round(c.fused, 6),
            dense=round(c.dense, 4),
            score=round(c.score, 4),
            units=units,
            truncated=cut,
        )
        size = len(hit.model_dump_json())
        if size > budget:
            truncated = True
            break
        budget -= size
        truncated |= cut
        hits.append(hit)
    return SearchResponse(query=query, hits=hits, truncated=truncated)


def _cut(text: str, limit: int) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit], True)
