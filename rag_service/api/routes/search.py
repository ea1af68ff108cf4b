"""GET /v1/search: ranked chunks with every score, for debugging retrieval."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from rag_service.api.deps import PipelineDep
from rag_service.api.schemas import SearchHit, SearchResponse, UnitOut
from rag_service.pipeline import validate_question

router = APIRouter(prefix="/v1", tags=["search"])


@router.get("/search", response_model=SearchResponse)
def search(
    pipeline: PipelineDep,
    q: Annotated[str, Query(min_length=1, description="The query.")],
    k: Annotated[int, Query(ge=1, le=50)] = 5,
) -> SearchResponse:
    query = validate_question(q, pipeline.max_question_chars)
    ev = pipeline.gather(query, k)
    hits = [
        SearchHit(
            chunk_id=c.chunk_id,
            document=c.source,
            heading=c.heading,
            text=c.text,
            start=c.start,
            end=c.end,
            vector_rank=c.vector_rank,
            text_rank=c.text_rank,
            fused=round(c.fused, 6),
            dense=round(c.dense, 4),
            score=round(c.score, 4),
            units=[
                UnitOut(
                    kind=u.kind,
                    text=u.text,
                    start=u.start,
                    end=u.end,
                    dense=round(u.dense, 4),
                    score=round(u.score, 4),
                )
                for u in c.units
            ],
        )
        for c in ev.ranked[:k]
    ]
    return SearchResponse(query=query, hits=hits)
