/*
 * Shared declarations of the pgmesh module. init.c owns _PG_init, every hook and every
 * GUC; the other files expose the functions the hooks call.
 */
#ifndef PGMESH_H
#define PGMESH_H

#include "executor/executor.h"
#include "nodes/params.h"
#include "nodes/parsenodes.h"
#include "libpq-fe.h"
#include "tcop/utility.h"
#include "utils/partcache.h"
#include "utils/rel.h"

/* ---------- GUCs (defined in init.c) ---------- */
extern bool pgmesh_enable_routing;
extern bool pgmesh_enable_topk;
extern int	pgmesh_cross_group_writes;	/* PGMESH_CGW_* */
extern int	pgmesh_fault_injection; /* PGMESH_FAULT_* */
extern bool pgmesh_fdw_session;
extern int	pgmesh_fdw_lock_timeout;
extern int	pgmesh_recovery_interval;	/* ms, 0 = off */
extern int	pgmesh_recovery_min_age;	/* ms */
extern char *pgmesh_recovery_database;

#define PGMESH_CGW_REFUSE 0
#define PGMESH_CGW_ALLOW 1		/* non-atomic: each group commits on its own */
#define PGMESH_CGW_TWO_PHASE 2

#define PGMESH_FAULT_NONE 0
#define PGMESH_FAULT_AFTER_PREPARE 1	/* groups prepared, no commit record */
#define PGMESH_FAULT_AFTER_COMMIT 2 /* commit record durable, groups prepared */
extern bool pgmesh_direct_reads;
extern int	pgmesh_direct_read_max_rows;

/* Executor nesting depth (>0 inside ExecutorRun/Finish: functions, triggers). */
extern int	pgmesh_exec_nesting;

/* ---------- pgmesh.c: routing, top-k, write tracking ---------- */
extern Query *pgmesh_route_query(Query *parse, ParamListInfo boundParams, List **parents);
/* Distributed parents and their hash routing. */
extern bool pgmesh_distributed_parent(Relation rel);
extern bool pgmesh_fixed_value(Node *node, ParamListInfo params, Oid *type, Datum *value,
							   bool *isnull);
extern bool pgmesh_find_key_value(Node *quals, int varno, PartitionKey key,
								  ParamListInfo params, Datum *value);
extern Oid	pgmesh_partition_for_value(Relation rel, Datum value);

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

/* A plain libpq connection to a server, as postgres_fdw opens it for userid. */
extern PGconn *pgmesh_connect(Oid serverid, Oid userid);

/* ---------- xact.c: write tracking, two-phase commit, remote isolation ---------- */
extern void pgmesh_xact_register(void);
/* End of a statement (after ExecutorFinish): notes the servers it wrote, sends intents. */
extern void pgmesh_note_writes(QueryDesc *queryDesc);
/* Has the current transaction written through a foreign table? */
extern bool pgmesh_wrote_in_xact(void);
/* Shows a REPEATABLE READ transaction to postgres_fdw as SERIALIZABLE; true if flipped. */
extern bool pgmesh_xact_flip_isolation(QueryDesc *qd);
extern void pgmesh_xact_unflip_isolation(bool flipped);
/*
 * Utility statements: the statement to run instead (COMMIT as PREPARE on workers, a
 * READ COMMITTED START, COPY TO of a distributed table), or pstmt; *after_start is set
 * when pgmesh_xact_after_utility must run after it.
 */
extern PlannedStmt *pgmesh_xact_utility(PlannedStmt *pstmt, bool *after_start);
extern void pgmesh_xact_after_utility(bool after_start);

/* ---------- recover.c: the background worker running recover_prepared_xacts() ---------- */
extern void pgmesh_recovery_register(void);

/* ---------- modify.c: distribution-key UPDATEs ---------- */
/* Does this key-assigning UPDATE, fixed to key value `value`, keep rows in their partition? */
extern bool pgmesh_key_update_stays(Query *q, Relation rel, Datum value, ParamListInfo params);
extern Query *pgmesh_modify_key_update(Query *q, ParamListInfo params);

/* ---------- copy.c: COPY <distributed table> TO as COPY (SELECT ...) TO ---------- */
extern Node *pgmesh_copy_to_rewrite(Node *parsetree);

#endif
