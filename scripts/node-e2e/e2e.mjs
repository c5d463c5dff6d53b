// Drives semcache with the official openai npm client: each request is
// sent twice, non-streamed and streamed; the second must be served from the
// cache with the same content, and the client's own parsers must accept the
// replay. Prints one JSON line with what it saw; exits 1 on any mismatch.
import OpenAI from 'openai';

const baseURL = process.env.SEMCACHE_BASE_URL;
if (!baseURL) {
  console.error('SEMCACHE_BASE_URL is not set');
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: 'sk-node-e2e', maxRetries: 0 });
const prompt = process.env.SEMCACHE_PROMPT || 'Explain caching to a node.js developer';
// SEMCACHE_EXPECT_MARKER=1: semcache runs with --hit-marker; hits must
// carry the "semcache" member (the JSON object, the last stream chunk).
const expectMarker = process.env.SEMCACHE_EXPECT_MARKER === '1';
const messages = [{ role: 'user', content: prompt }];
const out = { json: [], stream: [] };

for (let i = 0; i < 2; i++) {
  const { data, response } = await client.chat.completions
    .create({ model: 'sim-gpt', messages })
    .withResponse();
  out.json.push({ header: response.headers.get('x-semcache'), content: data.choices[0].message.content, id: data.id, marker: data.semcache });
}

for (let i = 0; i < 2; i++) {
  const { data: stream, response } = await client.chat.completions
    .create({ model: 'sim-gpt', messages, stream: true, stream_options: { include_usage: true } })
    .withResponse();
  let content = '';
  let usage = null;
  let finish = null;
  let marker = null;
  let deltas = 0;
  for await (const chunk of stream) {
    if (chunk.semcache) marker = chunk.semcache;
    if (chunk.choices.some((c) => c.delta?.content)) deltas++;
    for (const c of chunk.choices) {
      content += c.delta?.content ?? '';
      finish = c.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  out.stream.push({ header: response.headers.get('x-semcache'), content, finish, usage, marker, deltas });
}

const problems = [];
const first = out.json[0].content;
if (!first) problems.push('empty content');
if (out.json[0].header !== 'miss') problems.push(`first request X-Semcache=${out.json[0].header}, want miss`);
for (const r of [out.json[1], ...out.stream]) {
  if (r.header !== 'hit-exact') problems.push(`X-Semcache=${r.header}, want hit-exact`);
  if (r.content !== first) problems.push(`content differs: ${JSON.stringify(r.content)} vs ${JSON.stringify(first)}`);
}
for (const s of out.stream) {
  if (s.finish !== 'stop') problems.push(`stream finish_reason=${s.finish}`);
  if (!s.usage || !(s.usage.total_tokens > 0)) problems.push('stream without usage chunk');
}
if (out.json[0].id === out.json[1].id) problems.push('hit reused the response id');
if (out.stream[1].deltas < 2) problems.push(`the replayed stream came in ${out.stream[1].deltas} deltas`);
const hits = [out.json[1], ...out.stream];
if (out.json[0].marker) problems.push('a miss carries the marker');
for (const r of hits) {
  if (expectMarker && r.marker?.hit !== 'exact') problems.push(`hit marker ${JSON.stringify(r.marker)}, want hit exact`);
  if (!expectMarker && r.marker) problems.push('a marker nobody asked for');
}
console.log(JSON.stringify({ ok: problems.length === 0, problems, out }));
process.exit(problems.length === 0 ? 0 : 1);
