package cache

import (
	"crypto/sha256"
	"encoding/hex"
)

// Key is the exact-tier key of a request within a namespace.
type Key [32]byte

// String is the key in hex.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// EntryID is the short, stable id of the entry a key names.
func (k Key) EntryID() string { return hex.EncodeToString(k[:12]) }

// keyDomain separates the keys of different endpoints. Chat keeps the
// domain of the keys semcache wrote before it served other endpoints, so
// those entries stay reachable after an upgrade.
func keyDomain(base, endpoint string) string {
	if endpoint == "" || endpoint == LegacyEndpoint {
		return base
	}
	return base + "/" + endpoint
}

// key is the exact-tier key of l: SHA-256 over the endpoint's domain, the
// namespace, the salt and the canonical key material.
func (l *Lookup) key() Key {
	var k Key
	saltedHash(keyDomain("semcache/v1", l.Endpoint), l.Namespace, l.Salt, l.Key, k[:0])
	return k
}

// partition is the similarity tier's context partition of l: everything
// that shapes the answer except the embedded prompt.
func (l *Lookup) partition() string {
	return hex.EncodeToString(saltedHash(keyDomain("semcache/partition/v1", l.Endpoint), l.Namespace, l.Salt, l.Partition, nil)[:16])
}

// ExactKey returns the exact-tier key a lookup would use (for the id a
// miss will be stored under).
func (l Lookup) ExactKey() Key { return l.key() }

// PartitionID returns the similarity tier's partition of l.
func (l Lookup) PartitionID() string { return l.partition() }

// saltedHash appends SHA-256(domain, ns, salt, data) to dst; the salt is
// left out entirely when empty so unsalted keys stay stable.
func saltedHash(domain, ns, salt string, data, dst []byte) []byte {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write([]byte(ns))
	h.Write([]byte{0})
	if salt != "" {
		h.Write([]byte("salt\x00"))
		h.Write([]byte(salt))
		h.Write([]byte{0})
	}
	h.Write(data)
	return h.Sum(dst)
}
