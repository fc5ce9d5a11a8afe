-- Costs as exact decimals (the price table's type): a sum of decimal prices must be that decimal, and double
-- precision made 36 × 0.00018 come out as 0.0064799999999999944. Stored doubles convert to their 15-significant-digit
-- decimal, which also rounds away what past additions of doubles had put in the rollups' sums.
-- AlterTable
ALTER TABLE "span_rollups" ALTER COLUMN "cost_sum" SET DATA TYPE DECIMAL(65,30),
ALTER COLUMN "cost_computed_sum" SET DATA TYPE DECIMAL(65,30),
ALTER COLUMN "cost_sent_sum" SET DATA TYPE DECIMAL(65,30);

-- AlterTable
ALTER TABLE "spans" ALTER COLUMN "cost_usd" SET DATA TYPE DECIMAL(65,30);
