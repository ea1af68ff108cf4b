-- Conversations and their turns: follow-ups are rewritten from the turns before them.
-- `owner` is the SHA-256 (hex) of the API key that made the conversation ('' with keys off):
-- another key cannot read, continue or delete it.
CREATE TABLE conversations (
    id uuid PRIMARY KEY,
    owner text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_updated ON conversations (updated_at);

CREATE TABLE turns (
    id bigserial PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    ordinal integer NOT NULL,
    question text NOT NULL,
    standalone_question text NOT NULL,
    rewrite text NOT NULL DEFAULT 'standalone',
    answer text NOT NULL,
    answerable boolean NOT NULL,
    reason text NOT NULL,
    citations jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conversation_id, ordinal)
);
