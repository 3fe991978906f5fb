/*
 * pgmesh module entry point: _PG_init, every hook and every GUC of the module.
 *
 * Each hook below calls the parts of the module in a fixed order and then the previous
 * hook (or the standard function), so the order of the parts is visible here and not
 * in the order their init functions happened to run. A new part exposes functions in
 * pgmesh.h and is called from the hook it needs.
 */
#include "postgres.h"

#include "executor/executor.h"
#include "fmgr.h"
#include "optimizer/planner.h"
#include "tcop/utility.h"
#include "utils/guc.h"

#include "pgmesh.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* ---------- GUCs ---------- */
bool		pgmesh_enable_routing = true;
bool		pgmesh_enable_topk = true;
int			pgmesh_cross_group_writes = PGMESH_CGW_TWO_PHASE;
int			pgmesh_fault_injection = PGMESH_FAULT_NONE;
bool		pgmesh_fdw_session = false;
int			pgmesh_fdw_lock_timeout = 0;
int			pgmesh_recovery_interval = 10000;
int			pgmesh_recovery_min_age = 5000;
char	   *pgmesh_recovery_database = NULL;
bool		pgmesh_direct_reads = true;
int			pgmesh_direct_read_max_rows = 1000;

int			pgmesh_exec_nesting = 0;

static const struct config_enum_entry cross_group_options[] = {
	{"refuse", PGMESH_CGW_REFUSE, false},
	{"allow", PGMESH_CGW_ALLOW, false},
	{"two_phase", PGMESH_CGW_TWO_PHASE, false},
	{NULL, 0, false}
};

static const struct config_enum_entry fault_options[] = {
	{"none", PGMESH_FAULT_NONE, false},
	{"crash_after_prepare", PGMESH_FAULT_AFTER_PREPARE, false},
	{"crash_after_commit", PGMESH_FAULT_AFTER_COMMIT, false},
	{NULL, 0, false}
};

static planner_hook_type prev_planner_hook = NULL;
static ExecutorStart_hook_type prev_executor_start_hook = NULL;
static ExecutorRun_hook_type prev_executor_run_hook = NULL;
static ExecutorFinish_hook_type prev_executor_finish_hook = NULL;
static ProcessUtility_hook_type prev_process_utility_hook = NULL;

/* ---------- hooks ---------- */

static PlannedStmt *
pgmesh_planner_hook(Query *parse, const char *query_string, int cursorOptions,
					ParamListInfo boundParams)
{
	PlannedStmt *stmt;
	List	   *parents = NIL;
	ListCell   *lc;

	/* A distribution-key UPDATE becomes a move (DELETE + INSERT) before routing. */
	if (parse->commandType == CMD_UPDATE)
		parse = pgmesh_modify_key_update(parse, boundParams);
	parse = pgmesh_route_query(parse, boundParams, &parents);
	if (prev_planner_hook)
		stmt = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	else
		stmt = standard_planner(parse, query_string, cursorOptions, boundParams);
	/* A shard move (detach/attach on a parent) must invalidate routed plans. */
	foreach(lc, parents)
		stmt->relationOids = list_append_unique_oid(stmt->relationOids, lfirst_oid(lc));
	return stmt;
}

static void
pgmesh_executor_start_hook(QueryDesc *qd, int eflags)
{
	bool		flipped;

	pgmesh_direct_executor_start(qd, eflags);
	/* postgres_fdw opens remote transactions here and in run: see xact.c. */
	flipped = pgmesh_xact_flip_isolation(qd);
	PG_TRY();
	{
		if (prev_executor_start_hook)
			prev_executor_start_hook(qd, eflags);
		else
			standard_ExecutorStart(qd, eflags);
	}
	PG_FINALLY();
	{
		pgmesh_xact_unflip_isolation(flipped);
	}
	PG_END_TRY();
}

