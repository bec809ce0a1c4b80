/*
 * Command-line pieces shared by the conformance drivers (see driver_cli.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chanbench/chan_impl.h"
#include "driver_cli.h"

const char *driver_load_plugin(const char *prog, const char *path)
{
	char err[1024];
	const char *name = NULL;
	chan_status st = chan_plugin_load(path, &name, err, sizeof err);
	if (st != CHAN_OK) {
		fprintf(stderr, "%s: cannot load plug-in: %s (%s)\n", prog, err, chan_status_str(st));
		exit(DRIVER_EXIT_USAGE);
	}
	return name;
}

bool driver_parse_cap(const char *s, size_t *cap)
{
	if (strcmp(s, "unbounded") == 0 || strcmp(s, "inf") == 0) {
		*cap = CHAN_UNBOUNDED;
		return true;
	}
	uint64_t v;
	if (!driver_parse_u64(s, &v) || v > CHAN_MAX_CAPACITY)
		return false;
	*cap = (size_t)v;
	return true;
}

const char *driver_cap_str(size_t cap, char *buf, size_t n)
{
	if (cap == CHAN_UNBOUNDED)
		snprintf(buf, n, "unbounded");
	else
		snprintf(buf, n, "%zu", cap);
	return buf;
}

bool driver_parse_u64(const char *s, uint64_t *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0)
		return false;
	uint64_t mul = 1;
	if (*end == 'k' || *end == 'K') {
		mul = 1000;
		end++;
	} else if (*end == 'M') {
		mul = 1000000;
		end++;
	}
	if (*end != '\0' || v > UINT64_MAX / mul)
		return false;
	*out = (uint64_t)v * mul;
	return true;
}

bool driver_parse_double(const char *s, double *out)
{
	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	char *end;
	double v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v >= 0))
		return false;
	*out = v;
	return true;
}

static const struct {
	uint64_t bit;
	const char *name;
} cap_names[] = {
	{CHAN_CAP_BOUNDED, "bounded"},     {CHAN_CAP_RENDEZVOUS, "rendezvous"},
	{CHAN_CAP_UNBOUNDED, "unbounded"}, {CHAN_CAP_MPMC, "mpmc"},
	{CHAN_CAP_BLOCKING, "blocking"},   {CHAN_CAP_TIMED, "timed"},
	{CHAN_CAP_CLOSE, "close"},         {CHAN_CAP_LEN, "len"},
	{CHAN_CAP_SELECT, "select"},       {CHAN_CAP_POLLFD, "pollfd"},
	{CHAN_CAP_BATCH, "batch"},         {CHAN_CAP_REFERENCE, "reference"},
};
#define N_CAP_NAMES (sizeof cap_names / sizeof cap_names[0])

void driver_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void driver_list(FILE *out)
{
	for (size_t i = 0; i < chan_impl_count(); i++) {
		const char *name = chan_impl_name_at(i);
		uint64_t caps = chan_impl_caps(name);
		fprintf(out, "{\"name\": ");
		driver_json_str(out, name);
		fprintf(out, ", \"description\": ");
		driver_json_str(out, chan_impl_description(name));
		fprintf(out, ", \"caps\": [");
		bool first = true;
		for (size_t k = 0; k < N_CAP_NAMES; k++) {
			if (caps & cap_names[k].bit) {
				fprintf(out, "%s\"%s\"", first ? "" : ", ", cap_names[k].name);
				first = false;
			}
		}
		fprintf(out, "]}\n");
	}
}

const char *driver_missing_cap(const char *impl, size_t cap, uint64_t need)
{
	uint64_t caps = chan_impl_caps(impl);
	need |= cap == 0 ? CHAN_CAP_RENDEZVOUS : cap == CHAN_UNBOUNDED ? CHAN_CAP_UNBOUNDED
	                                                                : CHAN_CAP_BOUNDED;
	for (size_t k = 0; k < N_CAP_NAMES; k++)
		if ((need & cap_names[k].bit) && !(caps & cap_names[k].bit))
			return cap_names[k].name;
	return NULL;
}

void driver_exit_na(const char *driver, const char *impl, size_t cap, const char *check,
                    const char *missing)
{
	char cb[32];
	printf("{\"driver\": \"%s\", \"impl\": ", driver);
	driver_json_str(stdout, impl);
	printf(", \"cap\": \"%s\", \"check\": \"%s\", \"status\": \"n/a\", \"missing_cap\": \"%s\"}\n",
	       driver_cap_str(cap, cb, sizeof cb), check, missing);
	fprintf(stderr, "n/a: %s does not declare the '%s' capability that %s needs\n", impl, missing,
	        check);
	fflush(stdout);
	exit(DRIVER_EXIT_NA);
}

static bool is_flag(const struct driver_cli *cli, const char *a)
{
	for (const char *const *f = cli->flags; f != NULL && *f != NULL; f++)
		if (strcmp(a, *f) == 0)
			return true;
	return false;
}

const char *driver_cli_next(struct driver_cli *cli)
{
	if (cli->next == 0)
		cli->next = 1;
	while (cli->next < cli->argc) {
		const char *a = cli->argv[cli->next++];
		cli->opt = a;
		cli->val = NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			cli->usage(stdout);
			exit(DRIVER_EXIT_OK);
		}
		if (strcmp(a, "--list") == 0) {
			cli->list = true;
			continue;
		}
		if (is_flag(cli, a))
			return a;
		/* Every other option takes a value, an unknown one too: "--bogus"
		 * alone says it needs one before saying it is unknown. */
		if (cli->next >= cli->argc) {
			fprintf(stderr, "%s: %s needs a value (try --help)\n", cli->prog, a);
			exit(DRIVER_EXIT_USAGE);
		}
		cli->val = cli->argv[cli->next++];
		if (strcmp(a, "--impl") == 0)
			cli->impl = cli->val;
		else if (strcmp(a, "--plugin") == 0)
			cli->plugin = driver_load_plugin(cli->prog, cli->val);
		else
			return a;
	}
	return NULL;
}

