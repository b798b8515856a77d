/*
 * Users file, PBKDF2 verification and Basic credential parsing. The file is
 * small and read once per (re)load; lookups are linear over at most a few
 * thousand users, which is nothing next to one key derivation.
 */
#include "auth.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/pwdbased.h>

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define SCHEME "$pbkdf2-sha256$"

struct auth_user {
	char name[AUTH_USER_MAX + 1];
	int iterations;
	unsigned char salt[AUTH_SALT_LEN];
	unsigned char hash[AUTH_HASH_LEN];
};

struct auth_db {
	struct auth_user *v;
	size_t n;
	/* Verified for unknown users so that they cost a derivation too. */
	struct auth_user dummy;
};

static bool user_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > AUTH_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ':' || c <= ' ' || c == 0x7f)
			return false;
	}
	return true;
}

/* Decode base64 text[0..len) into exactly want bytes. */
static bool b64_exact(const char *text, size_t len, unsigned char *out, size_t want)
{
	unsigned char buf[64];
	word32 outlen = sizeof(buf);

	if (len == 0 || len > 88)
		return false;
	if (Base64_Decode((const byte *)text, (word32)len, buf, &outlen) != 0 || outlen != want)
		return false;
	memcpy(out, buf, want);
	return true;
}

static int derive(const char *pw, size_t pwlen, const unsigned char *salt, int iterations,
                  unsigned char out[AUTH_HASH_LEN])
{
	if (pwlen > INT32_MAX)
		return -EINVAL;
	return wc_PBKDF2(out, (const byte *)pw, (int)pwlen, salt, AUTH_SALT_LEN, iterations,
	                 AUTH_HASH_LEN, WC_SHA256) == 0
	           ? 0
	           : -EIO;
}

/* Parse "user:$pbkdf2-sha256$ITER$SALT$HASH"; return a static reason or NULL. */
static const char *parse_line(char *line, struct auth_user *u)
{
	char *colon = strchr(line, ':'), *p, *salt, *hash, *end;
	long iter;

	if (!colon)
		return "expected user:$pbkdf2-sha256$ITERATIONS$SALT$HASH";
	if (!user_name_ok(line, (size_t)(colon - line)))
		return "bad user name (1-64 characters, no ':', spaces or control characters)";
	memcpy(u->name, line, (size_t)(colon - line));
	u->name[colon - line] = '\0';
	p = colon + 1;
	if (strncmp(p, SCHEME, strlen(SCHEME)) != 0)
		return "unknown hash scheme (only $pbkdf2-sha256$ is supported)";
	p += strlen(SCHEME);
	errno = 0;
	iter = strtol(p, &end, 10);
	if (errno || end == p || *end != '$' || iter < AUTH_ITER_MIN || iter > AUTH_ITER_MAX)
		return "iterations must be a number from 1000 to 10000000";
	u->iterations = (int)iter;
	salt = end + 1;
	hash = strchr(salt, '$');
	if (!hash)
		return "missing hash after the salt";
	if (!b64_exact(salt, (size_t)(hash - salt), u->salt, AUTH_SALT_LEN))
		return "salt is not base64 of 16 bytes";
	hash++;
	if (!b64_exact(hash, strlen(hash), u->hash, AUTH_HASH_LEN))
		return "hash is not base64 of 32 bytes";
	return NULL;
}

