#include "cgroup.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define CGROUP_MNT_DIR "/run/kfwd" /* where kfwd mounts cgroup2 if nobody did */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 8192, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		len += fread(buf + len, 1, cap - 1 - len, f);
		if (len < cap - 1)
			break;
		char *nb = realloc(buf, cap * 2);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	fclose(f);
	if (buf)
		buf[len] = 0;
	return buf;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = 0;
}

/* One mountinfo line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SRC SOPTS". */
static bool mount_line(char *line, char *mnt, size_t mntlen, char *root, size_t rootlen)
{
	char *save = NULL, *f[5];
	for (int i = 0; i < 5; i++)
		if (!(f[i] = strtok_r(i ? NULL : line, " ", &save)))
			return false;
	char *tok;
	while ((tok = strtok_r(NULL, " ", &save)) && strcmp(tok, "-"))
		;
	char *fstype = tok ? strtok_r(NULL, " ", &save) : NULL;
	if (!fstype || strcmp(fstype, "cgroup2"))
		return false;
	unescape(f[3]);
	unescape(f[4]);
	if (strlen(f[4]) >= mntlen || strlen(f[3]) >= rootlen)
		return false;
	strcpy(mnt, f[4]);
	strcpy(root, f[3]);
	return true;
}

int cgroup_find_mount(const char *mountinfo, char *mnt, size_t mntlen, char *root, size_t rootlen)
{
	const char *p = mountinfo;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, n);
		if (!line)
			return -ENOMEM;
		bool found = mount_line(line, mnt, mntlen, root, rootlen);
		free(line);
		if (found)
			return 0;
		p = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

int cgroup_self_path(const char *text, char *path, size_t len)
{
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n > 3 && !strncmp(p, "0::", 3)) {
			if (n - 3 >= len)
				return -ENAMETOOLONG;
			memcpy(path, p + 3, n - 3);
			path[n - 3] = 0;
			return 0;
		}
		p = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

int cgroup_dir(const char *mnt, const char *root, const char *path, char *out, size_t len)
{
	size_t rl = strlen(root);
	if (!strcmp(root, "/"))
		rl = 0;
	else if (strncmp(path, root, rl) || (path[rl] && path[rl] != '/'))
		return -EXDEV;
	const char *rest = path + rl;
	if (!strcmp(rest, "/"))
		rest = "";
	int n = snprintf(out, len, "%s%s", strcmp(mnt, "/") ? mnt : "", rest);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	if (!out[0])
		snprintf(out, len, "/");
	return 0;
}

static int write_pid(const char *dir)
{
	char file[PATH_MAX + 16], pid[32];
	snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	int fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = write(fd, pid, (size_t)n) == n ? 0 : -errno;
	close(fd);
	return err;
}

