-- AlterTable
ALTER TABLE "spans" ADD COLUMN     "rollout_arm" TEXT,
ADD COLUMN     "rollout_id" TEXT,
ADD COLUMN     "rollout_step" SMALLINT;

-- CreateTable
CREATE TABLE "rollouts" (
    "id" UUID NOT NULL,
    "prompt_id" UUID NOT NULL,
    "label" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "baseline_version_id" UUID NOT NULL,
    "candidate_version_id" UUID NOT NULL,
    "steps" JSONB NOT NULL,
    "step" INTEGER NOT NULL DEFAULT 0,
    "step_started_at" TIMESTAMPTZ(3) NOT NULL,
    "guard" JSONB NOT NULL,
    "auto_rollback" BOOLEAN NOT NULL,
    "verdict" JSONB,
    "evaluated_at" TIMESTAMPTZ(3),
    "evaluations" INTEGER NOT NULL DEFAULT 0,
    "started_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "ended_at" TIMESTAMPTZ(3),

    CONSTRAINT "rollouts_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "rollouts_prompt_id_label_created_at_idx" ON "rollouts"("prompt_id", "label", "created_at" DESC);

-- CreateIndex
CREATE INDEX "rollouts_state_evaluated_at_idx" ON "rollouts"("state", "evaluated_at");

-- CreateIndex
CREATE INDEX "spans_project_id_rollout_id_start_time_idx" ON "spans"("project_id", "rollout_id", "start_time");

-- AddForeignKey
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_prompt_id_fkey" FOREIGN KEY ("prompt_id") REFERENCES "prompts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_baseline_version_id_fkey" FOREIGN KEY ("baseline_version_id") REFERENCES "prompt_versions"("id") ON DELETE NO ACTION ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_candidate_version_id_fkey" FOREIGN KEY ("candidate_version_id") REFERENCES "prompt_versions"("id") ON DELETE NO ACTION ON UPDATE CASCADE;
