-- AlterTable
ALTER TABLE "spans" ADD COLUMN     "nested_call" BOOLEAN NOT NULL DEFAULT false;

-- The trace-link probe (src/traces/trace-links.ts) also looks for LLM spans with a parent: any nesting of calls has
-- one. schema.prisma cannot declare a partial index.
DROP INDEX "spans_trace_anchors_idx";
CREATE INDEX "spans_trace_anchors_idx" ON "spans" ("project_id", "trace_id")
  WHERE "span_kind" IN ('PROMPT', 'EVALUATOR', 'GUARDRAIL') OR ("span_kind" = 'LLM' AND "parent_span_id" IS NOT NULL);

-- Spans stored before: an LLM span under another LLM span of its trace is flagged, the outermost takes what it lacks
-- from the nested ones (as FLAG_NESTED_CALLS and FILL_OUTER_CALLS in src/traces/trace-links.ts do at ingest), and
-- the rollups are rebuilt from the spans, as src/traces/rollups.ts computes them.
WITH RECURSIVE under AS (
  SELECT c.project_id, c.trace_id, c.span_id FROM spans a
  JOIN spans c ON c.project_id = a.project_id AND c.trace_id = a.trace_id AND c.parent_span_id = a.span_id
  WHERE a.span_kind = 'LLM'
  UNION
  SELECT c.project_id, c.trace_id, c.span_id FROM under u
  JOIN spans c ON c.project_id = u.project_id AND c.trace_id = u.trace_id AND c.parent_span_id = u.span_id
)
UPDATE spans s SET nested_call = TRUE FROM under u
WHERE s.project_id = u.project_id AND s.trace_id = u.trace_id AND s.span_id = u.span_id AND s.span_kind = 'LLM';

WITH RECURSIVE tree AS (
  SELECT a.id AS outer_id, a.project_id, a.trace_id, a.span_id FROM spans a
  WHERE a.span_kind = 'LLM' AND NOT a.nested_call
  UNION
  SELECT t.outer_id, c.project_id, c.trace_id, c.span_id FROM tree t
  JOIN spans c ON c.project_id = t.project_id AND c.trace_id = t.trace_id AND c.parent_span_id = t.span_id
), picks AS (
  SELECT t.outer_id,
    (array_agg(i.tokens_prompt ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.tokens_prompt IS NOT NULL))[1] AS tokens_prompt,
    (array_agg(i.tokens_completion ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.tokens_completion IS NOT NULL))[1] AS tokens_completion,
    (array_agg(i.tokens_total ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.tokens_total IS NOT NULL))[1] AS tokens_total,
    (array_agg(i.tokens_cache_read ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.tokens_cache_read IS NOT NULL))[1] AS tokens_cache_read,
    (array_agg(i.tokens_cache_write ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.tokens_cache_write IS NOT NULL))[1] AS tokens_cache_write,
    (array_agg(i.tokens_reasoning ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.tokens_reasoning IS NOT NULL))[1] AS tokens_reasoning,
    (array_agg(i.model ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.model IS NOT NULL))[1] AS model,
    (array_agg(i.response_model ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.response_model IS NOT NULL))[1] AS response_model,
    (array_agg(i.provider ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.provider IS NOT NULL))[1] AS provider,
    (array_agg(i.cost_usd ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.cost_usd IS NOT NULL))[1] AS cost_usd,
    (array_agg(i.cost_source ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.cost_usd IS NOT NULL))[1] AS cost_source,
    (array_agg(i.prompt_name ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.prompt_name IS NOT NULL))[1] AS prompt_name,
    (array_agg(i.prompt_version ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.prompt_name IS NOT NULL))[1] AS prompt_version,
    (array_agg(i.prompt_id ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.prompt_name IS NOT NULL))[1] AS prompt_id,
    (array_agg(i.version_id ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.prompt_name IS NOT NULL))[1] AS version_id,
    (array_agg(i.link_status ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.prompt_name IS NOT NULL))[1] AS link_status,
    (array_agg(i.label ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.prompt_name IS NOT NULL))[1] AS label,
    (array_agg(i.source ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.prompt_name IS NOT NULL))[1] AS source
  FROM tree t
  JOIN spans i ON i.project_id = t.project_id AND i.trace_id = t.trace_id AND i.span_id = t.span_id
  WHERE i.span_kind = 'LLM' AND i.nested_call AND i.id <> t.outer_id
  GROUP BY t.outer_id
)
UPDATE spans s SET
    tokens_prompt = CASE WHEN s.tokens_prompt IS NULL THEN p.tokens_prompt ELSE s.tokens_prompt END,
    tokens_completion = CASE WHEN s.tokens_completion IS NULL THEN p.tokens_completion ELSE s.tokens_completion END,
    tokens_total = CASE WHEN s.tokens_total IS NULL THEN p.tokens_total ELSE s.tokens_total END,
    tokens_cache_read = CASE WHEN s.tokens_cache_read IS NULL THEN p.tokens_cache_read ELSE s.tokens_cache_read END,
    tokens_cache_write = CASE WHEN s.tokens_cache_write IS NULL THEN p.tokens_cache_write ELSE s.tokens_cache_write END,
    tokens_reasoning = CASE WHEN s.tokens_reasoning IS NULL THEN p.tokens_reasoning ELSE s.tokens_reasoning END,
    model = CASE WHEN s.model IS NULL THEN p.model ELSE s.model END,
    response_model = CASE WHEN s.response_model IS NULL THEN p.response_model ELSE s.response_model END,
    provider = CASE WHEN s.provider IS NULL THEN p.provider ELSE s.provider END,
    cost_usd = CASE WHEN s.cost_usd IS NULL THEN p.cost_usd ELSE s.cost_usd END,
    cost_source = CASE WHEN s.cost_usd IS NULL THEN p.cost_source ELSE s.cost_source END,
    prompt_name = CASE WHEN s.prompt_name IS NULL THEN p.prompt_name ELSE s.prompt_name END,
    prompt_version = CASE WHEN s.prompt_name IS NULL THEN p.prompt_version ELSE s.prompt_version END,
    prompt_id = CASE WHEN s.prompt_name IS NULL THEN p.prompt_id ELSE s.prompt_id END,
    version_id = CASE WHEN s.prompt_name IS NULL THEN p.version_id ELSE s.version_id END,
    link_status = CASE WHEN s.prompt_name IS NULL THEN p.link_status ELSE s.link_status END,
    label = CASE WHEN s.prompt_name IS NULL THEN p.label ELSE s.label END,
    source = CASE WHEN s.prompt_name IS NULL THEN p.source ELSE s.source END
