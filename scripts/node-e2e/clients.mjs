// One client call per run, for end-to-end tests of semcache (or of the
// simulated upstream) with the clients people actually use: the official
// openai npm client, the Vercel AI SDK and LangChain.js.
//
//   node clients.mjs <subcommand> <baseURL> <arg> [--stream] [--model M]
//
// Subcommands (baseURL ends in /v1):
//   openai-responses <baseURL> <prompt> [--stream] [--helper]
//                                                     client.responses.create; with --helper the SDK's
//                                                     stream helper client.responses.stream() and finalResponse()
//   openai-embeddings <baseURL> <json-array> [--format float|base64]
//                                                     client.embeddings.create
//   ai-generate <baseURL> <prompt>                    generateText, openai(model): Responses API
//   ai-stream <baseURL> <prompt>                      streamText, openai(model): Responses API
//   ai-chat <baseURL> <prompt> [--stream]             generateText/streamText, openai.chat(model)
//   ai-tools <baseURL> <prompt>                       generateText with one tool, up to 3 steps
//   ai-embed <baseURL> <json-array>                   embedMany, openai.embedding(model)
//   langchain-responses <baseURL> <prompt> [--stream] ChatOpenAI({useResponsesApi: true})
//   langchain-chat <baseURL> <prompt> [--stream]      ChatOpenAI on chat completions
//   langchain-embeddings <baseURL> <json-array>       OpenAIEmbeddings.embedDocuments
//
// Each prints one JSON line: {ok:true, text, usage, deltas?, ...} with usage
// as the client reports it (and, from the AI SDK and LangChain,
// callbackUsage: what their onFinish / handleLLMEnd callbacks saw — what
// cost trackers count; from openai-responses, semcache: the hit marker as
// the client hands it back), or {ok:false, error, httpStatus?} and exits 1.
// Embedding subcommands print {ok:true, data:[{index, dims, head:[first 3
// components]}]}. bench/upstream's TestNodeClients runs every subcommand.
//
// Each library is imported only by the subcommands that use it, so a run
// pays for one library's start-up.

const apiKey = 'sk-node-clients';

function parseArgs(argv) {
  const [cmd, baseURL, arg, ...rest] = argv;
  const opts = { cmd, baseURL, arg, stream: false, helper: false, model: undefined, format: undefined };
  for (let i = 0; i < rest.length; i++) {
    switch (rest[i]) {
      case '--stream':
        opts.stream = true;
        break;
      case '--helper':
        opts.helper = true;
        break;
      case '--model':
        opts.model = rest[++i];
        break;
      case '--format':
        opts.format = rest[++i];
        break;
      default:
        throw new Error(`unknown flag ${rest[i]}`);
    }
  }
  if (!cmd || !baseURL || arg === undefined) {
    throw new Error('usage: node clients.mjs <subcommand> <baseURL> <prompt|json-array> [--stream] [--model M] [--format F]');
  }
  return opts;
}

const head = (vec) => Array.from(vec.slice(0, 3));

// openai npm client, Responses API.
async function openaiClient(baseURL) {
  const { default: OpenAI } = await import('openai');
  return new OpenAI({ baseURL, apiKey, maxRetries: 0 });
}

