"""What ingestion embeds for a document, and the vectors of a group of documents: one
embedding call for several documents (full, length-sorted batches keep the model, the
bottleneck, busy); a chunk's vector is the normalised mean of its units'."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ingestion.chunker import Chunk, Unit
from rag_service.retrieval.embedder import Embedder

# Short units (a list item, "From scratch: 24–36 months.") mean little without their heading.
SHORT_UNIT_CHARS = 100


def unit_embedding_input(
    title: str, chunk: Chunk, unit: Unit, *, title_generic: bool = False
) -> str:
    """Short units ("From scratch: 24–36 months.", a skills-gap heading) are embedded with the
    document title and their section path, which say what they are about; a generic title
    ("PowerPoint Presentation") says nothing and is left out."""
    if len(unit.display) >= SHORT_UNIT_CHARS:
        return unit.display
    context = [] if title_generic else [title]
    if chunk.heading and unit.kind != "heading":
        context.append(chunk.heading)
    if not context:
        return unit.display
    return f"{' — '.join(context)}: {unit.display}"


@dataclass
class ParsedDocument:
    source: str
    title: str
    sha256: str
    size: int
    text: str
    chunks: list[Chunk]
    inputs: list[str]  # what gets embedded: one text per unit, in chunk order
    # stored in documents.meta: front matter, title_generic, title_source, format
    meta: dict[str, Any]


@dataclass
class PreparedDocument(ParsedDocument):
    chunk_vectors: np.ndarray
    unit_vectors: list[np.ndarray]


def embed_documents(embedder: Embedder, docs: list[ParsedDocument]) -> list[PreparedDocument]:
    """Every unit input of `docs` in one call to the model; chunk vectors from unit vectors."""
    vectors = embedder.embed([t for d in docs for t in d.inputs])
    prepared, i = [], 0
    for d in docs:
        unit_vectors, chunk_vectors = [], []
        for c in d.chunks:
            vs = vectors[i : i + len(c.units)]
            i += len(c.units)
            unit_vectors.append(vs)
            mean = vs.mean(axis=0)
            chunk_vectors.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
        prepared.append(
            PreparedDocument(
                **vars(d),
                chunk_vectors=np.asarray(chunk_vectors, dtype=np.float32),
                unit_vectors=unit_vectors,
            )
        )
    return prepared
