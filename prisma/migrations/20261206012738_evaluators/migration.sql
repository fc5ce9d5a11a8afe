-- DropIndex
DROP INDEX "annotations_project_id_trace_id_span_id_name_kind_key";

-- AlterTable
ALTER TABLE "annotations" ADD COLUMN     "details" JSONB,
ADD COLUMN     "evaluator_revision" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "status" TEXT;

-- CreateTable
CREATE TABLE "evaluators" (
    "id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "revision" INTEGER NOT NULL,
    "enabled" BOOLEAN NOT NULL,
    "daily_budget" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "evaluators_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "evaluator_revisions" (
    "evaluator_id" UUID NOT NULL,
    "revision" INTEGER NOT NULL,
    "definition" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "evaluator_revisions_pkey" PRIMARY KEY ("evaluator_id","revision")
);

-- CreateTable
CREATE TABLE "evaluator_usage" (
    "evaluator_id" UUID NOT NULL,
    "day" DATE NOT NULL,
    "evaluations" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "evaluator_usage_pkey" PRIMARY KEY ("evaluator_id","day")
);

-- CreateTable
CREATE TABLE "evaluator_backfills" (
    "id" UUID NOT NULL,
    "evaluator_id" UUID NOT NULL,
    "revision" INTEGER NOT NULL,
    "from_time" TIMESTAMPTZ(3) NOT NULL,
    "to_time" TIMESTAMPTZ(3) NOT NULL,
    "max_spans" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "queued" INTEGER NOT NULL DEFAULT 0,
    "cursor" BIGINT NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "evaluator_backfills_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "evaluators_project_id_name_key" ON "evaluators"("project_id", "name");

-- CreateIndex
CREATE INDEX "evaluator_backfills_evaluator_id_created_at_idx" ON "evaluator_backfills"("evaluator_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "annotations_project_id_name_evaluator_revision_idx" ON "annotations"("project_id", "name", "evaluator_revision");

-- CreateIndex
CREATE UNIQUE INDEX "annotations_project_id_trace_id_span_id_name_kind_evaluator_key" ON "annotations"("project_id", "trace_id", "span_id", "name", "kind", "evaluator_revision");

-- CreateIndex
CREATE INDEX "jobs_project_id_queue_idx" ON "jobs"("project_id", "queue");

-- AddForeignKey
ALTER TABLE "evaluators" ADD CONSTRAINT "evaluators_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "evaluator_revisions" ADD CONSTRAINT "evaluator_revisions_evaluator_id_fkey" FOREIGN KEY ("evaluator_id") REFERENCES "evaluators"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "evaluator_usage" ADD CONSTRAINT "evaluator_usage_evaluator_id_fkey" FOREIGN KEY ("evaluator_id") REFERENCES "evaluators"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "evaluator_backfills" ADD CONSTRAINT "evaluator_backfills_evaluator_id_fkey" FOREIGN KEY ("evaluator_id") REFERENCES "evaluators"("id") ON DELETE CASCADE ON UPDATE CASCADE;
