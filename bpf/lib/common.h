/* Includes and helpers every skouter BPF program needs. */
#ifndef SKOUTER_BPF_LIB_COMMON_H
#define SKOUTER_BPF_LIB_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <linux/types.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "../skouter_abi.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* A packet we let through goes on to the next tc filter on the interface (the default
 * verdict when there is none), so skouter never short-circuits someone else's filter. */
#define VERDICT_PASS TC_ACT_UNSPEC
#define VERDICT_DROP TC_ACT_SHOT

static __always_inline void copy_addr(__u8* dst, const __u8* src) {
  __builtin_memcpy(dst, src, 16);
}

#endif /* SKOUTER_BPF_LIB_COMMON_H */
