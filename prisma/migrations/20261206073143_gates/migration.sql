-- AlterTable
ALTER TABLE "label_events" ADD COLUMN     "gate" JSONB;

-- CreateTable
CREATE TABLE "gates" (
    "id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "label" TEXT NOT NULL,
    "dataset" TEXT NOT NULL,
    "evaluators" TEXT[],
    "alpha" DOUBLE PRECISION NOT NULL,
    "prefix" TEXT NOT NULL DEFAULT '',
    "updated_by" TEXT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "gates_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "gates_project_id_label_key" ON "gates"("project_id", "label");

-- AddForeignKey
ALTER TABLE "gates" ADD CONSTRAINT "gates_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