static int own_mount_path(const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/cgroup2.%s", CGROUP_MNT_DIR, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static bool is_own_mount(const char *name, const char *mnt)
{
	char own[PATH_MAX];
	return own_mount_path(name, own, sizeof(own)) == 0 && !strcmp(own, mnt);
}

/* Mount a cgroup2 of our own when this mount namespace shows none
 * (`ip netns exec` gives its children a fresh /sys without one). */
static int mount_own(const char *name, struct cgroup_child *cg, char *mnt, size_t len)
{
	mkdir(CGROUP_MNT_DIR, 0755);
	if (own_mount_path(name, mnt, len))
		return -ENAMETOOLONG;
	if (mkdir(mnt, 0700) && errno != EEXIST)
		return -errno;
	if (mount("cgroup2", mnt, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		int err = -errno;
		rmdir(mnt);
		return err;
	}
	snprintf(cg->mounted, sizeof(cg->mounted), "%s", mnt);
	return 0;
}

/* The folder of this process's cgroup2, mounting one if needed. */
static int find_parent(const char *name, struct cgroup_child *cg, char *why, size_t whylen)
{
	char mnt[PATH_MAX], root[PATH_MAX], self[PATH_MAX];
	char *mi = slurp("/proc/self/mountinfo"), *pc = slurp("/proc/self/cgroup");
	int err = !mi || !pc ? -errno : 0;
	if (err)
		snprintf(why, whylen, "cannot read /proc/self/{mountinfo,cgroup}: %s",
		         strerror(-err));
	if (!err && (err = cgroup_self_path(pc, self, sizeof(self))))
		snprintf(why, whylen, "no cgroup2 entry in /proc/self/cgroup");
	if (!err && cgroup_find_mount(mi, mnt, sizeof(mnt), root, sizeof(root))) {
		snprintf(root, sizeof(root), "/");
		if ((err = mount_own(name, cg, mnt, sizeof(mnt))))
			snprintf(why, whylen,
			         "no cgroup2 mounted, and mounting one at %s/ failed: %s",
			         CGROUP_MNT_DIR, strerror(-err));
	} else if (!err && is_own_mount(name, mnt)) {
		/* Ours, left by a killed run in this mount namespace: unmount it at exit. */
		snprintf(cg->mounted, sizeof(cg->mounted), "%s", mnt);
	}
	if (!err && (err = cgroup_dir(mnt, root, self, cg->parent, sizeof(cg->parent))))
		snprintf(why, whylen, "cgroup %s is not under the cgroup2 mount %s (root %s)", self,
		         mnt, root);
	free(mi);
	free(pc);
	return err;
}

int cgroup_child_enter(const char *name, struct cgroup_child *cg, char *why, size_t whylen)
{
	memset(cg, 0, sizeof(*cg));
	cg->fd = -1;
	int err = find_parent(name, cg, why, whylen);
	if (err)
		goto fail;
	int n = snprintf(cg->path, sizeof(cg->path), "%s/kfwd-%s",
	                 strcmp(cg->parent, "/") ? cg->parent : "", name);
	if (n < 0 || (size_t)n >= sizeof(cg->path)) {
		err = -ENAMETOOLONG;
		snprintf(why, whylen, "cgroup path too long under %s", cg->parent);
		goto fail;
	}
	/* Left by a run that was killed: empty, since kfwd does not fork. */
	if (rmdir(cg->path) == 0)
		log_info("fastpath: removed stale cgroup %s", cg->path);
	else if (errno == EBUSY)
		log_warn("fastpath: stale cgroup %s still has processes", cg->path);
	if (mkdir(cg->path, 0755)) {
		err = -errno;
		snprintf(why, whylen, "cgroup %s: mkdir: %s", cg->path, strerror(errno));
		goto fail;
	}
	if ((err = write_pid(cg->path))) {
		snprintf(why, whylen, "cgroup %s: moving pid %d in: %s", cg->path, (int)getpid(),
		         strerror(-err));
		rmdir(cg->path);
		goto fail;
	}
	cg->fd = open(cg->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->fd < 0) {
		err = -errno;
		snprintf(why, whylen, "cgroup %s: open: %s", cg->path, strerror(errno));
		write_pid(cg->parent);
		rmdir(cg->path);
		goto fail;
	}
	return 0;
fail:
	cg->path[0] = 0;
	cgroup_child_leave(cg);
	return err;
}

void cgroup_child_leave(struct cgroup_child *cg)
{
	if (cg->fd > 0)
		close(cg->fd);
	cg->fd = -1;
	if (cg->path[0]) {
		int err = write_pid(cg->parent);
		if (err)
			log_warn("fastpath: cgroup %s: moving back: %s", cg->parent,
			         strerror(-err));
		if (rmdir(cg->path))
			log_warn("fastpath: cgroup %s: rmdir: %s", cg->path, strerror(errno));
		cg->path[0] = 0;
	}
	if (cg->mounted[0]) {
		if (umount2(cg->mounted, MNT_DETACH))
			log_warn("fastpath: umount %s: %s", cg->mounted, strerror(errno));
		rmdir(cg->mounted);
		cg->mounted[0] = 0;
	}
}
