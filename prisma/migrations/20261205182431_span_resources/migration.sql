-- Resources and instrumentation scopes stored once per project and content (see schema.prisma's SpanResource): each
-- span row kept its own copy of its resource's attributes, so one large resource shared by a batch's spans was
-- written once per span.

-- CreateTable
CREATE TABLE "span_resources" (
    "project_id" UUID NOT NULL,
    "hash" BYTEA NOT NULL,
    "attributes" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "span_resources_pkey" PRIMARY KEY ("project_id","hash")
);

-- CreateTable
CREATE TABLE "span_scopes" (
    "project_id" UUID NOT NULL,
    "hash" BYTEA NOT NULL,
    "name" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "attributes" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "span_scopes_pkey" PRIMARY KEY ("project_id","hash")
);

-- AddForeignKey
ALTER TABLE "span_resources" ADD CONSTRAINT "span_resources_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "span_scopes" ADD CONSTRAINT "span_scopes_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AlterTable
ALTER TABLE "spans" ADD COLUMN     "resource_hash" BYTEA,
ADD COLUMN     "scope_hash" BYTEA;

-- Spans stored before: each distinct resource moves to span_resources under the hash of its database text (new
-- batches hash their own canonical JSON, so a resource seen before and after may be kept twice, once each way).
-- Their scopes were not kept.
INSERT INTO "span_resources" ("project_id", "hash", "attributes")
SELECT DISTINCT ON (s."project_id", s."hash") s."project_id", s."hash", s."resource_attributes"
FROM (SELECT "project_id", sha256(convert_to("resource_attributes"::text, 'UTF8')) AS "hash", "resource_attributes" FROM "spans") s;

UPDATE "spans" SET "resource_hash" = sha256(convert_to("resource_attributes"::text, 'UTF8'));

ALTER TABLE "spans" DROP COLUMN "resource_attributes";
