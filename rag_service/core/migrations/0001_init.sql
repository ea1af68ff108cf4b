-- Documents, their chunks, and the answer units (sentences, list items, table rows) inside them.
-- {dim} is the embedding dimension, fixed when the index is created (see index_meta).
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE index_meta (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    embedding_model text NOT NULL,
    embedding_dim integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE documents (
    id bigserial PRIMARY KEY,
    source text NOT NULL UNIQUE,
    title text NOT NULL,
    sha256 text NOT NULL,
    bytes integer NOT NULL,
    content text NOT NULL,
    meta jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE chunks (
    id bigserial PRIMARY KEY,
    document_id bigint NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal integer NOT NULL,
    heading text NOT NULL DEFAULT '',
    text text NOT NULL,
    search_text text NOT NULL,
    start_char integer NOT NULL,
    end_char integer NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', search_text)) STORED,
    embedding vector({dim}) NOT NULL,
    UNIQUE (document_id, ordinal),
    CHECK (end_char > start_char)
);
CREATE INDEX chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops);
CREATE INDEX chunks_tsv_gin ON chunks USING gin (tsv);

CREATE TABLE units (
    id bigserial PRIMARY KEY,
    chunk_id bigint NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
    ordinal integer NOT NULL,
    kind text NOT NULL,
    text text NOT NULL,
    display text NOT NULL,
    search_text text NOT NULL,
    start_char integer NOT NULL,
    end_char integer NOT NULL,
    lexemes text[] GENERATED ALWAYS AS
        (tsvector_to_array(to_tsvector('english', search_text))) STORED,
    embedding vector({dim}) NOT NULL,
    UNIQUE (chunk_id, ordinal)
);
CREATE INDEX units_chunk ON units (chunk_id);

-- Document frequency of every lexeme over chunks: weights question terms (rare terms matter)
-- and tells the grounding gate which question terms the corpus never mentions.
-- Schema-qualified: PostgreSQL 17+ refreshes materialized views with a safe search_path.
CREATE MATERIALIZED VIEW lexicon AS
    SELECT word, ndoc FROM ts_stat('SELECT tsv FROM public.chunks');
CREATE UNIQUE INDEX lexicon_word ON lexicon (word);
