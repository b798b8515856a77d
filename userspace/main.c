/* kfwd command line: run, check, stats, flows, and the version/help texts. */
#include "auth.h"
#include "conf.h"
#include "ctl.h"
#include "daemon.h"
#include "jsonw.h"
#include "log.h"
#include "version.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define CTL_DIR "/run/kfwd"

static void usage(FILE *f)
{
	fprintf(f,
		"kfwd %s: kernel-assisted TCP/UDP forwarder\n"
		"\n"
		"Usage:\n"
		"  kfwd [run] -c FILE [--log-level LEVEL] [--log-format text|json]\n"
		"        run in the foreground, logs on stderr; SIGHUP reloads FILE,\n"
		"        SIGTERM/SIGINT stop accepting and let flows drain\n"
		"  kfwd check -c FILE      validate FILE; print FILE:LINE: message per problem\n"
		"  kfwd stats [--json] [-c FILE | -s SOCKET]\n"
		"  kfwd tunnel key-update [-c FILE | -s SOCKET]   force a QUIC key update\n"
		"        counters of the running instance that FILE (or SOCKET) names;\n"
		"        with neither, the only instance under " CTL_DIR "/\n"
		"  kfwd flows [--json] [-c FILE | -s SOCKET]\n"
		"        live TCP flows the kernel splices (fastpath listeners) and\n"
		"        UDP flows the XDP program forwards (global.interfaces)\n"
		"  kfwd schema             print every config key with its default (Markdown)\n"
		"  kfwd passwd [--iterations N] USER\n"
		"        print a users-file line for USER (auth.users_file); the password\n"
		"        is read from the terminal (twice) or as one line from stdin\n"
		"  kfwd --version | --help\n"
		"\n"
		"LEVEL is error, warn, info (default) or debug. Config reference: docs/config.md\n",
		KFWD_VERSION);
}

struct opts {
	const char *config;
	const char *socket;
	bool json;
	enum log_level level;
	enum log_format format;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"log-level", required_argument, NULL, 'l'},
		{"log-format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:s:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'l':
			if (log_level_parse(optarg, &o->level)) {
				fprintf(stderr, "kfwd: bad --log-level \"%s\" (error, warn, info, debug)\n",
					optarg);
				return -1;
			}
			break;
		case 'f':
			if (log_format_parse(optarg, &o->format)) {
				fprintf(stderr, "kfwd: bad --log-format \"%s\" (text, json)\n", optarg);
				return -1;
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kfwd: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	return 0;
}

static int cmd_check(const struct opts *o)
{
	if (!o->config) {
		fprintf(stderr, "kfwd check: -c FILE is required\n");
		return 2;
	}
	struct conf *c = NULL;
	struct conf_errs errs = {0};
	int err = conf_load(o->config, &c, &errs);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	if (!err) {
		char tun[300] = "";
		if (c->tunnel.role == TUNNEL_CLIENT)
			snprintf(tun, sizeof(tun), ", tunnel client to %s (UDP)", c->tunnel.peer);
		else if (c->tunnel.role == TUNNEL_SERVER)
			snprintf(tun, sizeof(tun), ", tunnel server on %s (UDP)", c->tunnel.bind.text);
		printf("%s: OK: %zu listener(s), instance %s, control socket %s%s\n", o->config,
		       c->nlisteners, c->global.instance, c->global.control_socket, tun);
	}
	else
		fprintf(stderr, "%s: %zu problem(s)\n", o->config, errs.n);
	conf_errs_free(&errs);
	conf_free(c);
	return err ? 1 : 0;
}

/* Without -c or -s: the one socket under CTL_DIR, if there is exactly one. */
static int find_single_socket(char *out, size_t len)
{
	DIR *d = opendir(CTL_DIR);
	int n = 0;
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			size_t l = strlen(e->d_name);
			if (l > 5 && !strcmp(e->d_name + l - 5, ".sock")) {
				if (n++ == 0 &&
				    snprintf(out, len, "%s/%.*s", CTL_DIR, 255, e->d_name) >= (int)len)
					n = 2;
				else
					fprintf(stderr, "kfwd: several instances in %s/ (%s, ...): "
							"name one with -c FILE or -s SOCKET\n",
						CTL_DIR, e->d_name);
			}
		}
		closedir(d);
	}
	if (n == 0)
		fprintf(stderr, "kfwd: no running instance found in %s/\n", CTL_DIR);
	return n == 1 ? 0 : -1;
}