void driver_cli_unknown(const struct driver_cli *cli)
{
	fprintf(stderr, "%s: unknown option '%s' (try --help)\n", cli->prog, cli->opt);
	exit(DRIVER_EXIT_USAGE);
}

void driver_cli_bad_value(const struct driver_cli *cli)
{
	fprintf(stderr, "%s: bad value '%s' for %s (try --help)\n", cli->prog, cli->val, cli->opt);
	exit(DRIVER_EXIT_USAGE);
}

const char *driver_cli_finish(struct driver_cli *cli, bool cap_given)
{
	if (cli->list) {
		driver_list(stdout);
		exit(DRIVER_EXIT_OK);
	}
	if (cli->impl == NULL)
		cli->impl = cli->plugin;
	if (cli->impl == NULL || !cap_given) {
		fprintf(stderr, "%s: --impl (or --plugin) and --cap are required (try --help)\n",
		        cli->prog);
		exit(DRIVER_EXIT_USAGE);
	}
	if (chan_impl_caps(cli->impl) == 0) {
		fprintf(stderr, "%s: no implementation named '%s'", cli->prog, cli->impl);
		if (cli->show_registered) {
			fprintf(stderr, " (registered:");
			for (size_t i = 0; i < chan_impl_count(); i++)
				fprintf(stderr, " %s", chan_impl_name_at(i));
			fprintf(stderr, ")");
		}
		fprintf(stderr, "\n");
		exit(DRIVER_EXIT_USAGE);
	}
	return cli->impl;
}

bool driver_parse_check(const char *val, int n, const char *const name[],
                        const char *const prop[], bool chosen[])
{
	bool all = strcmp(val, "all") == 0, ok = false;
	for (int k = 0; k < n; k++)
		if (all || strcmp(val, name[k]) == 0 || strcmp(val, prop[k]) == 0) {
			chosen[k] = true;
			ok = true;
		}
	return ok;
}
