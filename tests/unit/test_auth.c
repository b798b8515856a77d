/*
 * auth: users-file parsing (every malformed shape gets FILE:LINE and a
 * reason), PBKDF2 verification (including a line made by Python's hashlib,
 * an independent implementation), Basic credential parsing, and the lines
 * `kfwd passwd` writes.
 */
#include "auth.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Made with: hashlib.pbkdf2_hmac('sha256', b'correct horse', bytes(range(16)), 1000, 32) */
#define CAROL                                                                                      \
	"carol:$pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw==$"                                      \
	"yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ="
#define CAROL_BASIC "Basic Y2Fyb2w6Y29ycmVjdCBob3JzZQ==" /* carol:correct horse */

static char path[64];

static void write_file(const char *text)
{
	snprintf(path, sizeof(path), "/tmp/kfwd-auth-test.XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void cleanup(void)
{
	if (path[0])
		unlink(path);
	path[0] = '\0';
}

TestSuite(auth, .fini = cleanup, .timeout = 60);

static struct auth_db *load_ok(const char *text)
{
	struct auth_db *db = NULL;
	char err[256] = "";

	write_file(text);
	cr_assert_eq(auth_db_load(path, &db, err, sizeof(err)), 0, "%s", err);
	return db;
}

static int check(struct auth_db *db, const char *value, char *user, size_t len)
{
	return auth_check_basic(db, value, strlen(value), user, len);
}

Test(auth, line_from_an_independent_pbkdf2_verifies)
{
	struct auth_db *db = load_ok("# users\n\n" CAROL "\n");
	char user[AUTH_USER_MAX + 1] = "";

	cr_assert_eq(auth_db_count(db), 1);
	cr_assert_eq(check(db, CAROL_BASIC, user, sizeof(user)), 0);
	cr_assert_str_eq(user, "carol");
	cr_assert_eq(check(db, "basic   Y2Fyb2w6Y29ycmVjdCBob3JzZQ==  ", NULL, 0), 0,
	             "scheme case, spaces");
	/* carol:correct horsE */
	cr_assert_eq(check(db, "Basic Y2Fyb2w6Y29ycmVjdCBob3JzRQ==", NULL, 0), -EACCES);
	auth_db_free(db);
}

Test(auth, passwd_lines_verify_and_unknown_users_are_refused)
{
	char line[AUTH_LINE_MAX], file[2 * AUTH_LINE_MAX];
	char user[8];

	cr_assert_eq(auth_hash_line("alice", "pa:ss word", 10, 1000, line, sizeof(line)), 0);
	cr_assert(strncmp(line, "alice:$pbkdf2-sha256$1000$", 26) == 0, "%s", line);
	snprintf(file, sizeof(file), "%s\n%s\n", line, CAROL);
	struct auth_db *db = load_ok(file);

	/* alice:pa:ss word (a colon in the password is allowed) */
	cr_assert_eq(check(db, "Basic YWxpY2U6cGE6c3Mgd29yZA==", user, sizeof(user)), 0);
	cr_assert_str_eq(user, "alice");
	/* alice:pa:ss wor */
	cr_assert_eq(check(db, "Basic YWxpY2U6cGE6c3Mgd29y", NULL, 0), -EACCES);
	/* mallory:pa:ss word */
	cr_assert_eq(check(db, "Basic bWFsbG9yeTpwYTpzcyB3b3Jk", NULL, 0), -EACCES);
	/* carol with alice's password */
	cr_assert_eq(check(db, "Basic Y2Fyb2w6cGE6c3Mgd29yZA==", NULL, 0), -EACCES);

	/* Two lines for the same user and password differ: the salt is random. */
	char again[AUTH_LINE_MAX];
	cr_assert_eq(auth_hash_line("alice", "pa:ss word", 10, 1000, again, sizeof(again)), 0);
	cr_assert_str_neq(line, again);
	auth_db_free(db);
}

Test(auth, malformed_credentials_are_einval)
{
	struct auth_db *db = load_ok(CAROL "\n");
	const char *bad[] = {
	    "",
	    "Basic",
	    "Basic ",
	    "Bearer Y2Fyb2w6Y29ycmVjdCBob3JzZQ==",
	    "BasicY2Fyb2w6Y29ycmVjdCBob3JzZQ==",
	    "Basic !!!notbase64!!!",
	    "Basic Y2Fyb2w=", /* "carol": no colon */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(check(db, bad[i], NULL, 0), -EINVAL, "\"%s\"", bad[i]);
	auth_db_free(db);
}

Test(auth, malformed_files_name_line_and_reason)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
	    {"\n" CAROL "\nnocolon\n", ":3: expected user:"},
	    {":$pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw==$"
	     "yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ=\n",
	     ":1: bad user name"},
	    {"bob:$md5$x$y\n", ":1: unknown hash scheme"},
	    {"bob:$pbkdf2-sha256$10$AAECAwQFBgcICQoLDA0ODw==$"
	     "yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ=\n",
	     ":1: iterations"},
	    {"bob:$pbkdf2-sha256$x$AAECAwQFBgcICQoLDA0ODw==$"
	     "yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ=\n",
	     ":1: iterations"},
	    {"bob:$pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0O$"
	     "yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ=\n",
	     ":1: salt is not base64 of 16 bytes"},
	    {"bob:$pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw==$yRTMTw==\n",
	     ":1: hash is not base64 of 32 bytes"},
	    {"bob:$pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw==\n", ":1: missing hash"},
	    {CAROL "\n" CAROL "\n", ":2: user listed twice"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct auth_db *db = NULL;
		char err[256] = "";

		write_file(cases[i].text);
		cr_assert_eq(auth_db_load(path, &db, err, sizeof(err)), -EINVAL, "case %zu", i);
		cr_assert_null(db);
		cr_assert(strstr(err, path) == err, "case %zu names the file: %s", i, err);
		cr_assert_not_null(strstr(err, cases[i].want), "case %zu: \"%s\" lacks \"%s\"", i,
		                   err, cases[i].want);
		cleanup();
	}

	char longline[600];
	memset(longline, 'a', sizeof(longline) - 2);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = '\0';
	struct auth_db *db = NULL;
	char err[256];
	write_file(longline);
	cr_assert_eq(auth_db_load(path, &db, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, ":1: line longer than"), "%s", err);
}

Test(auth, missing_file_is_enoent)
{
	struct auth_db *db = NULL;
	char err[256];

	cr_assert_eq(auth_db_load("/nonexistent/kfwd-users", &db, err, sizeof(err)), -ENOENT);
	cr_assert_not_null(strstr(err, "/nonexistent/kfwd-users: "), "%s", err);
}

Test(auth, hash_line_refuses_bad_names_and_iterations)
{
	char line[AUTH_LINE_MAX], small[20];
	const char *names[] = {"", "a b", "a:b", "tab\there", "x\x7f"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		cr_assert_eq(auth_hash_line(names[i], "pw", 2, 1000, line, sizeof(line)), -EINVAL,
		             "%zu", i);
	cr_assert_eq(auth_hash_line("ok", "pw", 2, 999, line, sizeof(line)), -EINVAL);
	cr_assert_eq(auth_hash_line("ok", "pw", 2, AUTH_ITER_MAX + 1, line, sizeof(line)), -EINVAL);
	cr_assert_eq(auth_hash_line("ok", "pw", 2, 1000, small, sizeof(small)), -ENOSPC);
}
