-- Term statistics kept current by the writes themselves (issue 16). The materialised view was
-- recomputed over every chunk after each upload (work that grows with the index) and a query
-- counted the chunks each time; now statement-level triggers add and subtract only the rows a
-- statement wrote, in the same transaction, so an upload costs the same at 1k or 1M chunks
-- and the statistics can never lag the chunks. Same numbers as before: `ndoc` is the number
-- of chunks holding a lexeme (ts_stat's ndoc), `n_chunks` is count(*) of chunks.
DROP MATERIALIZED VIEW lexicon;
CREATE TABLE lexicon (
    word text PRIMARY KEY,
    ndoc integer NOT NULL
);
CREATE TABLE corpus_stats (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    n_chunks bigint NOT NULL
);

-- Also the repair for a database whose statistics disagree with its chunks (see services.py).
CREATE FUNCTION rebuild_lexicon() RETURNS void LANGUAGE sql AS $$
    TRUNCATE public.lexicon;
    INSERT INTO public.lexicon (word, ndoc)
        SELECT word, ndoc FROM ts_stat('SELECT tsv FROM public.chunks');
    INSERT INTO public.corpus_stats (n_chunks) SELECT count(*) FROM public.chunks
        ON CONFLICT (singleton) DO UPDATE SET n_chunks = excluded.n_chunks;
$$;
SELECT rebuild_lexicon();

CREATE FUNCTION lexicon_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        DELETE FROM public.lexicon l
            USING (SELECT w, count(*) AS n FROM old_chunks, unnest(tsvector_to_array(tsv)) AS w
                   GROUP BY w) d
            WHERE l.word = d.w AND l.ndoc <= d.n;
        UPDATE public.lexicon l SET ndoc = l.ndoc - d.n
            FROM (SELECT w, count(*) AS n FROM old_chunks, unnest(tsvector_to_array(tsv)) AS w
                  GROUP BY w) d
            WHERE l.word = d.w;
        UPDATE public.corpus_stats SET n_chunks = n_chunks - (SELECT count(*) FROM old_chunks);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        -- In word order, so concurrent uploads lock shared words in the same order.
        INSERT INTO public.lexicon AS l (word, ndoc)
            SELECT w, count(*) FROM new_chunks, unnest(tsvector_to_array(tsv)) AS w
            GROUP BY w ORDER BY w
        ON CONFLICT (word) DO UPDATE SET ndoc = l.ndoc + excluded.ndoc;
        UPDATE public.corpus_stats SET n_chunks = n_chunks + (SELECT count(*) FROM new_chunks);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION lexicon_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE public.lexicon;
    UPDATE public.corpus_stats SET n_chunks = 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER chunks_lexicon_insert AFTER INSERT ON chunks
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION lexicon_track();
CREATE TRIGGER chunks_lexicon_delete AFTER DELETE ON chunks
    REFERENCING OLD TABLE AS old_chunks FOR EACH STATEMENT EXECUTE FUNCTION lexicon_track();
CREATE TRIGGER chunks_lexicon_update AFTER UPDATE ON chunks
    REFERENCING OLD TABLE AS old_chunks NEW TABLE AS new_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION lexicon_track();
CREATE TRIGGER chunks_lexicon_truncate AFTER TRUNCATE ON chunks
    FOR EACH STATEMENT EXECUTE FUNCTION lexicon_truncate();