static void strip(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

int auth_db_load(const char *path, struct auth_db **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	struct auth_db *db;
	char line[AUTH_LINE_MAX + 2];
	int lineno = 0, rc = 0;

	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	db = calloc(1, sizeof(*db));
	if (!db) {
		fclose(f);
		return -ENOMEM;
	}
	db->dummy.iterations = AUTH_ITER_DEFAULT;
	while (fgets(line, sizeof(line), f)) {
		struct auth_user u = {0}, *nv;
		const char *why;
		char *s = line;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line longer than %d characters", path, lineno,
			         AUTH_LINE_MAX);
			rc = -EINVAL;
			break;
		}
		strip(line);
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == '#')
			continue;
		why = parse_line(s, &u);
		for (size_t i = 0; !why && i < db->n; i++)
			if (strcmp(db->v[i].name, u.name) == 0)
				why = "user listed twice";
		if (why) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			rc = -EINVAL;
			break;
		}
		nv = realloc(db->v, (db->n + 1) * sizeof(*nv));
		if (!nv) {
			rc = -ENOMEM;
			break;
		}
		db->v = nv;
		db->v[db->n++] = u;
		/* The dummy costs what a real user costs. */
		if (u.iterations > db->dummy.iterations)
			db->dummy.iterations = u.iterations;
	}
	if (!rc && ferror(f)) {
		rc = -EIO;
		snprintf(err, errlen, "%s: read error", path);
	}
	fclose(f);
	if (rc) {
		auth_db_free(db);
		return rc;
	}
	*out = db;
	return 0;
}

void auth_db_free(struct auth_db *db)
{
	if (!db)
		return;
	free(db->v);
	free(db);
}

size_t auth_db_count(const struct auth_db *db)
{
	return db->n;
}

/* Constant-time equality of two equal-length byte strings. */
static bool ct_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
	volatile unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

int auth_check_basic(const struct auth_db *db, const char *value, size_t len, char *user,
                     size_t userlen)
{
	unsigned char dec[3 * AUTH_LINE_MAX / 4 + 4], key[AUTH_HASH_LEN];
	word32 declen = sizeof(dec);
	const struct auth_user *u = &db->dummy;
	const unsigned char *colon;
	size_t ulen, i = 0;
	bool known = false;
	int rc;

	while (i < len && value[i] == ' ')
		i++;
	if (len - i < 6 || strncasecmp(value + i, "basic ", 6) != 0)
		return -EINVAL;
	i += 6;
	while (i < len && value[i] == ' ')
		i++;
	while (len > i && value[len - 1] == ' ')
		len--;
	if (len == i || len - i > AUTH_LINE_MAX)
		return -EINVAL;
	if (Base64_Decode((const byte *)value + i, (word32)(len - i), dec, &declen) != 0)
		return -EINVAL;
	colon = memchr(dec, ':', declen);
	if (!colon)
		return -EINVAL;
	ulen = (size_t)(colon - dec);
	if (user_name_ok((const char *)dec, ulen)) {
		for (size_t k = 0; k < db->n; k++) {
			if (strlen(db->v[k].name) == ulen &&
			    memcmp(db->v[k].name, dec, ulen) == 0) {
				u = &db->v[k];
				known = true;
				break;
			}
		}
	}
	rc = derive((const char *)colon + 1, declen - ulen - 1, u->salt, u->iterations, key);
	if (rc)
		return rc;
	if (!ct_equal(key, u->hash, AUTH_HASH_LEN) || !known)
		return -EACCES;
	if (user && userlen) {
		size_t n = ulen < userlen - 1 ? ulen : userlen - 1;
		memcpy(user, dec, n);
		user[n] = '\0';
	}
	return 0;
}

int auth_hash_line(const char *user, const char *password, size_t pwlen, int iterations, char *out,
                   size_t outlen)
{
	unsigned char salt[AUTH_SALT_LEN], key[AUTH_HASH_LEN];
	byte salt64[32], key64[64];
	word32 s64 = sizeof(salt64), k64 = sizeof(key64);
	int n;

	if (!user_name_ok(user, strlen(user)) || iterations < AUTH_ITER_MIN ||
	    iterations > AUTH_ITER_MAX)
		return -EINVAL;
	if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
		return -EIO;
	if (derive(password, pwlen, salt, iterations, key))
		return -EIO;
	if (Base64_Encode_NoNl(salt, sizeof(salt), salt64, &s64) ||
	    Base64_Encode_NoNl(key, sizeof(key), key64, &k64))
		return -EIO;
	n = snprintf(out, outlen, "%s:" SCHEME "%d$%.*s$%.*s", user, iterations, (int)s64,
	             (char *)salt64, (int)k64, (char *)key64);
	return n < 0 || (size_t)n >= outlen ? -ENOSPC : 0;
}
