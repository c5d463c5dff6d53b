#!/usr/bin/env bash
# The whole test suite on a fresh machine (Debian bookworm, run as root):
# installs and starts what the tests need — PostgreSQL 15 + pgvector, the
# USE-lite model files, the English word vectors, WordNet, the node clients
# (openai, Vercel AI SDK, LangChain.js), headless Chromium — idempotently
# (seconds on a warm machine), then runs the static checks and every Go test
# with the race detector. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*" >&2; }

step "PostgreSQL 15 + pgvector"
dsn_line=$(bash .ci/postgres.sh | tail -n1)
export "${dsn_line?}"

step "USE-lite model"
SEMCACHE_MODEL_DIR=$(bash .ci/use-model.sh | tail -n1)
export SEMCACHE_MODEL_DIR

step "English word vectors"
SEMCACHE_WORDVEC_DIR=$(bash .ci/wordvec.sh | tail -n1)
export SEMCACHE_WORDVEC_DIR

step "WordNet"
SEMCACHE_WORDNET_DIR=$(bash .ci/wordnet.sh | tail -n1)
export SEMCACHE_WORDNET_DIR

step "node clients (scripts/node-e2e: openai, ai, @ai-sdk/openai, @langchain/openai)"
# npm ci again whenever the lockfile differs from the one last installed
# (the stamp holds its hash); --ignore-scripts: no package needs an install
# script, and none may download anything.
lock_hash=$(sha256sum scripts/node-e2e/package-lock.json | cut -d' ' -f1)
stamp=scripts/node-e2e/node_modules/.semcache-lock-sha256
if [[ ! -f $stamp || $(cat "$stamp") != "$lock_hash" ]]; then
	npm ci --prefix scripts/node-e2e --ignore-scripts --no-audit --no-fund --loglevel=error
	echo "$lock_hash" >"$stamp"
fi

step "headless Chromium"
if ! command -v chromium >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

step "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [[ -n $unformatted ]]; then
	printf 'gofmt would change:\n%s\n' "$unformatted" >&2
	exit 1
fi
go vet ./...

step "go test -race ./..."
# CI=true makes the tests that need PostgreSQL, the models, node or Chromium
# fail instead of skipping when their part is missing.
CI=${CI:-true} go test -race -timeout 25m ./...
