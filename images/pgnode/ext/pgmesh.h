/*
 * Shared declarations of the pgmesh module. init.c owns _PG_init, every hook and every
 * GUC; the other files expose the functions the hooks call.
 */
#ifndef PGMESH_H
#define PGMESH_H

#include "executor/executor.h"
#include "nodes/params.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"

/* ---------- GUCs (defined in init.c) ---------- */
extern bool pgmesh_enable_routing;
extern bool pgmesh_enable_topk;
extern int	pgmesh_cross_group_writes;	/* 0 = refuse, 1 = allow */
extern bool pgmesh_direct_reads;
extern int	pgmesh_direct_read_max_rows;

/* Executor nesting depth (>0 inside ExecutorRun/Finish: functions, triggers). */
extern int	pgmesh_exec_nesting;

/* ---------- pgmesh.c: routing, top-k, write tracking ---------- */
extern Query *pgmesh_route_query(Query *parse, ParamListInfo boundParams, List **parents);
extern void pgmesh_note_writes(QueryDesc *queryDesc);
/* Has the current transaction written through a foreign table? */
extern bool pgmesh_wrote_in_xact(void);

/* ---------- direct.c: direct reads ---------- */
extern void pgmesh_direct_register(void);
extern void pgmesh_direct_executor_start(QueryDesc *qd, int eflags);
/* Is name a libpq connection option a server or user mapping may pass on? */
extern bool pgmesh_is_libpq_option(const char *name);

/* ---------- ddl.c: DDL propagation (ProcessUtility hook) ---------- */
extern bool pgmesh_propagate_ddl;
extern void pgmesh_ddl_utility(PlannedStmt *pstmt, const char *queryString,
							   bool readOnlyTree, ProcessUtilityContext context,
							   ParamListInfo params, QueryEnvironment *queryEnv,
							   DestReceiver *dest, QueryCompletion *qc);
/* The previous ProcessUtility hook, or the standard one (init.c). */
extern void pgmesh_next_utility(PlannedStmt *pstmt, const char *queryString,
								bool readOnlyTree, ProcessUtilityContext context,
								ParamListInfo params, QueryEnvironment *queryEnv,
								DestReceiver *dest, QueryCompletion *qc);

#endif
