"""Question analysis: one `QueryAnalysis` per question, built once and read by every later stage.

Language knowledge (answer-type cues, framing and function words) is data in `data/en.json`;
domain knowledge (synonyms, extra cues) is data in a profile under `profiles/`, chosen by
`RAG_PROFILE`. The neutral profile adds nothing.
"""

from rag_service.analysis.profile import DomainProfile, Language, load_language, load_profile
from rag_service.analysis.query import QueryAnalysis, analyze, question_shape

__all__ = [
    "DomainProfile",
    "Language",
    "QueryAnalysis",
    "analyze",
    "load_language",
    "load_profile",
    "question_shape",
]
