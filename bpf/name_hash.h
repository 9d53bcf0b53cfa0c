/* The hash of a DNS name in learnable_names, computed alike by the daemon (C++) and by
 * the programs (BPF C).
 *
 * A name is hashed label by label, from the root up: the hash of a name is
 * skouter_suffix_push(hash of its parent, hash of its first label), the root's is
 * skouter_suffix_root(seed). So one walk of a name in an answer, left to right,
 * hashing each label, then one pass right to left, yields the hash of every suffix,
 * which is what matching `*.` rules needs. Labels are hashed lower-cased (ASCII), as
 * names compare in DNS; the dots are not hashed, the label lengths are.
 *
 * Keyed with a secret seed the daemon draws once and keeps in the pinned learning map:
 * workloads choose the names in their queries, and must not be able to aim one at the
 * hash of a name their policy allows. */
#ifndef SKOUTER_BPF_NAME_HASH_H
#define SKOUTER_BPF_NAME_HASH_H

#include "skouter_abi.h"

#ifdef __cplusplus
#define SKOUTER_INLINE inline
#else
#define SKOUTER_INLINE static __always_inline
#endif

/* MurmurHash3's 64-bit finaliser: every input bit reaches every output bit. */
SKOUTER_INLINE SKOUTER_U64 skouter_hash_mix(SKOUTER_U64 k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

/* A label: start, then each byte, then end with the label's length. */
SKOUTER_INLINE SKOUTER_U64 skouter_label_start(SKOUTER_U64 seed) {
  return seed ^ 0xcbf29ce484222325ULL; /* FNV-1a's offset basis */
}

SKOUTER_INLINE SKOUTER_U64 skouter_label_byte(SKOUTER_U64 hash, SKOUTER_U8 byte) {
  if (byte >= 'A' && byte <= 'Z') byte += 'a' - 'A';
  return (hash ^ byte) * 0x100000001b3ULL; /* FNV-1a's prime */
}

SKOUTER_INLINE SKOUTER_U64 skouter_label_end(SKOUTER_U64 hash, SKOUTER_U32 length) {
  return skouter_hash_mix(hash ^ ((SKOUTER_U64)length << 56));
}

/* The root: the empty name. */
SKOUTER_INLINE SKOUTER_U64 skouter_suffix_root(SKOUTER_U64 seed) {
  return skouter_hash_mix(seed ^ 0x2e2e2e2e2e2e2e2eULL);
}

/* The name made of `label` (its hash) in front of `parent` (its name's hash). */
SKOUTER_INLINE SKOUTER_U64 skouter_suffix_push(SKOUTER_U64 parent, SKOUTER_U64 label) {
  return skouter_hash_mix(parent * 0x9e3779b97f4a7c15ULL ^ label);
}

#undef SKOUTER_INLINE

#endif /* SKOUTER_BPF_NAME_HASH_H */