FROM picks p
WHERE s.id = p.outer_id AND ((s.tokens_prompt IS NULL AND p.tokens_prompt IS NOT NULL) OR (s.tokens_completion IS NULL AND p.tokens_completion IS NOT NULL) OR (s.tokens_total IS NULL AND p.tokens_total IS NOT NULL) OR (s.tokens_cache_read IS NULL AND p.tokens_cache_read IS NOT NULL) OR (s.tokens_cache_write IS NULL AND p.tokens_cache_write IS NOT NULL) OR (s.tokens_reasoning IS NULL AND p.tokens_reasoning IS NOT NULL) OR (s.model IS NULL AND p.model IS NOT NULL) OR (s.response_model IS NULL AND p.response_model IS NOT NULL) OR (s.provider IS NULL AND p.provider IS NOT NULL) OR (s.cost_usd IS NULL AND p.cost_usd IS NOT NULL) OR (s.prompt_name IS NULL AND p.prompt_name IS NOT NULL));

DELETE FROM span_rollups;

INSERT INTO span_rollups (project_id, version_id, hour, label, source, model, latency_bucket, spans, failures, latency_sum,
  tokens_prompt_sum, tokens_prompt_count, tokens_completion_sum, tokens_completion_count, tokens_total_sum, tokens_total_count,
  cost_sum, cost_count, cache_read_sum, cache_read_count, cache_write_sum, cache_write_count, reasoning_sum, reasoning_count,
  cost_sent_sum, cost_sent_count, cost_computed_sum, cost_computed_count)
SELECT s.project_id, s.version_id, date_bin('1 hour', s.start_time, TIMESTAMPTZ '2000-01-01T00:00:00Z'), coalesce(s.label, ''),
  coalesce(s.source, 'unspecified'), coalesce(s.model, ''), promptreg_latency_bucket(s.latency_ms), count(*),
  count(*) FILTER (WHERE s.failed), sum(s.latency_ms), coalesce(sum(s.tokens_prompt), 0), count(s.tokens_prompt),
  coalesce(sum(s.tokens_completion), 0), count(s.tokens_completion), coalesce(sum(s.tokens_total), 0), count(s.tokens_total),
  coalesce(sum(s.cost_usd), 0), count(s.cost_usd), coalesce(sum(s.tokens_cache_read), 0), count(s.tokens_cache_read),
  coalesce(sum(s.tokens_cache_write), 0), count(s.tokens_cache_write), coalesce(sum(s.tokens_reasoning), 0), count(s.tokens_reasoning),
  coalesce(sum(s.cost_usd) FILTER (WHERE s.cost_source = 'sent'), 0), count(s.cost_usd) FILTER (WHERE s.cost_source = 'sent'),
  coalesce(sum(s.cost_usd) FILTER (WHERE s.cost_source = 'computed'), 0), count(s.cost_usd) FILTER (WHERE s.cost_source = 'computed')
FROM spans s
WHERE s.version_id IS NOT NULL AND s.span_kind = 'LLM' AND NOT s.in_evaluation AND NOT s.nested_call
GROUP BY 1, 2, 3, 4, 5, 6, 7;
