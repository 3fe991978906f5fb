/*
 * pgmesh: the recovery worker. A background worker on every node that loads pgmesh;
 * where the engine is installed (the coordinator's primary), it runs
 * pgmesh.recover_prepared_xacts() every pgmesh.recovery_interval, so a prepared
 * transaction left by a crash, a lost connection or a failover is committed or rolled
 * back without an operator (the decision rule is in sql/engine/010_two_phase.sql).
 * Prepared transactions younger than pgmesh.recovery_min_age are left to the backend
 * that is committing them. A failed run (a group unreachable) is logged and retried at
 * the next interval. Replicas and nodes without the engine skip the run.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "pgmesh.h"

PGDLLEXPORT void pgmesh_recovery_main(Datum arg);

static void
recover_once(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		char		sql[160];

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pgmesh: SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "pgmesh: recover prepared transactions");
		if (SPI_execute("SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
						"WHERE n.nspname = 'pgmesh' AND p.proname = 'recover_prepared_xacts'",
						true, 1) == SPI_OK_SELECT && SPI_processed > 0)
		{
			snprintf(sql, sizeof(sql),
					 "SELECT count(*)::int FROM pgmesh.recover_prepared_xacts('%d milliseconds')",
					 pgmesh_recovery_min_age);
			if (SPI_execute(sql, false, 0) == SPI_OK_SELECT && SPI_processed == 1)
			{
				bool		isnull;
				int			n = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
															SPI_tuptable->tupdesc, 1, &isnull));

				if (!isnull && n > 0)
					elog(LOG, "pgmesh: recovery resolved %d prepared transaction(s); see pgmesh.journal", n);
			}
		}
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
pgmesh_recovery_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(pgmesh_recovery_database, NULL, 0);
	for (;;)
	{
		long		wait = pgmesh_recovery_interval > 0 ? pgmesh_recovery_interval : 60000L;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (pgmesh_recovery_interval <= 0 || RecoveryInProgress())
			continue;
		recover_once();
	}
}

void
pgmesh_recovery_register(void)
{
	BackgroundWorker worker;

	if (!process_shared_preload_libraries_in_progress)
		return;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pgmesh");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgmesh_recovery_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pgmesh recovery");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pgmesh recovery");
	RegisterBackgroundWorker(&worker);
}
