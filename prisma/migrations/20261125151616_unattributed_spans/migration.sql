-- Spans that name a prompt but are linked to none of its versions: compare counts them per prompt and window
-- (`unattributed`). They are few, so a partial index keeps that count from scanning the project's other unlinked
-- spans (HTTP, tool and agent spans, which are most of them) and costs ingest nothing for linked spans.
-- schema.prisma cannot declare a partial index, and the schema engine leaves this one alone.
CREATE INDEX "spans_unattributed_idx" ON "spans" ("project_id", "prompt_name", "start_time")
  WHERE "version_id" IS NULL AND "prompt_name" IS NOT NULL;