async function openaiResponses({ baseURL, arg, stream, helper, model = 'sim-gpt' }) {
  const client = await openaiClient(baseURL);
  if (helper) {
    // The SDK's stream helper rebuilds the response from the events and
    // throws on any event that does not fit (an item or part never added,
    // a delta out of place).
    const rs = client.responses.stream({ model, input: arg });
    let text = '';
    let deltas = 0;
    for await (const ev of rs) {
      if (ev.type === 'response.output_text.delta') {
        text += ev.delta;
        deltas++;
      }
    }
    const final = await rs.finalResponse();
    if (final.output_text !== text) throw new Error(`helper: deltas ${JSON.stringify(text)} differ from the final response ${JSON.stringify(final.output_text)}`);
    return { id: final.id, status: final.status, text, usage: final.usage, deltas, semcache: final.semcache };
  }
  if (!stream) {
    const resp = await client.responses.create({ model, input: arg });
    return { id: resp.id, status: resp.status, text: resp.output_text, usage: resp.usage, semcache: resp.semcache };
  }
  const events = await client.responses.create({ model, input: arg, stream: true });
  let text = '';
  let deltas = 0;
  let final = null;
  let lastSeq = -1;
  const types = [];
  for await (const ev of events) {
    if (ev.sequence_number !== lastSeq + 1) {
      throw new Error(`sequence_number ${ev.sequence_number} after ${lastSeq}`);
    }
    lastSeq = ev.sequence_number;
    if (types[types.length - 1] !== ev.type) types.push(ev.type);
    if (ev.type === 'response.output_text.delta') {
      text += ev.delta;
      deltas++;
    }
    if (ev.type === 'response.completed' || ev.type === 'response.incomplete') final = ev.response;
  }
  if (!final) throw new Error('stream ended without response.completed');
  const doneText = final.output
    .filter((o) => o.type === 'message')
    .flatMap((o) => o.content.filter((c) => c.type === 'output_text').map((c) => c.text))
    .join('');
  if (doneText !== text) throw new Error(`deltas ${JSON.stringify(text)} differ from the completed response ${JSON.stringify(doneText)}`);
  return { id: final.id, status: final.status, text, usage: final.usage, deltas, events: types, semcache: final.semcache };
}

// openai npm client, embeddings (the client asks for base64 unless told).
async function openaiEmbeddings({ baseURL, arg, format, model = 'sim-embedding' }) {
  const client = await openaiClient(baseURL);
  const params = { model, input: JSON.parse(arg) };
  if (format) params.encoding_format = format;
  const resp = await client.embeddings.create(params);
  return {
    data: resp.data.map((d) => ({ index: d.index, dims: d.embedding.length, head: head(d.embedding) })),
    usage: resp.usage,
  };
}

async function aiProvider(baseURL) {
  const { createOpenAI } = await import('@ai-sdk/openai');
  return createOpenAI({ baseURL, apiKey });
}

// Vercel AI SDK: openai(model) is the Responses API, openai.chat(model) chat
// completions.
async function aiGenerate({ baseURL, arg, model = 'sim-gpt' }, chat = false) {
  const { generateText } = await import('ai');
  const openai = await aiProvider(baseURL);
  let callbackUsage = null;
  const res = await generateText({
    model: chat ? openai.chat(model) : openai(model),
    prompt: arg,
    maxRetries: 0,
    onFinish: ({ totalUsage }) => {
      callbackUsage = totalUsage;
    },
  });
  return { text: res.text, usage: res.usage, callbackUsage, finishReason: res.finishReason, responseId: res.response?.id };
}

async function aiStream({ baseURL, arg, model = 'sim-gpt' }, chat = false) {
  const { streamText } = await import('ai');
  const openai = await aiProvider(baseURL);
  let streamError = null;
  let callbackUsage = null;
  const res = streamText({
    model: chat ? openai.chat(model) : openai(model),
    prompt: arg,
    maxRetries: 0,
    onError: ({ error }) => {
      streamError = error;
    },
    onFinish: ({ totalUsage }) => {
      callbackUsage = totalUsage;
    },
  });
  let text = '';
  let deltas = 0;
  for await (const delta of res.textStream) {
    text += delta;
    deltas++;
  }
  if (streamError) throw streamError;
  const usage = await res.usage;
  const finishReason = await res.finishReason;
  return { text, usage, callbackUsage, finishReason, deltas };
}

async function aiTools({ baseURL, arg, model = 'sim-gpt' }) {
  const { generateText, tool, stepCountIs } = await import('ai');
  const { z } = await import('zod');
  const openai = await aiProvider(baseURL);
  const calls = [];
  const res = await generateText({
    model: openai(model),
    prompt: arg,
    maxRetries: 0,
    stopWhen: stepCountIs(3),
    tools: {
      lookup: tool({
        description: 'Look something up.',
        inputSchema: z.object({ query: z.string(), ref: z.string() }),
        execute: async ({ query, ref }) => {
          calls.push({ query, ref });
          return `result for ${query}`;
        },
      }),
    },
  });
  return { text: res.text, usage: res.totalUsage, steps: res.steps.length, toolCalls: calls, finishReason: res.finishReason };
}