static int cmd_inspect(const struct opts *o, const char *what)
{
	char path[512];
	if (o->socket) {
		snprintf(path, sizeof(path), "%s", o->socket);
	} else if (o->config) {
		struct conf *c = NULL;
		struct conf_errs errs = {0};
		if (conf_load(o->config, &c, &errs)) {
			for (size_t i = 0; i < errs.n; i++)
				fprintf(stderr, "%s\n", errs.msg[i]);
			conf_errs_free(&errs);
			return 1;
		}
		snprintf(path, sizeof(path), "%s", c->global.control_socket);
		conf_free(c);
	} else if (find_single_socket(path, sizeof(path))) {
		return 1;
	}
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "%s%s", what, o->json ? " json" : "");
	return ctl_request(path, cmd) ? 1 : 0;
}

static int cmd_schema(void)
{
	struct buf b;
	buf_init(&b);
	conf_schema_markdown(&b);
	if (b.data)
		fputs(b.data, stdout);
	buf_free(&b);
	return 0;
}

/* Read one line into buf without its newline; no echo on a terminal. */
static int read_password(const char *prompt, char *buf, size_t len)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char *ok = fgets(buf, (int)len, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (!ok)
		return -1;
	size_t n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (n == len - 1)
		return -2; /* longer than the buffer */
	return 0;
}

static int cmd_passwd(int argc, char **argv)
{
	int iterations = AUTH_ITER_DEFAULT;
	char pw[1024], again[1024], line[AUTH_LINE_MAX];
	const char *user = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < AUTH_ITER_MIN || v > AUTH_ITER_MAX) {
				fprintf(stderr, "kfwd passwd: --iterations must be %d..%d\n",
				        AUTH_ITER_MIN, AUTH_ITER_MAX);
				return 2;
			}
			iterations = (int)v;
		} else if (argv[i][0] != '-' && !user) {
			user = argv[i];
		} else {
			fprintf(stderr, "usage: kfwd passwd [--iterations N] USER\n");
			return 2;
		}
	}
	if (!user) {
		fprintf(stderr, "usage: kfwd passwd [--iterations N] USER\n");
		return 2;
	}
	int rc = read_password("Password: ", pw, sizeof(pw));
	if (rc == 0 && isatty(STDIN_FILENO)) {
		rc = read_password("Again: ", again, sizeof(again));
		if (rc == 0 && strcmp(pw, again) != 0) {
			fprintf(stderr, "kfwd passwd: the passwords differ\n");
			return 1;
		}
	}
	if (rc) {
		fprintf(stderr, "kfwd passwd: %s\n",
		        rc == -2 ? "password longer than 1023 bytes" : "no password given");
		return 1;
	}
	if (pw[0] == '\0') {
		fprintf(stderr, "kfwd passwd: empty password refused\n");
		return 1;
	}
	rc = auth_hash_line(user, pw, strlen(pw), iterations, line, sizeof(line));
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(again, sizeof(again));
	if (rc) {
		fprintf(
		    stderr, "kfwd passwd: %s\n",
		    rc == -EINVAL
		        ? "bad user name (1-64 characters, no ':', spaces or control characters)"
		        : strerror(-rc));
		return 1;
	}
	printf("%s\n", line);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {.level = LOG_INFO, .format = LOG_FMT_TEXT};
	const char *cmd = "run";
	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argc--;
		argv++;
		/* Two-word commands: "tunnel key-update". */
		if (!strcmp(cmd, "tunnel") && argc > 1 && argv[1][0] != '-') {
			cmd = !strcmp(argv[1], "key-update") ? "tunnel key-update" : argv[1];
			argc--;
			argv++;
		}
	}
	if (!strcmp(cmd, "passwd"))
		return cmd_passwd(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "--version")) {
		printf("kfwd %s\n", KFWD_VERSION);
		return 0;
	}
	if (parse_opts(argc, argv, &o))
		return 2;
	log_setup(o.level, o.format);
	log_route_libbpf();

	if (!strcmp(cmd, "run")) {
		if (!o.config) {
			usage(stderr);
			return 2;
		}
		return daemon_run(o.config);
	}
	if (!strcmp(cmd, "check"))
		return cmd_check(&o);
	if (!strcmp(cmd, "stats"))
		return cmd_inspect(&o, "stats");
	if (!strcmp(cmd, "flows"))
		return cmd_inspect(&o, "flows");
	if (!strcmp(cmd, "tunnel key-update"))
		return cmd_inspect(&o, "tunnel key-update");
	if (!strcmp(cmd, "schema"))
		return cmd_schema();
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "kfwd: unknown command \"%s\"\n\n", cmd);
	usage(stderr);
	return 2;
}
