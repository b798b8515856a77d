/* cgroup: finding the cgroup2 mount and this process's cgroup folder from the text of
 * /proc/self/mountinfo and /proc/self/cgroup (no mounts made, no root needed). */
#include "cgroup.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

/* This machine's layout: cgroup v1 controllers plus cgroup2 at .../unified. */
static const char *const hybrid =
    "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n";

Test(cgroup, finds_the_cgroup2_mount_among_v1)
{
	char mnt[64], root[64];
	cr_assert_eq(cgroup_find_mount(hybrid, mnt, sizeof(mnt), root, sizeof(root)), 0);
	cr_assert_str_eq(mnt, "/sys/fs/cgroup/unified");
	cr_assert_str_eq(root, "/");
}

Test(cgroup, no_cgroup2_mount)
{
	/* What `ip netns exec` shows: a fresh /sys and nothing under it. */
	const char *mi = "48 45 0:39 / /sys rw,relatime - sysfs ns1 rw\n"
	                 "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n";
	char mnt[64], root[64];
	cr_assert_eq(cgroup_find_mount(mi, mnt, sizeof(mnt), root, sizeof(root)), -ENOENT);
	cr_assert_eq(cgroup_find_mount("", mnt, sizeof(mnt), root, sizeof(root)), -ENOENT);
}

Test(cgroup, mount_point_with_escapes_and_a_root)
{
	/* Spaces are written \040; a bind mount of a subtree has that subtree as root. */
	const char *mi = "50 1 0:40 /kfwd.slice /mnt/my\\040cg rw - cgroup2 none rw\n";
	char mnt[64], root[64];
	cr_assert_eq(cgroup_find_mount(mi, mnt, sizeof(mnt), root, sizeof(root)), 0);
	cr_assert_str_eq(mnt, "/mnt/my cg");
	cr_assert_str_eq(root, "/kfwd.slice");
}

Test(cgroup, mount_point_too_long_for_the_buffer)
{
	char mnt[8], root[64];
	cr_assert_eq(cgroup_find_mount(hybrid, mnt, sizeof(mnt), root, sizeof(root)), -ENOENT);
}

Test(cgroup, self_path)
{
	char p[64];
	cr_assert_eq(
	    cgroup_self_path("4:memory:/x\n0::/system.slice/kfwd@edge.service\n", p, sizeof(p)), 0);
	cr_assert_str_eq(p, "/system.slice/kfwd@edge.service");
	cr_assert_eq(cgroup_self_path("0::/", p, sizeof(p)), 0);
	cr_assert_str_eq(p, "/");
	cr_assert_eq(cgroup_self_path("1:name=systemd:/\n", p, sizeof(p)), -ENOENT);
	cr_assert_eq(cgroup_self_path("0::/a/very/long/path\n", p, 8), -ENAMETOOLONG);
}

Test(cgroup, dir_under_a_root_mount)
{
	char d[128];
	cr_assert_eq(cgroup_dir("/sys/fs/cgroup/unified", "/", "/", d, sizeof(d)), 0);
	cr_assert_str_eq(d, "/sys/fs/cgroup/unified");
	cr_assert_eq(cgroup_dir("/sys/fs/cgroup", "/", "/system.slice/x.service", d, sizeof(d)), 0);
	cr_assert_str_eq(d, "/sys/fs/cgroup/system.slice/x.service");
}

Test(cgroup, dir_under_a_subtree_mount)
{
	char d[128];
	cr_assert_eq(cgroup_dir("/mnt/cg", "/kfwd.slice", "/kfwd.slice/a", d, sizeof(d)), 0);
	cr_assert_str_eq(d, "/mnt/cg/a");
	cr_assert_eq(cgroup_dir("/mnt/cg", "/kfwd.slice", "/kfwd.slice", d, sizeof(d)), 0);
	cr_assert_str_eq(d, "/mnt/cg");
	/* Outside the mounted subtree, or a sibling that merely shares the prefix. */
	cr_assert_eq(cgroup_dir("/mnt/cg", "/kfwd.slice", "/other", d, sizeof(d)), -EXDEV);
	cr_assert_eq(cgroup_dir("/mnt/cg", "/kfwd.slice", "/kfwd.slice2/a", d, sizeof(d)), -EXDEV);
}

Test(cgroup, dir_too_long)
{
	char d[8];
	cr_assert_eq(cgroup_dir("/sys/fs/cgroup", "/", "/x", d, sizeof(d)), -ENAMETOOLONG);
}

Test(cgroup, leave_a_zeroed_child_is_harmless)
{
	struct cgroup_child cg;
	memset(&cg, 0, sizeof(cg));
	cgroup_child_leave(&cg);
	cg.fd = -1;
	cgroup_child_leave(&cg);
}
