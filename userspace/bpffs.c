#include "bpffs.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

/* bpffs_ready mounted BPFFS_DEFAULT (main thread only): bpffs_release may unmount it. */
static bool mounted_here;

static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == 0);
}

int bpffs_ready(const char *who, const char *pin_root, char *why, size_t whylen)
{
	struct statfs sf;
	if (!path_under(pin_root, BPFFS_DEFAULT))
		return 0;
	if (statfs(BPFFS_DEFAULT, &sf) == 0 && sf.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", BPFFS_DEFAULT, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700")) {
		int err = -errno;
		snprintf(why, whylen, "mount bpffs at %s: %s", BPFFS_DEFAULT, strerror(errno));
		return err;
	}
	log_info("%s: mounted bpffs at %s", who, BPFFS_DEFAULT);
	mounted_here = true;
	return 0;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int bpffs_mkdir_p(const char *path)
{
	int err = mkdir_p(path);
	return err == -ENOENT ? mkdir_p(path) : err;
}

/* Whether a bpffs mount holds nothing but what the kernel puts into every new
 * one (the bpf_preload iterators maps.debug and progs.debug). */
static bool bpffs_unused(const char *dir)
{
	static const char *const kernel_own[] = {".", "..", "maps.debug", "progs.debug"};
	DIR *d = opendir(dir);
	if (!d)
		return false;
	struct dirent *e;
	bool unused = true;
	while (unused && (e = readdir(d))) {
		unused = false;
		for (size_t i = 0; i < sizeof(kernel_own) / sizeof(kernel_own[0]); i++)
			unused |= !strcmp(e->d_name, kernel_own[i]);
	}
	closedir(d);
	return unused;
}

void bpffs_release(const char *who, const char *pin_dir)
{
	char root[PATH_MAX];
	if (snprintf(root, sizeof(root), "%s", pin_dir) >= (int)sizeof(root))
		return;
	char *slash = strrchr(root, '/');
	if (!slash || slash == root)
		return;
	*slash = 0;
	/* Fails harmlessly when another instance still pins there (ENOTEMPTY). */
	if (rmdir(root) == 0)
		log_debug("%s: removed the empty pin root %s", who, root);
	if (!mounted_here || !path_under(root, BPFFS_DEFAULT) || !bpffs_unused(BPFFS_DEFAULT))
		return;
	if (umount2(BPFFS_DEFAULT, UMOUNT_NOFOLLOW)) {
		log_warn("%s: unmount bpffs at %s: %s; left mounted", who, BPFFS_DEFAULT,
		         strerror(errno));
		return;
	}
	mounted_here = false;
	log_info("%s: unmounted bpffs at %s (mounted at start, nothing pinned now)", who,
	         BPFFS_DEFAULT);
}

void bpffs_dir_remove(const char *who, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char p[PATH_MAX + 256];
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p))
			log_warn("%s: unlink %s: %s", who, p, strerror(errno));
	}
	closedir(d);
	if (rmdir(dir))
		log_warn("%s: rmdir %s: %s", who, dir, strerror(errno));
}
