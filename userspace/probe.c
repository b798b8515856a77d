#include "probe.h"
#include "probe.skel.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

void probe_bpf(struct probe_result *r)
{
	struct utsname u;
	uname(&u);
	struct probe_bpf *skel = probe_bpf__open();
	if (!skel) {
		r->ok = false;
		snprintf(r->detail, sizeof(r->detail), "open probe object: %s", strerror(errno));
		return;
	}
	int err = probe_bpf__load(skel);
	if (err) {
		r->ok = false;
		snprintf(r->detail, sizeof(r->detail), "kernel %s refused sockhash/sk_skb: %s%s",
			 u.release, strerror(-err),
			 err == -EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN)" : "");
	} else {
		r->ok = true;
		snprintf(r->detail, sizeof(r->detail), "kernel %s loads sockhash + sk_skb",
			 u.release);
	}
	probe_bpf__destroy(skel);
}
