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
const messages = [{ role: 'user', content: prompt }];
const out = { json: [], stream: [] };

for (let i = 0; i < 2; i++) {
  const { data, response } = await client.chat.completions
    .create({ model: 'sim-gpt', messages })
    .withResponse();
  out.json.push({ header: response.headers.get('x-semcache'), content: data.choices[0].message.content, id: data.id });
}

for (let i = 0; i < 2; i++) {
  const { data: stream, response } = await client.chat.completions
    .create({ model: 'sim-gpt', messages, stream: true, stream_options: { include_usage: true } })
    .withResponse();
  let content = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      content += c.delta?.content ?? '';
      finish = c.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  out.stream.push({ header: response.headers.get('x-semcache'), content, finish, usage });
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
console.log(JSON.stringify({ ok: problems.length === 0, problems, out }));
process.exit(problems.length === 0 ? 0 : 1);
