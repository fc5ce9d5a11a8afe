-- DropIndex
DROP INDEX "jobs_queue_run_at_idx";

-- CreateTable
CREATE TABLE "experiments" (
    "id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "dataset_id" UUID NOT NULL,
    "dataset_version" INTEGER NOT NULL,
    "prompt_name" TEXT NOT NULL,
    "mode" TEXT NOT NULL,
    "connection" TEXT,
    "model" TEXT,
    "evaluators" TEXT[],
    "status" TEXT NOT NULL,
    "item_count" INTEGER NOT NULL,
    "run_count" INTEGER NOT NULL,
    "result_count" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "experiments_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "experiment_runs" (
    "id" UUID NOT NULL,
    "experiment_id" UUID NOT NULL,
    "ref" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "position" INTEGER NOT NULL,

    CONSTRAINT "experiment_runs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "experiment_results" (
    "id" BIGSERIAL NOT NULL,
    "run_id" UUID NOT NULL,
    "item_id" TEXT NOT NULL,
    "output" TEXT,
    "error" TEXT,
    "latency_ms" INTEGER,
    "prompt_tokens" INTEGER,
    "completion_tokens" INTEGER,
    "evaluations" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "experiment_results_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "experiments_project_id_created_at_idx" ON "experiments"("project_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "experiment_runs_experiment_id_version_key" ON "experiment_runs"("experiment_id", "version");

-- CreateIndex
CREATE UNIQUE INDEX "experiment_results_run_id_item_id_key" ON "experiment_results"("run_id", "item_id");

-- CreateIndex
CREATE INDEX "jobs_queue_run_at_id_idx" ON "jobs"("queue", "run_at", "id");

-- AddForeignKey
ALTER TABLE "experiments" ADD CONSTRAINT "experiments_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "experiments" ADD CONSTRAINT "experiments_dataset_id_fkey" FOREIGN KEY ("dataset_id") REFERENCES "datasets"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "experiment_runs" ADD CONSTRAINT "experiment_runs_experiment_id_fkey" FOREIGN KEY ("experiment_id") REFERENCES "experiments"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "experiment_results" ADD CONSTRAINT "experiment_results_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "experiment_runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
