/*-------------------------------------------------------------------------
 *
 * migguard.c
 *		Library entry point: settings, shared memory hooks, the
 *		ProcessUtility hook and the watcher's registration.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

int			migguard_mode = MIGGUARD_MODE_ENFORCE;
int			migguard_large_table_size_kb = 10 * 1024;
int			migguard_event_ring_size = 1000;
bool		migguard_preloaded = false;

static const struct config_enum_entry mode_options[] = {
	{"enforce", MIGGUARD_MODE_ENFORCE, false},
	{"warn", MIGGUARD_MODE_WARN, false},
	{"log", MIGGUARD_MODE_LOG, false},
	{"off", MIGGUARD_MODE_OFF, false},
	{NULL, 0, false}
};

#ifdef MG_HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

#ifdef MG_HAVE_SHMEM_REQUEST_HOOK
static void
migguard_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	registry_request_shmem();
	cic_cleanup_request_shmem();
}
#endif

static void
migguard_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	registry_startup_shmem();
	cic_cleanup_startup_shmem();
}

static void
define_settings(void)
{
	DefineCustomEnumVariable("migguard.mode",
							 "What migguard does with a statement that breaks a rule.",
							 "enforce rejects it, warn lets it run with a warning, "
							 "log only writes the server log, off turns migguard off "
							 "(no rules, no lock guard, no build supervision).",
							 &migguard_mode,
							 MIGGUARD_MODE_ENFORCE,
							 mode_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("migguard.large_table_size",
							"Size from which a table counts as large.",
							"Rules about lock duration fire only on relations at "
							"least this large (heap and TOAST; for a partitioned "
							"table, the sum of its partitions).",
							&migguard_large_table_size_kb,
							10 * 1024,
							0, MAX_KILOBYTES,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migguard.event_ring_size",
							"Number of events kept in shared memory.",
							"The oldest event is overwritten when the ring is full.",
							&migguard_event_ring_size,
							1000,
							0, 100000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	rules_define_settings();
	guard_define_settings();
	queue_wait_define_settings();
	xact_guard_define_settings();
	watcher_define_settings();
	cic_define_settings();
	preflight_define_settings();

	MarkGUCPrefixReserved("migguard");
}

void
_PG_init(void)
{
	/* pg_upgrade must be able to run with migguard in the preload list */
	if (IsBinaryUpgrade)
		return;

	/*
	 * Loaded later (by CREATE EXTENSION or a function call), the library
	 * installs nothing: a hook without its shared memory and worker would
	 * be half a guard.  Functions that need the rest say so.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	define_settings();

#ifdef MG_HAVE_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = migguard_shmem_request;
#else
	registry_request_shmem();
	cic_cleanup_request_shmem();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = migguard_shmem_startup;

	watcher_register();
	cic_install_hooks();
	xact_guard_install();
	ddl_hook_install();

	migguard_preloaded = true;
}

void
migguard_require_preload(void)
{
	if (!migguard_preloaded || !registry_attached())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migguard must be loaded via \"shared_preload_libraries\""),
				 errhint("Add migguard to \"shared_preload_libraries\" in postgresql.conf and restart the server.")));
}
