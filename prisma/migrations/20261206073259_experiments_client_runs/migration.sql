-- AlterTable
ALTER TABLE "experiment_results" ADD COLUMN     "cost" DOUBLE PRECISION;

-- AlterTable
ALTER TABLE "experiments" ADD COLUMN     "client_evaluators" TEXT[] DEFAULT ARRAY[]::TEXT[];
