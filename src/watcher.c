/*-------------------------------------------------------------------------
 *
 * watcher.c
 *		The "migguard watcher" background worker.
 *
 * It sleeps on its latch, without timeout, while no guarded DDL is in
 * flight; a backend that registers one sets the latch.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"

/* seconds before the postmaster restarts a watcher that died */
#define WATCHER_RESTART_SECONDS 1

void
watcher_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = WATCHER_RESTART_SECONDS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "migguard");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "migguard_watcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "migguard watcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "migguard watcher");
	RegisterBackgroundWorker(&worker);
}

static void
watcher_detach(int code, Datum arg)
{
	registry_set_watcher(0, NULL);
}

void
migguard_watcher_main(Datum main_arg)
{
	MemoryContext loop_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no database: it reads only lock state and shared memory */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	registry_set_watcher(MyProcPid, MyLatch);
	before_shmem_exit(watcher_detach, (Datum) 0);

	loop_cxt = AllocSetContextCreate(TopMemoryContext,
									 "migguard watcher loop",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		timeout = -1;	/* no work: sleep until woken */
		MemoryContext oldcxt;

		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			registry_watcher_reloaded();
		}

		oldcxt = MemoryContextSwitchTo(loop_cxt);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(loop_cxt);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
						 (timeout >= 0 ? WL_TIMEOUT : 0),
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
