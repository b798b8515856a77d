/* jsonw: the growable buffer and JSON string escaping. */
#include "jsonw.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct buf b;

static void setup(void)
{
	buf_init(&b);
}

static void teardown(void)
{
	buf_free(&b);
}

TestSuite(jsonw, .init = setup, .fini = teardown);

/* The invariants every operation must keep. */
static void check_buf(const struct buf *x)
{
	cr_assert_not_null(x->data);
	cr_assert_lt(x->len, x->cap);
	cr_assert_eq(x->data[x->len], '\0');
	cr_assert_eq(strlen(x->data), x->len);
	cr_assert_eq(x->oom, 0);
}

static void expect_json(const char *in, const char *want)
{
	struct buf j;
	buf_init(&j);
	buf_json_str(&j, in);
	check_buf(&j);
	cr_expect_str_eq(j.data, want);
	buf_free(&j);
}

Test(jsonw, init_and_free)
{
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 0);
	buf_printf(&b, "x");
	buf_free(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 0);
	/* Freeing twice is harmless. */
	buf_free(&b);
}

Test(jsonw, printf_empty_string_terminates)
{
	buf_printf(&b, "%s", "");
	check_buf(&b);
	cr_assert_eq(b.len, 0);
	cr_assert_str_eq(b.data, "");
}

Test(jsonw, printf_appends)
{
	buf_printf(&b, "%d-%s", 42, "a");
	buf_printf(&b, "|%05u|", 7u);
	check_buf(&b);
	cr_assert_str_eq(b.data, "42-a|00007|");
	cr_assert_eq(b.len, 11);
}

Test(jsonw, printf_grows_by_small_appends)
{
	char want[5000];
	size_t n = 0;
	for (int i = 0; i < 500; i++) {
		buf_printf(&b, "%d,", i);
		n += (size_t)snprintf(want + n, sizeof(want) - n, "%d,", i);
		check_buf(&b);
		cr_assert_eq(b.len, n);
	}
	cr_assert_gt(b.cap, 256); /* it really grew past the first allocation */
	cr_assert_str_eq(b.data, want);
}

Test(jsonw, printf_one_large_append)
{
	size_t n = 100000;
	char *big = malloc(n + 1);
	cr_assert_not_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	big[n] = 0;
	buf_printf(&b, "<%s>", big);
	check_buf(&b);
	cr_assert_eq(b.len, n + 2);
	cr_assert_eq(b.data[0], '<');
	cr_assert_eq(memcmp(b.data + 1, big, n), 0);
	cr_assert_eq(b.data[n + 1], '>');
	free(big);
}

Test(jsonw, printf_exactly_at_capacity_boundary)
{
	/* 255 characters plus the NUL fill the first 256 bytes exactly; one more must grow. */
	char s[300];
	memset(s, 'x', sizeof(s));
	s[255] = 0;
	buf_printf(&b, "%s", s);
	check_buf(&b);
	cr_assert_eq(b.len, 255);
	buf_printf(&b, "y");
	check_buf(&b);
	cr_assert_eq(b.len, 256);
	cr_assert_eq(b.data[255], 'y');
}

Test(jsonw, put_binary_bytes)
{
	buf_put(&b, "ab\0cd", 5);
	cr_assert_eq(b.len, 5);
	cr_assert_eq(memcmp(b.data, "ab\0cd", 6), 0);
	buf_put(&b, "", 0);
	cr_assert_eq(b.len, 5);
}

Test(jsonw, json_plain)
{
	expect_json("", "\"\"");
	expect_json("hello world", "\"hello world\"");
}

Test(jsonw, json_quotes_and_backslash)
{
	expect_json("say \"hi\"", "\"say \\\"hi\\\"\"");
	expect_json("C:\\dir\\", "\"C:\\\\dir\\\\\"");
	expect_json("\\\"", "\"\\\\\\\"\"");
	/* '/' needs no escape. */
	expect_json("a/b", "\"a/b\"");
}

Test(jsonw, json_short_escapes)
{
	expect_json("a\nb\rc\td", "\"a\\nb\\rc\\td\"");
}

Test(jsonw, json_control_chars_as_u00xx)
{
	expect_json("\x01", "\"\\u0001\"");
	expect_json("\b\f", "\"\\u0008\\u000c\"");
	expect_json("\x1b[0m", "\"\\u001b[0m\"");
	expect_json("\x1f", "\"\\u001f\"");
	/* Every control character comes out as an escape, none raw. */
	for (int c = 1; c < 0x20; c++) {
		char in[2] = {(char)c, 0};
		struct buf j;
		buf_init(&j);
		buf_json_str(&j, in);
		check_buf(&j);
		for (size_t i = 0; i < j.len; i++)
			cr_assert_geq((unsigned char)j.data[i], 0x20, "raw control char 0x%02x", c);
		cr_assert_eq(j.data[1], '\\');
		buf_free(&j);
	}
	/* Space and DEL are not control characters for JSON. */
	expect_json(" \x7f", "\" \x7f\"");
}

Test(jsonw, json_utf8_passed_through)
{
	const char *s = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
	struct buf j;
	buf_init(&j);
	buf_json_str(&j, s);
	check_buf(&j);
	cr_assert_eq(j.len, strlen(s) + 2);
	cr_assert_eq(memcmp(j.data + 1, s, strlen(s)), 0);
	buf_free(&j);
}

Test(jsonw, json_appends_to_existing_content)
{
	buf_printf(&b, "{\"k\":");
	buf_json_str(&b, "v\"");
	buf_printf(&b, "}");
	check_buf(&b);
	cr_assert_str_eq(b.data, "{\"k\":\"v\\\"\"}");
}

Test(jsonw, json_long_string_with_escapes_grows)
{
	/* 1000 quotes become 2000 characters plus the two delimiters. */
	char in[1001];
	memset(in, '"', 1000);
	in[1000] = 0;
	buf_json_str(&b, in);
	check_buf(&b);
	cr_assert_eq(b.len, 2002);
	for (size_t i = 1; i < 2001; i += 2) {
		cr_assert_eq(b.data[i], '\\');
		cr_assert_eq(b.data[i + 1], '"');
	}
}