static void
pgmesh_executor_run_hook(QueryDesc *qd, ScanDirection direction, uint64 count,
						 bool execute_once)
{
	bool		flipped = pgmesh_xact_flip_isolation(qd);

	pgmesh_exec_nesting++;
	PG_TRY();
	{
		if (prev_executor_run_hook)
			prev_executor_run_hook(qd, direction, count, execute_once);
		else
			standard_ExecutorRun(qd, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		pgmesh_exec_nesting--;
		pgmesh_xact_unflip_isolation(flipped);
	}
	PG_END_TRY();
}

static void
pgmesh_executor_finish_hook(QueryDesc *qd)
{
	bool		flipped = pgmesh_xact_flip_isolation(qd);

	pgmesh_exec_nesting++;
	PG_TRY();
	{
		if (prev_executor_finish_hook)
			prev_executor_finish_hook(qd);
		else
			standard_ExecutorFinish(qd);
	}
	PG_FINALLY();
	{
		pgmesh_exec_nesting--;
		pgmesh_xact_unflip_isolation(flipped);
	}
	PG_END_TRY();
	/* After the statement's last write (CTEs, AFTER triggers): may send 2PC intents. */
	pgmesh_note_writes(qd);
}

void
pgmesh_next_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					ProcessUtilityContext context, ParamListInfo params,
					QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context, params,
								  queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

/*
 * Transactions (xact.c) may replace the statement first: COMMIT as PREPARE TRANSACTION
 * and a READ COMMITTED START on workers, COPY <distributed table> TO as COPY (SELECT).
 * Then DDL propagation (ddl.c) decides; it runs the statement through
 * pgmesh_next_utility.
 */
static void
pgmesh_process_utility_hook(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
							ProcessUtilityContext context, ParamListInfo params,
							QueryEnvironment *queryEnv, DestReceiver *dest,
							QueryCompletion *qc)
{
	bool		after_start;

	pstmt = pgmesh_xact_utility(pstmt, &after_start);
	pgmesh_ddl_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	pgmesh_xact_after_utility(after_start);
}

/* ---------- GUC definitions ---------- */

static void
define_gucs(void)
{
	DefineCustomBoolVariable("pgmesh.enable_routing",
							 "Route queries with a fixed distribution key to their shard and fan out top-k.",
							 NULL, &pgmesh_enable_routing, true, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("pgmesh.enable_topk",
							 "Push ORDER BY ... LIMIT k to every shard of a distributed table.",
							 NULL, &pgmesh_enable_topk, true, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomEnumVariable("pgmesh.cross_group_writes",
							 "Transactions writing to several worker groups: two_phase (atomic), refuse, or allow (non-atomic).",
							 NULL, &pgmesh_cross_group_writes, PGMESH_CGW_TWO_PHASE, cross_group_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("pgmesh.fault_injection",
							 "Test only: kill the backend between the prepare and the commit of a two-phase commit.",
							 NULL, &pgmesh_fault_injection, PGMESH_FAULT_NONE, fault_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("pgmesh.fdw_session",
							 "Worker side: this session carries a coordinator's remote transactions (READ COMMITTED instead of REPEATABLE READ).",
							 NULL, &pgmesh_fdw_session, false, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("pgmesh.fdw_lock_timeout",
							"Worker side: lock_timeout of a coordinator's remote transactions (bounds a deadlock across groups); 0 keeps lock_timeout.",
							NULL, &pgmesh_fdw_lock_timeout, 0, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pgmesh.recovery_interval",
							"How often the recovery worker resolves prepared transactions left by crashes; 0 turns it off.",
							NULL, &pgmesh_recovery_interval, 10000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pgmesh.recovery_min_age",
							"The recovery worker leaves prepared transactions younger than this to their own backend.",
							NULL, &pgmesh_recovery_min_age, 5000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("pgmesh.recovery_database",
							   "Database the recovery worker connects to (the one holding the engine).",
							   NULL, &pgmesh_recovery_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("pgmesh.direct_reads",
							 "Read postgres_fdw tables in one round trip per shard for top-level read-only statements outside transaction blocks.",
							 NULL, &pgmesh_direct_reads, true, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("pgmesh.direct_read_max_rows",
							"Largest estimated row count of a foreign scan read directly (its result is buffered).",
							NULL, &pgmesh_direct_read_max_rows, 1000, 0, 1000000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("pgmesh.propagate_ddl",
							 "Propagate schema changes on distributed and reference tables to every shard.",
							 "The engine's own functions turn it off while they change shards themselves.",
							 &pgmesh_propagate_ddl, true, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("pgmesh");
}

void
_PG_init(void)
{
	define_gucs();
	pgmesh_direct_register();
	/* Before postgres_fdw's (registered at its first connection): see xact.c. */
	pgmesh_xact_register();
	pgmesh_recovery_register();

	prev_planner_hook = planner_hook;
	planner_hook = pgmesh_planner_hook;
	prev_executor_start_hook = ExecutorStart_hook;
	ExecutorStart_hook = pgmesh_executor_start_hook;
	prev_executor_run_hook = ExecutorRun_hook;
	ExecutorRun_hook = pgmesh_executor_run_hook;
	prev_executor_finish_hook = ExecutorFinish_hook;
	ExecutorFinish_hook = pgmesh_executor_finish_hook;
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = pgmesh_process_utility_hook;
}