async function aiEmbed({ baseURL, arg, model = 'sim-embedding' }) {
  const { embedMany } = await import('ai');
  const openai = await aiProvider(baseURL);
  const values = JSON.parse(arg);
  const res = await embedMany({ model: openai.embedding(model), values, maxRetries: 0 });
  return { data: res.embeddings.map((e, index) => ({ index, dims: e.length, head: head(e) })), usage: res.usage };
}

// LangChain.js ChatOpenAI on the Responses API (or chat completions). Its
// handleLLMEnd callback records the usage a cost tracker would count.
async function langchainModel({ baseURL, model = 'sim-gpt' }, streaming, seen, responses = true) {
  const { ChatOpenAI } = await import('@langchain/openai');
  const callbacks = [
    {
      handleLLMEnd(output) {
        const gen = output.generations?.[0];
        const first = Array.isArray(gen) ? gen[0] : gen;
        seen.usage = output.llmOutput?.tokenUsage ?? first?.message?.usage_metadata ?? output.llmOutput?.estimatedTokenUsage ?? null;
      },
    },
  ];
  return new ChatOpenAI({ model, apiKey, useResponsesApi: responses, maxRetries: 0, streaming, callbacks, configuration: { baseURL } });
}

const contentText = (content) =>
  typeof content === 'string' ? content : content.map((c) => (typeof c === 'string' ? c : c.text ?? '')).join('');

async function langchainResponses(opts, responses = true) {
  const seen = { usage: null };
  const llm = await langchainModel(opts, opts.stream, seen, responses);
  if (!opts.stream) {
    const msg = await llm.invoke(opts.arg);
    return { text: contentText(msg.content), usage: msg.usage_metadata, callbackUsage: seen.usage, id: msg.id };
  }
  let text = '';
  let deltas = 0;
  let usage = null;
  for await (const chunk of await llm.stream(opts.arg)) {
    const t = contentText(chunk.content);
    if (t) {
      text += t;
      deltas++;
    }
    if (chunk.usage_metadata) usage = chunk.usage_metadata;
  }
  return { text, usage, callbackUsage: seen.usage, deltas };
}

async function langchainEmbeddings({ baseURL, arg, model = 'sim-embedding' }) {
  const { OpenAIEmbeddings } = await import('@langchain/openai');
  const emb = new OpenAIEmbeddings({ model, apiKey, maxRetries: 0, configuration: { baseURL } });
  const vecs = await emb.embedDocuments(JSON.parse(arg));
  return { data: vecs.map((v, index) => ({ index, dims: v.length, head: head(v) })) };
}

const commands = {
  'openai-responses': openaiResponses,
  'openai-embeddings': openaiEmbeddings,
  'ai-generate': (o) => aiGenerate(o),
  'ai-stream': (o) => aiStream(o),
  'ai-chat': (o) => (o.stream ? aiStream(o, true) : aiGenerate(o, true)),
  'ai-tools': aiTools,
  'ai-embed': aiEmbed,
  'langchain-responses': (o) => langchainResponses(o),
  'langchain-chat': (o) => langchainResponses(o, false),
  'langchain-embeddings': langchainEmbeddings,
};

try {
  const opts = parseArgs(process.argv.slice(2));
  const run = commands[opts.cmd];
  if (!run) throw new Error(`unknown subcommand ${opts.cmd}; one of ${Object.keys(commands).join(', ')}`);
  const out = await run(opts);
  console.log(JSON.stringify({ ok: true, ...out }));
} catch (err) {
  const httpStatus = err?.status ?? err?.statusCode;
  console.log(JSON.stringify({ ok: false, error: String(err?.message ?? err), httpStatus, name: err?.name }));
  process.exit(1);
}
