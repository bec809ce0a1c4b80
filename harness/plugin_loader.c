/*
 * Loading a third-party implementation from a shared object: dlopen, look up
 * CHAN_PLUGIN_ENTRY (a channel) and KINDS_PLUGIN_ENTRY (broadcast, watch,
 * oneshot: kinds_impl.h), call them, validate the tables, register them.
 * Every failure gives its own status and a message that says what to fix.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "chanbench/chan.h"
#include "chanbench/chan_impl.h"
#include "chanbench/kinds_impl.h"
#include "kinds_registry.h"
#include "registry.h"

chan_status chan_plugin_load(const char *path, const char **name, char *err, size_t errlen)
{
	char scratch[1];
	if (err == NULL || errlen == 0) {
		err = scratch;
		errlen = sizeof scratch;
	}
	err[0] = '\0';
	if (path == NULL) {
		snprintf(err, errlen, "plug-in path is NULL");
		return CHAN_EINVAL;
	}
	struct stat sb;
	if (stat(path, &sb) != 0) {
		snprintf(err, errlen, "%s: no such file", path);
		return CHAN_PLUGIN_OPEN;
	}
	/* dlopen searches the library path for a bare name; a plug-in is a file. */
	char full[4096];
	if (strchr(path, '/') == NULL)
		snprintf(full, sizeof full, "./%s", path);
	else
		snprintf(full, sizeof full, "%s", path);
	void *h = dlopen(full, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *why = dlerror();
		snprintf(err, errlen, "%s: not a loadable shared object: %s", path, why ? why : "?");
		return CHAN_PLUGIN_OPEN;
	}
	dlerror();
	void *sym = dlsym(h, CHAN_PLUGIN_ENTRY);
	void *ksym = dlsym(h, KINDS_PLUGIN_ENTRY);
	if (sym == NULL && ksym == NULL) {
		snprintf(err, errlen, "%s: exports neither entry symbol '%s' (a channel) nor '%s' (channel kinds)",
		         path, CHAN_PLUGIN_ENTRY, KINDS_PLUGIN_ENTRY);
		dlclose(h);
		return CHAN_PLUGIN_SYMBOL;
	}
	char why[512];
	chan_status st = CHAN_OK;
	const struct chan_ops *ops = NULL;
	if (sym != NULL) {
		chan_plugin_entry_fn entry;
		memcpy(&entry, &sym, sizeof entry); /* object pointer to function pointer */
		ops = entry();
		st = chan_registry_validate(ops, why, sizeof why);
	}
	/* Kind tables are checked and registered all together; then the channel
	 * table, whose refusal (a name taken) leaves the kinds registered: a
	 * second load of the same file fails on its kinds first, with CHAN_EXISTS. */
	const char *kind_name = NULL;
	if (st == CHAN_OK && ksym != NULL) {
		kinds_plugin_entry_fn kentry;
		memcpy(&kentry, &ksym, sizeof kentry);
		st = kind_registry_add_plugin(kentry(), &kind_name, why, sizeof why);
	}
	if (st == CHAN_OK && ops != NULL)
		st = chan_registry_add(ops, why, sizeof why);
	if (st != CHAN_OK) {
		snprintf(err, errlen, "%s: %s", path, why);
		if (kind_name == NULL)
			dlclose(h);
		return st;
	}
	/* The handle stays open for the life of the process: channels may use it. */
	if (name != NULL)
		*name = ops != NULL ? ops->name : kind_name;
	return CHAN_OK;
}
