-- AlterTable
ALTER TABLE "experiments" ADD COLUMN     "concurrency" INTEGER;
