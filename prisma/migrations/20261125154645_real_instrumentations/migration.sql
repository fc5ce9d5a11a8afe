-- AlterTable
ALTER TABLE "span_rollups" ADD COLUMN     "cache_read_count" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "cache_read_sum" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_count" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_sum" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "cost_computed_count" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "cost_computed_sum" DOUBLE PRECISION NOT NULL DEFAULT 0,
ADD COLUMN     "cost_sent_count" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "cost_sent_sum" DOUBLE PRECISION NOT NULL DEFAULT 0,
ADD COLUMN     "reasoning_count" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "reasoning_sum" BIGINT NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "spans" ADD COLUMN     "cost_source" TEXT,
ADD COLUMN     "in_evaluation" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "prompt_span_id" TEXT,
ADD COLUMN     "response_model" TEXT,
ADD COLUMN     "tokens_cache_read" INTEGER,
ADD COLUMN     "tokens_cache_write" INTEGER,
ADD COLUMN     "tokens_reasoning" INTEGER;

-- CreateTable
CREATE TABLE "model_prices" (
    "id" BIGSERIAL NOT NULL,
    "project_id" UUID NOT NULL,
    "model" TEXT NOT NULL,
    "effective_from" TIMESTAMPTZ(6) NOT NULL,
    "input_per_mtok" DECIMAL(65,30) NOT NULL,
    "output_per_mtok" DECIMAL(65,30) NOT NULL,
    "cache_read_per_mtok" DECIMAL(65,30),
    "cache_write_per_mtok" DECIMAL(65,30),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "model_prices_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "model_prices_project_id_model_effective_from_key" ON "model_prices"("project_id", "model", "effective_from");

-- AddForeignKey
ALTER TABLE "model_prices" ADD CONSTRAINT "model_prices_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The spans that trace links start from (src/traces/trace-links.ts): few, and looked up for every stored chunk's
-- traces, so a partial index keeps that probe small. schema.prisma cannot declare a partial index.
CREATE INDEX "spans_trace_anchors_idx" ON "spans" ("project_id", "trace_id")
  WHERE "span_kind" IN ('PROMPT', 'EVALUATOR', 'GUARDRAIL');

-- Spans stored before this migration, re-read from their kept attributes by the rules of src/traces/mapping.ts and
-- trace-links.ts as far as SQL can follow them (no statement below may hold a semicolon but its last character:
-- the PostgreSQL driver splits the script there). Helpers for this migration only, dropped at its end.
CREATE FUNCTION promptreg_m_str(a jsonb, k text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_typeof(a -> k) = 'string' AND a ->> k <> '' THEN a ->> k END
$$;

CREATE FUNCTION promptreg_m_text(a jsonb, k text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_typeof(a -> k) IN ('string', 'number') AND a ->> k <> '' THEN a ->> k END
$$;

CREATE FUNCTION promptreg_m_num(a jsonb, k text) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN jsonb_typeof(a -> k) = 'number' THEN (a ->> k)::float8
    WHEN jsonb_typeof(a -> k) = 'string' AND a ->> k ~ '^\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]{1,3})?\s*$' THEN (a ->> k)::float8
  END
$$;

CREATE FUNCTION promptreg_m_int(a jsonb, k text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN promptreg_m_num(a, k) BETWEEN 0 AND 2147483647 AND promptreg_m_num(a, k) = trunc(promptreg_m_num(a, k))
    THEN promptreg_m_num(a, k)::integer END
$$;

-- The kind of a span without an OpenInference kind (mapping.ts spanKind).
CREATE FUNCTION promptreg_m_kind(a jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN promptreg_m_str(a, 'gen_ai.operation.name') IS NOT NULL THEN
      CASE lower(a ->> 'gen_ai.operation.name')
        WHEN 'chat' THEN 'LLM' WHEN 'text_completion' THEN 'LLM' WHEN 'generate_content' THEN 'LLM'
        WHEN 'embeddings' THEN 'EMBEDDING' WHEN 'retrieval' THEN 'RETRIEVER' WHEN 'execute_tool' THEN 'TOOL'
        WHEN 'create_agent' THEN 'AGENT' WHEN 'invoke_agent' THEN 'AGENT' WHEN 'invoke_workflow' THEN 'CHAIN'
        ELSE 'OTHER' END
    WHEN promptreg_m_str(a, 'llm.request.type') IS NOT NULL THEN
      CASE lower(a ->> 'llm.request.type')
        WHEN 'chat' THEN 'LLM' WHEN 'completion' THEN 'LLM' WHEN 'embedding' THEN 'EMBEDDING' WHEN 'rerank' THEN 'RERANKER'
        ELSE 'OTHER' END
    WHEN lower(promptreg_m_str(a, 'langfuse.observation.type')) = 'generation' THEN 'LLM'
    WHEN lower(promptreg_m_str(a, 'langfuse.observation.type')) IN ('embedding', 'agent', 'tool', 'chain', 'retriever', 'evaluator', 'guardrail')
      THEN upper(a ->> 'langfuse.observation.type')
    WHEN a ->> 'ai.operationId' IN ('ai.generateText.doGenerate', 'ai.streamText.doStream', 'ai.generateObject.doGenerate', 'ai.streamObject.doStream') THEN 'LLM'
    WHEN a ->> 'ai.operationId' IN ('ai.embed.doEmbed', 'ai.embedMany.doEmbed') THEN 'EMBEDDING'
    WHEN a ->> 'ai.operationId' = 'ai.toolCall' THEN 'TOOL'
    WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(a) k WHERE k IN ('gen_ai.input_messages', 'gen_ai.output_messages')
      OR starts_with(k, 'llm.input_messages.') OR starts_with(k, 'llm.output_messages.') OR starts_with(k, 'llm.prompts.')
      OR starts_with(k, 'gen_ai.prompt.0.') OR starts_with(k, 'gen_ai.completion.0.')) THEN 'LLM'
  END
$$;

-- Status OK is final: an exception event or error.type on an OK span no longer makes it a failure.
UPDATE spans SET failed = FALSE, error_message = NULL WHERE status_code = 1 AND failed;

-- Kinds: GenAI operations compared case-insensitively, unknown ones OTHER, kind-less spans only on positive evidence.
UPDATE spans SET span_kind = promptreg_m_kind(attributes)
WHERE promptreg_m_str(attributes, 'openinference.span.kind') IS NULL AND span_kind IS DISTINCT FROM promptreg_m_kind(attributes);

-- The request model to group by, the response model apart, cache and reasoning tokens, and totals only from both
-- parts. The model in llm.invocation_parameters is read with a pattern (the JSON may not parse).
UPDATE spans SET
  model = left(coalesce(
    CASE span_kind WHEN 'EMBEDDING' THEN promptreg_m_text(attributes, 'embedding.model_name')
      WHEN 'RERANKER' THEN promptreg_m_text(attributes, 'reranker.model_name') END,
    promptreg_m_text(attributes, 'llm.request.model_name'), promptreg_m_text(attributes, 'gen_ai.request.model'),
    substring(promptreg_m_str(attributes, 'llm.invocation_parameters') FROM '"model"\s*:\s*"([^"\\]+)"'),
    promptreg_m_text(attributes, 'llm.model_name')), 512),
  response_model = left(coalesce(promptreg_m_text(attributes, 'llm.response.model_name'),
    promptreg_m_text(attributes, 'gen_ai.response.model'), promptreg_m_text(attributes, 'llm.model_name')), 512),
  tokens_total = coalesce(promptreg_m_int(attributes, 'llm.token_count.total'),
    CASE WHEN tokens_prompt::bigint + tokens_completion <= 2147483647 THEN tokens_prompt + tokens_completion END),
  tokens_cache_read = coalesce(promptreg_m_int(attributes, 'llm.token_count.prompt_details.cache_read'),
    promptreg_m_int(attributes, 'gen_ai.usage.cache_read.input_tokens')),
  tokens_cache_write = coalesce(promptreg_m_int(attributes, 'llm.token_count.prompt_details.cache_write'),
    promptreg_m_int(attributes, 'gen_ai.usage.cache_creation.input_tokens')),
  tokens_reasoning = coalesce(promptreg_m_int(attributes, 'llm.token_count.completion_details.reasoning'),
    promptreg_m_int(attributes, 'gen_ai.usage.reasoning.output_tokens')),
  cost_usd = coalesce(promptreg_m_num(attributes, 'llm.cost.total'),
    promptreg_m_num(attributes, 'llm.cost.prompt') + promptreg_m_num(attributes, 'llm.cost.completion'),
    promptreg_m_num(attributes, 'gen_ai.usage.cost'));

UPDATE spans SET cost_source = 'sent' WHERE cost_usd IS NOT NULL;

-- Another vendor's prompt.id names no prompt here, and Arthur's PROMPT spans name theirs in arthur.prompt.name:
-- those spans are linked again below ('relink' is a mark for the next statement only).
UPDATE spans SET prompt_name = n.name, prompt_version = CASE WHEN n.name IS NULL THEN NULL ELSE n.version END,
  prompt_id = NULL, version_id = NULL, link_status = CASE WHEN n.name IS NULL THEN 'none' ELSE 'relink' END
FROM (
  SELECT s.id, coalesce(promptreg_m_text(s.attributes, 'arthur.prompt.name'), promptreg_m_text(s.attributes, 'gen_ai.prompt.name'),
      promptreg_m_text(s.attributes, 'langfuse.observation.prompt.name'), promptreg_m_text(s.attributes, 'langfuse.prompt.name')) AS name,
    coalesce(promptreg_m_text(s.attributes, 'llm.prompt_template.version'), promptreg_m_text(s.attributes, 'langfuse.observation.prompt.version'),
      promptreg_m_text(s.attributes, 'langfuse.prompt.version')) AS version
  FROM spans s
  WHERE (promptreg_m_text(s.attributes, 'prompt.vendor') IS NOT NULL AND lower(trim(s.attributes ->> 'prompt.vendor')) <> 'promptreg'
      AND s.prompt_name = promptreg_m_text(s.attributes, 'prompt.id'))
    OR (s.prompt_name IS NULL AND promptreg_m_text(s.attributes, 'arthur.prompt.name') IS NOT NULL)
) n
WHERE spans.id = n.id;

-- Those, and spans whose version names a label (Arthur's `latest` or a tag): the version the label held at the
-- span's start, from the ledger (the same join as ingest.service.ts).
UPDATE spans SET prompt_id = p.id, version_id = coalesce(v.id, lv.id), prompt_version = coalesce(lv.version, s.prompt_version),
  link_status = CASE WHEN v.id IS NOT NULL OR lv.id IS NOT NULL THEN 'linked' WHEN p.id IS NOT NULL THEN 'unknown_version' ELSE 'unknown_prompt' END,
  label = CASE WHEN lv.id IS NOT NULL THEN coalesce(s.label, s.prompt_version) ELSE s.label END
FROM spans s
LEFT JOIN prompts p ON p.project_id = s.project_id AND p.name = s.prompt_name
LEFT JOIN prompt_versions v ON v.prompt_id = p.id AND v.version = s.prompt_version
LEFT JOIN LATERAL (
  SELECT le.to_version FROM label_events le
  WHERE v.id IS NULL AND le.prompt_id = p.id AND le.label = s.prompt_version AND le.created_at <= s.start_time
  ORDER BY le.created_at DESC, le.id DESC LIMIT 1
) le ON TRUE
LEFT JOIN prompt_versions lv ON lv.prompt_id = p.id AND lv.version = le.to_version
WHERE spans.id = s.id AND s.prompt_name IS NOT NULL AND s.link_status IN ('relink', 'unknown_version');

-- LLM calls under an EVALUATOR or GUARDRAIL span, at any depth (trace-links.ts).
WITH RECURSIVE judged AS (
  SELECT a.project_id, a.trace_id, a.span_id FROM spans a WHERE a.span_kind IN ('EVALUATOR', 'GUARDRAIL')
  UNION
  SELECT c.project_id, c.trace_id, c.span_id FROM judged j
  JOIN spans c ON c.project_id = j.project_id AND c.trace_id = j.trace_id AND c.parent_span_id = j.span_id
)
UPDATE spans s SET in_evaluation = TRUE FROM judged j
WHERE s.project_id = j.project_id AND s.trace_id = j.trace_id AND s.span_id = j.span_id AND NOT s.in_evaluation;

-- LLM spans without a prompt take the link of the latest PROMPT span under the same parent that had ended when they
-- started (trace-links.ts).
WITH picks AS (
  SELECT DISTINCT ON (c.id) c.id, ps.span_id AS prompt_span_id, ps.prompt_name, ps.prompt_version, ps.prompt_id,
    ps.version_id, ps.link_status, ps.label
  FROM spans ps
  JOIN spans c ON c.project_id = ps.project_id AND c.trace_id = ps.trace_id AND c.parent_span_id IS NOT DISTINCT FROM ps.parent_span_id
    AND c.start_time_unix_nano >= ps.end_time_unix_nano
  WHERE ps.span_kind = 'PROMPT' AND ps.prompt_name IS NOT NULL
    AND c.span_kind = 'LLM' AND c.prompt_name IS NULL AND c.prompt_span_id IS NULL
  ORDER BY c.id, ps.start_time_unix_nano DESC, ps.span_id DESC
)
UPDATE spans s SET prompt_name = k.prompt_name, prompt_version = k.prompt_version, prompt_id = k.prompt_id,
  version_id = k.version_id, link_status = k.link_status, label = coalesce(s.label, k.label), prompt_span_id = k.prompt_span_id
FROM picks k WHERE s.id = k.id;

DROP FUNCTION promptreg_m_kind(jsonb);
DROP FUNCTION promptreg_m_int(jsonb, text);
DROP FUNCTION promptreg_m_num(jsonb, text);
DROP FUNCTION promptreg_m_text(jsonb, text);
DROP FUNCTION promptreg_m_str(jsonb, text);

-- The rollups again from the spans as they are now, by the rules of src/compare/rollups.ts (rollupUpsertSql('spans')).
-- This must stay the last statement: test/rollups.test.ts runs it to check it against what ingest maintains.
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
WHERE s.version_id IS NOT NULL AND s.span_kind = 'LLM' AND NOT s.in_evaluation
GROUP BY 1, 2, 3, 4, 5, 6, 7;
