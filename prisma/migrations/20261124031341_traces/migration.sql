-- CreateTable
CREATE TABLE "spans" (
    "id" BIGSERIAL NOT NULL,
    "project_id" UUID NOT NULL,
    "trace_id" TEXT NOT NULL,
    "span_id" TEXT NOT NULL,
    "parent_span_id" TEXT,
    "name" TEXT NOT NULL,
    "otel_kind" SMALLINT NOT NULL,
    "span_kind" TEXT,
    "start_time" TIMESTAMPTZ(6) NOT NULL,
    "start_time_unix_nano" BIGINT NOT NULL,
    "end_time_unix_nano" BIGINT NOT NULL,
    "latency_ms" DOUBLE PRECISION NOT NULL,
    "status_code" SMALLINT NOT NULL,
    "failed" BOOLEAN NOT NULL,
    "error_message" TEXT,
    "prompt_name" TEXT,
    "prompt_version" TEXT,
    "prompt_id" UUID,
    "version_id" UUID,
    "link_status" TEXT NOT NULL,
    "label" TEXT,
    "source" TEXT,
    "model" TEXT,
    "provider" TEXT,
    "session_id" TEXT,
    "user_id" TEXT,
    "tokens_prompt" INTEGER,
    "tokens_completion" INTEGER,
    "tokens_total" INTEGER,
    "cost_usd" DOUBLE PRECISION,
    "attributes" JSONB NOT NULL,
    "resource_attributes" JSONB NOT NULL,
    "events" JSONB NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "spans_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "annotations" (
    "id" BIGSERIAL NOT NULL,
    "project_id" UUID NOT NULL,
    "trace_id" TEXT NOT NULL,
    "span_id" TEXT NOT NULL DEFAULT '',
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "score" DOUBLE PRECISION,
    "label" TEXT,
    "passed" BOOLEAN,
    "comment" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "annotations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "spans_project_id_version_id_start_time_idx" ON "spans"("project_id", "version_id", "start_time");

-- CreateIndex
CREATE INDEX "spans_project_id_start_time_idx" ON "spans"("project_id", "start_time");

-- CreateIndex
CREATE INDEX "spans_project_id_session_id_start_time_idx" ON "spans"("project_id", "session_id", "start_time");

-- CreateIndex
CREATE INDEX "spans_project_id_user_id_start_time_idx" ON "spans"("project_id", "user_id", "start_time");

-- CreateIndex
CREATE UNIQUE INDEX "spans_project_id_trace_id_span_id_key" ON "spans"("project_id", "trace_id", "span_id");

-- CreateIndex
CREATE UNIQUE INDEX "annotations_project_id_trace_id_span_id_name_kind_key" ON "annotations"("project_id", "trace_id", "span_id", "name", "kind");

-- AddForeignKey
ALTER TABLE "spans" ADD CONSTRAINT "spans_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "annotations" ADD CONSTRAINT "annotations_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
