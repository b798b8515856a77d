/*
 * The cgroup2 child that kfwd moves itself into so that a sockops program
 * attached to it sees kfwd's sockets and nobody else's. Sockets belong to the
 * cgroup their creator was in when they were made (accepted ones inherit it
 * from their listener), so the move must come before any listening socket.
 */
#ifndef KFWD_CGROUP_H
#define KFWD_CGROUP_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct cgroup_child {
	char path[PATH_MAX];    /* the child's folder */
	char parent[PATH_MAX];  /* where kfwd was, to go back before removing the child */
	char mounted[PATH_MAX]; /* a cgroup2 mount kfwd made itself ("" if none) */
	int fd;                 /* the child's folder, for attaching programs; -1 if none */
};

/*
 * From the text of /proc/self/mountinfo, the mount point and the root (the
 * folder of the hierarchy it shows) of the first cgroup2 mount.
 * Return 0, or -ENOENT when there is none.
 */
int cgroup_find_mount(const char *mountinfo, char *mnt, size_t mntlen, char *root, size_t rootlen);

/* From the text of /proc/self/cgroup, this process's cgroup2 path ("0::PATH").
 * Return 0, or -ENOENT. */
int cgroup_self_path(const char *self_cgroup, char *path, size_t len);

/*
 * The folder of the cgroup at path (as /proc/self/cgroup writes it) under a
 * mount of root at mnt. Return 0, -EXDEV when path is not under root, or
 * -ENAMETOOLONG.
 */
int cgroup_dir(const char *mnt, const char *root, const char *path, char *out, size_t len);

/*
 * Create the child `name` under this process's own cgroup2 and move the
 * process into it. A child of that name left by a crashed run is removed
 * first if it is empty; one with processes in it is an error (-EBUSY). If
 * no cgroup2 is mounted in this mount namespace, one is mounted under
 * /run/kfwd/ (and unmounted by cgroup_child_leave). On failure return
 * -errno with a message naming the step and the path in why[whylen].
 */
int cgroup_child_enter(const char *name, struct cgroup_child *cg, char *why, size_t whylen);

/* Move back to the parent, remove the child, unmount what was mounted.
 * Problems are logged; a zeroed or failed cg is fine. */
void cgroup_child_leave(struct cgroup_child *cg);

#endif
