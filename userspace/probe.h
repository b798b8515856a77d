/* Whether this kernel and privilege level allow the BPF fast path. */
#ifndef KFWD_PROBE_H
#define KFWD_PROBE_H
#include <stdbool.h>

struct probe_result {
	bool ok;
	char detail[160]; /* what was found, or why it failed */
};

/* Load and unload the probe program (sockhash + sk_skb verdict). Never fails;
 * the answer is in r. */
void probe_bpf(struct probe_result *r);

#endif
