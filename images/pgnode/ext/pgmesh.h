/* Shared between pgmesh.c (planner hook), direct.c (direct reads) and xact.c (2PC). */
#ifndef PGMESH_H
#define PGMESH_H

#include "executor/execdesc.h"
#include "libpq-fe.h"
#include "nodes/params.h"
#include "nodes/parsenodes.h"
#include "utils/partcache.h"
#include "utils/rel.h"

/* Has the current transaction written through a foreign table? */
extern bool pgmesh_wrote_in_xact(void);

/* GUCs and executor hooks of the direct-read path (direct.c). */
extern void pgmesh_direct_init(void);

/* A plain libpq connection to a server, as postgres_fdw opens it for userid. */
extern PGconn *pgmesh_connect(Oid serverid, Oid userid);

/*
 * Two-phase commit across worker groups, write tracking and the worker side (xact.c):
 * GUCs, transaction callbacks, executor and utility hooks.
 */
extern void pgmesh_xact_init(void);

/* Called at the end of every statement: notes the foreign servers it wrote. */
extern void pgmesh_xact_statement_end(QueryDesc *queryDesc);

/* Distributed parents and their hash routing (pgmesh.c). */
extern bool pgmesh_distributed_parent(Relation rel);
extern bool pgmesh_fixed_value(Node *node, ParamListInfo params, Oid *type, Datum *value,
							   bool *isnull);
extern bool pgmesh_find_key_value(Node *quals, int varno, PartitionKey key,
								  ParamListInfo params, Datum *value);
extern Oid	pgmesh_partition_for_value(Relation rel, Datum value);

/* Does this key-assigning UPDATE, fixed to key value `value`, keep rows in their partition? */
extern bool pgmesh_key_update_stays(Query *q, Relation rel, Datum value, ParamListInfo params);

/* Planner-side refusal/rewrite of an UPDATE that changes a distribution key (modify.c). */
extern Query *pgmesh_modify_key_update(Query *q, ParamListInfo params);

/* COPY <distributed table> TO as COPY (SELECT ...) TO (copy.c); NULL: not ours. */
extern Node *pgmesh_copy_to_rewrite(Node *parsetree);

#endif
