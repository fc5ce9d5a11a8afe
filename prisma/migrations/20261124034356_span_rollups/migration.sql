-- CreateTable
CREATE TABLE "span_rollups" (
    "project_id" UUID NOT NULL,
    "version_id" UUID NOT NULL,
    "hour" TIMESTAMPTZ(6) NOT NULL,
    "label" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "latency_bucket" SMALLINT NOT NULL,
    "spans" INTEGER NOT NULL,
    "failures" INTEGER NOT NULL,
    "latency_sum" DOUBLE PRECISION NOT NULL,
    "tokens_prompt_sum" BIGINT NOT NULL,
    "tokens_prompt_count" INTEGER NOT NULL,
    "tokens_completion_sum" BIGINT NOT NULL,
    "tokens_completion_count" INTEGER NOT NULL,
    "tokens_total_sum" BIGINT NOT NULL,
    "tokens_total_count" INTEGER NOT NULL,
    "cost_sum" DOUBLE PRECISION NOT NULL,
    "cost_count" INTEGER NOT NULL,

    CONSTRAINT "span_rollups_pkey" PRIMARY KEY ("project_id","version_id","hour","label","source","model","latency_bucket")
);

-- AddForeignKey
ALTER TABLE "span_rollups" ADD CONSTRAINT "span_rollups_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- The latency histogram bucket (src/compare/histogram.ts holds the same formula and its error bound): bucket b > 0
-- holds [1e-6 * 1.02^(b-1), 1e-6 * 1.02^b) ms, -b the same negative range, 0 exactly 0.
CREATE FUNCTION promptreg_latency_bucket(ms double precision) RETURNS smallint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN ms = 0 THEN 0
    ELSE (sign(ms) * least(16000, greatest(1, 1 + floor(ln(abs(ms) / 1e-6::float8) / ln(1.02::float8)))))::smallint END
$$;

-- Spans stored before this migration (what src/compare/rollups.ts's rollupUpsertSql('spans') does).
INSERT INTO span_rollups (project_id, version_id, hour, label, source, model, latency_bucket, spans, failures,
  latency_sum, tokens_prompt_sum, tokens_prompt_count, tokens_completion_sum, tokens_completion_count,
  tokens_total_sum, tokens_total_count, cost_sum, cost_count)
SELECT s.project_id, s.version_id, date_bin('1 hour', s.start_time, TIMESTAMPTZ '2000-01-01T00:00:00Z'),
  coalesce(s.label, ''), coalesce(s.source, 'unspecified'), coalesce(s.model, ''), promptreg_latency_bucket(s.latency_ms),
  count(*), count(*) FILTER (WHERE s.failed), sum(s.latency_ms), coalesce(sum(s.tokens_prompt), 0), count(s.tokens_prompt),
  coalesce(sum(s.tokens_completion), 0), count(s.tokens_completion), coalesce(sum(s.tokens_total), 0), count(s.tokens_total),
  coalesce(sum(s.cost_usd), 0), count(s.cost_usd)
FROM spans s
WHERE s.version_id IS NOT NULL
  AND (s.span_kind = 'LLM' OR (s.span_kind IS NULL AND (s.model IS NOT NULL OR s.tokens_total IS NOT NULL OR s.tokens_prompt IS NOT NULL)))
GROUP BY 1, 2, 3, 4, 5, 6, 7;
