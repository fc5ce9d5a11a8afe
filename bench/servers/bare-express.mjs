// The reference: a bare Express 5 route returning a constant JSON body (BENCH_BODY, the same bytes as ours).
import express from "express";

const body = process.env.BENCH_BODY ?? "{}";
const parsed = JSON.parse(body);
const app = express();
app.disable("x-powered-by");
app.set("etag", false);
// `mode=string` sends prebuilt bytes (the fastest possible route); `mode=json` is the usual res.json(object).
if (process.env.BENCH_MODE === "json") app.get("/c", (_req, res) => res.json(parsed));
else app.get("/c", (_req, res) => res.type("application/json").send(body));
const server = app.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }));
process.once("SIGTERM", () => server.close(() => process.exit(0)));
