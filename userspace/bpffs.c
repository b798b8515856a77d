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
	return 0;
}

int bpffs_mkdir_p(const char *path)
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
