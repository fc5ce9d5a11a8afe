// The comparison benchmarks' data: 1,000,000 stored spans by default, half spread over 5 versions of prompt `target`
// (1.0.0 to 1.0.4, 100,000 each), half over 20 other prompts, 10% of all spans being parent CHAIN spans that carry
// the prompt attributes (never counted). Version 1.0.1 fails 9% of its spans, every other 5%. One span a second from
// 2025-01-01. The spans are generated inside the database (INSERT ... SELECT generate_series): the ingest path has its
// own bench. Bypassing ingest, they are then added to span_rollups by the same SQL ingest runs (rollUpStoredSpans).
import { rollUpStoredSpans } from "../dist/src/traces/rollups.js";

export const DATA_START = "2025-01-01T00:00:00Z";

/** Publishes the prompts through the API at `base` and loads `spans` rows; returns what the benches look up. */
export async function loadCompareData(database, { base, headers, spans }) {
  const publish = async (name, body) => {
    const res = await fetch(`${base}/prompts/${name}/versions`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
    });
    if (res.status !== 201) throw new Error(`publish ${name}: ${res.status} ${await res.text()}`);
    return (await res.json()).id;
  };
  const targetVersions = [];
  for (let v = 0; v < 5; v++) targetVersions.push(await publish("target", { template: `target v${v} {{q}}` }));
  const others = [];
  for (let p = 0; p < 20; p++) others.push(await publish(`other-${p}`, { template: `other ${p} {{q}}` }));
  const [{ project_id: projectId }] = (await database.query(`SELECT project_id FROM prompts WHERE name = 'target'`))
    .rows;
  const groups = [...targetVersions, ...others]; // 25 groups: 0-4 the target's versions, 5-24 the other prompts

  const t0 = Date.now();
  // Row i: group = first half -> target (i % 5), second half -> other (i % 20); one second apart.
  await database.query(
    `INSERT INTO spans (project_id, trace_id, span_id, name, otel_kind, span_kind, start_time, start_time_unix_nano,
       end_time_unix_nano, latency_ms, status_code, failed, prompt_name, prompt_version, prompt_id, version_id, link_status,
       label, source, model, tokens_prompt, tokens_completion, tokens_total, cost_usd, attributes, events)
     SELECT $1::uuid, lpad(to_hex(i / 2), 32, '0'), lpad(to_hex(i), 16, '0'), 'llm', 3,
       CASE WHEN (i / 5) % 10 = 0 THEN 'CHAIN' ELSE 'LLM' END,
       TIMESTAMPTZ '${DATA_START}' + (i || ' seconds')::interval, 0, 0, 50 + (i::bigint * 7919 % 1000) / 3.0, 0,
       (i::bigint * 31 % 100) < CASE WHEN i % 5 = 1 THEN 9 ELSE 5 END, 'x', '1.0.0', NULL,
       (($2::uuid[])[CASE WHEN i <= $3 / 2 THEN 1 + i % 5 ELSE 6 + i % 20 END]), 'linked',
       'production', CASE WHEN i % 10 = 9 THEN 'stale' ELSE 'network' END, 'gpt-4o-mini', 100, 40 + i % 20, 140 + i % 20,
       0.0001 * (1 + i % 7), '{}', '[]'
     FROM generate_series(1, $3::int) i`,
    [projectId, groups, spans],
  );
  await rollUpStoredSpans(database, projectId);
  await database.query("VACUUM ANALYZE spans");
  await database.query("VACUUM ANALYZE span_rollups");
  return { projectId, targetVersions, loadSeconds: (Date.now() - t0) / 1000 };
}
