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

/* Every time in the datapath is CLOCK_BOOTTIME, as the daemon's: it goes on during a
 * suspend, so an expiry or an idle timeout counts the time the node slept. */
static __always_inline __u64 now_ns(void) { return bpf_ktime_get_boot_ns(); }

/* How long ago `then` was; 0 when it is not in the past. Another CPU (or the daemon)
 * may stamp a time a little after this program read the clock: unsigned `now - then`
 * would wrap around to centuries and make a live entry look dead. */
static __always_inline __u64 elapsed_since(__u64 then, __u64 now) {
  return now > then ? now - then : 0;
}

#endif /* SKOUTER_BPF_LIB_COMMON_H */
