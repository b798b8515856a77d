/* bpffs and pin folders, shared by the TCP fast path and the XDP program. */
#ifndef KFWD_BPFFS_H
#define KFWD_BPFFS_H
#include <stddef.h>

#define BPFFS_DEFAULT "/sys/fs/bpf"

/*
 * Mount bpffs at BPFFS_DEFAULT if pin_root lies under it and nothing is
 * mounted there yet; elsewhere the caller's path is taken as it is.
 * Return 0, or -errno with the cause in why[whylen]. who names the caller in logs.
 */
int bpffs_ready(const char *who, const char *pin_root, char *why, size_t whylen);
/* mkdir -p with mode 0700; retried once if another instance's bpffs_release
 * removed the empty pin root meanwhile. Return 0 or -errno. */
int bpffs_mkdir_p(const char *path);
/* Remove a pin folder and the pins in it (ours, or a crashed run's); warns, never fails. */
void bpffs_dir_remove(const char *who, const char *dir);
/*
 * After bpffs_dir_remove of pin_dir at a stop: remove pin_dir's parent (the
 * pin root, e.g. /sys/fs/bpf/kfwd) if it is empty, and unmount bpffs at
 * BPFFS_DEFAULT if bpffs_ready mounted it and nothing is left in it. Each
 * user (fast path, XDP) calls it; whoever is last finds the folders empty.
 * Never fails; an umount refused (busy) leaves the mount.
 */
void bpffs_release(const char *who, const char *pin_dir);

#endif
