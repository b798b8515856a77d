/*
 * Proxy Basic authentication against a users file of salted, slow password
 * hashes (PBKDF2-HMAC-SHA256 from wolfCrypt), one entry per line:
 *
 *   # comment
 *   alice:$pbkdf2-sha256$ITERATIONS$SALT$HASH
 *
 * SALT and HASH are standard base64 (16 and 32 bytes). `kfwd passwd USER`
 * writes such a line. Comparison of the derived key is constant-time, and an
 * unknown user costs the same key derivation as a known one, so response
 * timing tells nothing about which user names exist.
 */
#ifndef KFWD_AUTH_H
#define KFWD_AUTH_H
#include <stddef.h>

#define AUTH_USER_MAX     64
#define AUTH_SALT_LEN     16
#define AUTH_HASH_LEN     32
#define AUTH_ITER_DEFAULT 100000 /* about 50 ms of one core here; see docs */
#define AUTH_ITER_MIN     1000
#define AUTH_ITER_MAX     10000000
#define AUTH_LINE_MAX     256

struct auth_db;

/*
 * Load path. Return 0 and *out, or -errno with a message "PATH:LINE: why" (or
 * "PATH: why") in err: -ENOENT/-EACCES unreadable, -EINVAL a malformed line
 * (bad user name, unknown scheme, iterations out of bounds, bad base64,
 * wrong salt or hash length, duplicate user), -ENOMEM.
 */
int auth_db_load(const char *path, struct auth_db **out, char *err, size_t errlen);
void auth_db_free(struct auth_db *db);
size_t auth_db_count(const struct auth_db *db);

/*
 * Check a Proxy-Authorization header value ("Basic <base64 user:password>",
 * scheme case-insensitive). Return 0 if the user exists and the password is
 * right (the user name is copied to user, NUL-terminated, when user is not
 * NULL), -EACCES for a wrong password or unknown user, -EINVAL for a value
 * that is not well-formed Basic credentials. Thread-safe: db is read-only.
 */
int auth_check_basic(const struct auth_db *db, const char *value, size_t len, char *user,
                     size_t userlen);

/*
 * Make a users-file line (without newline) for user and password with a
 * fresh random salt. Return 0, or -EINVAL (user name not allowed: empty,
 * longer than AUTH_USER_MAX, or holding ':', whitespace or control
 * characters; iterations out of bounds), -ENOSPC (out too small), -EIO.
 */
int auth_hash_line(const char *user, const char *password, size_t pwlen, int iterations, char *out,
                   size_t outlen);

#endif
