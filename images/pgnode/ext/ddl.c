/*
 * pgmesh DDL propagation: the ProcessUtility hook that makes schema changes on
 * distributed and reference tables reach every shard.
 *
 * The coordinator's catalog is the truth. For a statement on a distributed or reference
 * table the hook takes a snapshot of the table's definition (pgmesh._ddl_snapshot: columns,
 * defaults, NOT NULL, constraints, indexes), lets PostgreSQL run the statement on the
 * coordinator, and hands the before/after pair to pgmesh._ddl_propagate, which derives the
 * shard statements from the catalog difference and runs them on every shard inside the
 * remote transactions postgres_fdw holds for this backend (pgmesh._remote: an INSERT into
 * a per-group foreign table whose worker-side trigger runs the statement), so they commit
 * or roll back with the coordinator's transaction and see its reads and writes. The shard
 * DDL is never re-parsed from the client's text, and one failing shard aborts everything.
 *
 * What PostgreSQL cannot hold on a hash-partitioned parent whose partitions are foreign
 * tables is adjusted before the statement runs:
 *   - PRIMARY KEY / UNIQUE (constraints and indexes) are created on the parent only
 *     (ALTER TABLE ONLY / CREATE INDEX ON ONLY): the catalog shows them, marked invalid
 *     because the foreign partitions have no index; the shards have the real ones.
 *   - FOREIGN KEY is kept in engine metadata (pgmesh.foreign_keys), checked (reference
 *     table, or co-located table on the distribution column) and created on the shards.
 *   - CREATE INDEX CONCURRENTLY builds every shard's index concurrently first, then the
 *     parent's (instant: the parent has no rows); DROP INDEX CONCURRENTLY drops normally.
 * Refused before anything changes: dropping the distribution column, ALTER TYPE ...
 * USING, identity columns added to a distributed table, exclusion constraints.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/catalog.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/tablecmds.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "pgmesh.h"

bool		pgmesh_propagate_ddl = true;

/* >0 while the hook runs its own statements (no propagation of those). */
static int	ddl_depth = 0;

typedef struct TableInfo
{
	char		kind;			/* 'd' distributed, 'r' reference, 0 neither */
	char	   *dist_column;
} TableInfo;

/* ---------- SPI helpers (run as the engine's owner) ---------- */

static Oid
engine_owner(void)
{
	Oid			nsp = get_namespace_oid("pgmesh", true);
	Oid			rel;
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(nsp))
		return InvalidOid;
	/* pgmesh.foreign_keys appears with the engine version that propagates DDL. */
	rel = get_relname_relid("foreign_keys", nsp);
	if (!OidIsValid(rel))
		return InvalidOid;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Runs sql with text arguments as the engine's owner (the calling role may lack access
 * to pgmesh's schema; the statement itself was checked as the caller). Returns the
 * first column of the first row, or NULL.
 */
static char *
spi_call(const char *sql, int nargs, const char **args)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			saved_user;
	int			saved_sec;
	Oid			owner = engine_owner();
	Oid		   *types = palloc(sizeof(Oid) * (nargs > 0 ? nargs : 1));
	Datum	   *values = palloc(sizeof(Datum) * (nargs > 0 ? nargs : 1));
	char	   *nulls = palloc(nargs + 1);
	char	   *result = NULL;
	int			rc;

	for (int i = 0; i < nargs; i++)
	{
		types[i] = TEXTOID;
		values[i] = args[i] ? CStringGetTextDatum(args[i]) : (Datum) 0;
		nulls[i] = args[i] ? ' ' : 'n';
	}
	nulls[nargs] = '\0';
	GetUserIdAndSecContext(&saved_user, &saved_sec);
	SetUserIdAndSecContext(owner, saved_sec | SECURITY_LOCAL_USERID_CHANGE);
	ddl_depth++;
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pgmesh: SPI_connect failed");
		rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 1);
		if (rc < 0)
			elog(ERROR, "pgmesh: SPI failed (%d) for %s", rc, sql);
		if (SPI_processed > 0 && SPI_tuptable != NULL)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			if (v)
				result = MemoryContextStrdup(caller, v);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		ddl_depth--;
		SetUserIdAndSecContext(saved_user, saved_sec);
	}
	PG_END_TRY();
	return result;
}

static char *
oid_text(Oid oid)
{
	return psprintf("%u", oid);
}

static TableInfo
table_info(Oid relid)
{
	TableInfo	info = {0, NULL};
	const char *args[1];
	char	   *v;

	if (!OidIsValid(relid))
		return info;
	args[0] = oid_text(relid);
	v = spi_call("SELECT pgmesh._ddl_table_info($1::oid)", 1, args);
	if (v == NULL)
		return info;
	info.kind = v[0];
	if (v[0] == 'd' && v[1] == ':')
		info.dist_column = pstrdup(v + 2);
	return info;
}

static char *
snapshot_of(Oid relid)
{
	const char *args[1] = {oid_text(relid)};

	return spi_call("SELECT pgmesh._ddl_snapshot($1::oid::regclass)::text", 1, args);
}

static void
propagate_ex(Oid relid, const char *before, bool metadata_only)
{
	const char *args[3] = {oid_text(relid), before, metadata_only ? "true" : "false"};

	CommandCounterIncrement();
	spi_call("SELECT pgmesh._ddl_propagate($1::oid::regclass, $2::jsonb, $3::boolean)", 3, args);
}

static void
propagate(Oid relid, const char *before)
{
	propagate_ex(relid, before, false);
}

/* ---------- running (modified) statements ---------- */

static void
run_stmt(Node *stmt, PlannedStmt *like, const char *queryString,
		 ProcessUtilityContext context, ParamListInfo params,
		 QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	PlannedStmt *ps = makeNode(PlannedStmt);

	ps->commandType = CMD_UTILITY;
	ps->canSetTag = like->canSetTag;
	ps->utilityStmt = stmt;
	ps->stmt_location = like->stmt_location;
	ps->stmt_len = like->stmt_len;
	pgmesh_next_utility(ps, queryString, false, context, params, queryEnv, dest, qc);
}

static void
check_owner(Oid relid)
{
	if (!object_ownercheck(RelationRelationId, relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

static char *
string_list(List *names)
{
	StringInfoData s;
	ListCell   *lc;

	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	foreach(lc, names)
	{
		const char *n = strVal(lfirst(lc));

		if (s.len > 1)
			appendStringInfoChar(&s, ',');
		appendStringInfoChar(&s, '"');
		for (const char *p = n; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&s, '\\');
			appendStringInfoChar(&s, *p);
		}
		appendStringInfoChar(&s, '"');
	}
	appendStringInfoChar(&s, '}');
	return s.data;
}

static const char *
fk_action(char a)
{
	switch (a)
	{
		case FKCONSTR_ACTION_RESTRICT:
			return "RESTRICT";
		case FKCONSTR_ACTION_CASCADE:
			return "CASCADE";
		case FKCONSTR_ACTION_SETNULL:
			return "SET NULL";
		case FKCONSTR_ACTION_SETDEFAULT:
			return "SET DEFAULT";
		default:
			return NULL;
	}
}

/* Adds a FOREIGN KEY of a distributed table: checked and created by the engine. */
static void
add_foreign_key(Oid relid, Constraint *c)
{
	Oid			ref = RangeVarGetRelid(c->pktable, AccessShareLock, false);
	StringInfoData tail;
	const char *args[7];
	AclResult	acl;

	if (c->fk_del_set_cols != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pgmesh: ON DELETE SET NULL/SET DEFAULT with a column list is not supported on distributed tables")));
	acl = pg_class_aclcheck(ref, GetUserId(), ACL_REFERENCES);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, get_relkind_objtype(get_rel_relkind(ref)), get_rel_name(ref));
	initStringInfo(&tail);
	if (c->fk_matchtype == FKCONSTR_MATCH_FULL)
		appendStringInfoString(&tail, " MATCH FULL");
	if (fk_action(c->fk_upd_action))
		appendStringInfo(&tail, " ON UPDATE %s", fk_action(c->fk_upd_action));
	if (fk_action(c->fk_del_action))
		appendStringInfo(&tail, " ON DELETE %s", fk_action(c->fk_del_action));
	if (c->deferrable)
		appendStringInfoString(&tail, " DEFERRABLE");
	if (c->initdeferred)
		appendStringInfoString(&tail, " INITIALLY DEFERRED");
	args[0] = oid_text(relid);
	args[1] = c->conname;
	args[2] = string_list(c->fk_attrs);
	args[3] = oid_text(ref);
	args[4] = string_list(c->pk_attrs);
	args[5] = tail.data;
	args[6] = c->skip_validation ? "true" : "false";
	spi_call("SELECT pgmesh._ddl_add_foreign_key($1::oid::regclass, $2, $3::text[], $4::oid::regclass, "
			 "$5::text[], $6, $7::boolean)", 7, args);
}

static bool
is_engine_fk(Oid relid, const char *name)
{
	const char *args[2] = {oid_text(relid), name};

	return name && spi_call("SELECT 1 FROM pgmesh.foreign_keys WHERE relid = $1::oid AND conname = $2",
							2, args) != NULL;
}

/* ---------- ALTER TABLE ---------- */

static bool
ddl_alter_table(PlannedStmt *pstmt, AlterTableStmt *orig, const char *queryString,
				ProcessUtilityContext context, ParamListInfo params,
				QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Oid			relid;
	TableInfo	info;
	AlterTableStmt *stmt;
	List	   *keep = NIL;
	List	   *only = NIL;
	List	   *fk_add = NIL;
	List	   *fk_drop = NIL;
	List	   *fk_validate = NIL;
	ListCell   *lc;
	char	   *before;

	if (orig->objtype != OBJECT_TABLE)
		return false;
	relid = RangeVarGetRelid(orig->relation, NoLock, true);
	info = table_info(relid);
	if (info.kind == 0)
		return false;
	foreach(lc, orig->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		/* Shard moves attach and detach partitions: not a schema change. */
		if (cmd->subtype == AT_AttachPartition || cmd->subtype == AT_DetachPartition ||
			cmd->subtype == AT_DetachPartitionFinalize)
			return false;
	}
	check_owner(relid);
	LockRelationOid(relid, AlterTableGetLockLevel(orig->cmds));
	stmt = copyObject(orig);
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		switch (cmd->subtype)
		{
			case AT_DropColumn:
				if (info.kind == 'd' && strcmp(cmd->name, info.dist_column) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("pgmesh: cannot drop the distribution column \"%s\" of distributed table \"%s\"",
									cmd->name, get_rel_name(relid)),
							 errhint("Undistribute the table first (pgmesh.undistribute_table).")));
				keep = lappend(keep, cmd);
				break;
			case AT_AlterColumnType:
				if (((ColumnDef *) cmd->def)->raw_default != NULL)
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("pgmesh: ALTER COLUMN ... TYPE ... USING is not supported on distributed and reference tables"),
							 errhint("Change the type without USING (an implicit or assignment cast), or add a new column and copy the values.")));
				keep = lappend(keep, cmd);
				break;
			case AT_AddColumn:
				{
					ColumnDef  *cd = (ColumnDef *) cmd->def;
					List	   *rest = NIL;
					ListCell   *cl;

					foreach(cl, cd->constraints)
					{
						Constraint *c = lfirst_node(Constraint, cl);

						if (info.kind == 'd' && c->contype == CONSTR_IDENTITY)
							ereport(ERROR,
									(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
									 errmsg("pgmesh: identity columns cannot be added to distributed table \"%s\"",
											get_rel_name(relid)),
									 errhint("Use a default such as gen_random_uuid(), or a sequence default on an empty table.")));
						if (info.kind == 'd' && c->contype == CONSTR_FOREIGN)
						{
							c->fk_attrs = list_make1(makeString(pstrdup(cd->colname)));
							fk_add = lappend(fk_add, c);
						}
						else if (info.kind == 'd' &&
								 (c->contype == CONSTR_PRIMARY || c->contype == CONSTR_UNIQUE))
						{
							AlterTableCmd *ac = makeNode(AlterTableCmd);

							c->keys = list_make1(makeString(pstrdup(cd->colname)));
							ac->subtype = AT_AddConstraint;
							ac->def = (Node *) c;
							only = lappend(only, ac);
						}
						else
							rest = lappend(rest, c);
					}
					cd->constraints = rest;
					keep = lappend(keep, cmd);
					break;
				}
			case AT_AddConstraint:
				{
					Constraint *c = (Constraint *) cmd->def;

					if (info.kind == 'd' && c->contype == CONSTR_FOREIGN)
						fk_add = lappend(fk_add, c);
					else if (info.kind == 'd' &&
							 (c->contype == CONSTR_PRIMARY || c->contype == CONSTR_UNIQUE))
						only = lappend(only, cmd);
					else if (info.kind == 'd' && c->contype == CONSTR_EXCLUSION)
						ereport(ERROR,
								(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
								 errmsg("pgmesh: exclusion constraints are not supported on distributed tables")));
					else
						keep = lappend(keep, cmd);
					break;
				}
			case AT_DropConstraint:
				if (info.kind == 'd' && is_engine_fk(relid, cmd->name))
					fk_drop = lappend(fk_drop, cmd);
				else
					keep = lappend(keep, cmd);
				break;
			case AT_ValidateConstraint:
				if (info.kind == 'd' && is_engine_fk(relid, cmd->name))
					fk_validate = lappend(fk_validate, cmd);
				else
					keep = lappend(keep, cmd);
				break;
			default:
				keep = lappend(keep, cmd);
				break;
		}
	}

	before = snapshot_of(relid);
	ddl_depth++;
	PG_TRY();
	{
		foreach(lc, fk_drop)
		{
			AlterTableCmd *cmd = lfirst(lc);
			const char *args[3] = {oid_text(relid), cmd->name, cmd->missing_ok ? "true" : "false"};

			spi_call("SELECT pgmesh._ddl_drop_foreign_key($1::oid::regclass, $2, $3::boolean)", 3, args);
		}
		if (keep != NIL)
		{
			stmt->cmds = keep;
			run_stmt((Node *) stmt, pstmt, queryString, context, params, queryEnv, dest, qc);
		}
		if (only != NIL)
		{
			AlterTableStmt *o = makeNode(AlterTableStmt);

			o->relation = copyObject(orig->relation);
			o->relation->inh = false;
			o->objtype = OBJECT_TABLE;
			o->cmds = only;
			CommandCounterIncrement();
			run_stmt((Node *) o, pstmt, queryString, PROCESS_UTILITY_SUBCOMMAND, params,
					 queryEnv, None_Receiver, NULL);
		}
		propagate(relid, before);
		foreach(lc, fk_add)
			add_foreign_key(relid, lfirst(lc));
		foreach(lc, fk_validate)
		{
			AlterTableCmd *cmd = lfirst(lc);
			const char *args[2] = {oid_text(relid), cmd->name};

			spi_call("SELECT pgmesh._ddl_validate_foreign_key($1::oid::regclass, $2)", 2, args);
		}
	}
	PG_FINALLY();
	{
		ddl_depth--;
	}
	PG_END_TRY();
	return true;
}

/* ---------- RENAME ---------- */

static bool
ddl_rename(PlannedStmt *pstmt, RenameStmt *stmt, const char *queryString,
		   ProcessUtilityContext context, ParamListInfo params,
		   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Oid			relid;
	TableInfo	info;
	char	   *before;

	if (stmt->renameType != OBJECT_COLUMN && stmt->renameType != OBJECT_TABCONSTRAINT)
		return false;				/* tables and indexes: shard names do not follow */
	if (stmt->relation == NULL)
		return false;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	info = table_info(relid);
	if (info.kind == 0)
		return false;
	check_owner(relid);
	LockRelationOid(relid, AccessExclusiveLock);
	if (stmt->renameType == OBJECT_TABCONSTRAINT && info.kind == 'd' &&
		is_engine_fk(relid, stmt->subname))
	{
		const char *args[3] = {oid_text(relid), stmt->subname, stmt->newname};

		spi_call("SELECT pgmesh._ddl_rename_foreign_key($1::oid::regclass, $2, $3)", 3, args);
		return true;
	}
	before = snapshot_of(relid);
	ddl_depth++;
	PG_TRY();
	{
		run_stmt(copyObject((Node *) stmt), pstmt, queryString, context, params, queryEnv, dest, qc);
		propagate(relid, before);
	}
	PG_FINALLY();
	{
		ddl_depth--;
	}
	PG_END_TRY();
	return true;
}

/* ---------- CREATE INDEX ---------- */

static List *
index_oids(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	List	   *l = RelationGetIndexList(rel);

	table_close(rel, AccessShareLock);
	return l;
}

/*
 * The shard form of an index (jsonb: unique, tail after USING) from a trial creation of
 * it on the coordinator in a subtransaction that is rolled back.
 */
static char *
index_trial(IndexStmt *stmt, PlannedStmt *pstmt, const char *queryString, Oid relid,
			ParamListInfo params, QueryEnvironment *queryEnv)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *def = NULL;
	List	   *old;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		List	   *now;
		ListCell   *lc;
		IndexStmt  *trial = copyObject(stmt);

		MemoryContextSwitchTo(cxt);
		old = index_oids(relid);
		trial->concurrent = false;
		trial->if_not_exists = false;
		run_stmt((Node *) trial, pstmt, queryString, PROCESS_UTILITY_SUBCOMMAND, params,
				 queryEnv, None_Receiver, NULL);
		CommandCounterIncrement();
		now = index_oids(relid);
		foreach(lc, now)
		{
			if (!list_member_oid(old, lfirst_oid(lc)))
			{
				const char *args[1] = {oid_text(lfirst_oid(lc))};
				char	   *v = spi_call("SELECT pgmesh._ddl_index_form($1::oid)::text", 1, args);

				def = v ? MemoryContextStrdup(cxt, v) : NULL;
			}
		}
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (def == NULL)
		elog(ERROR, "pgmesh: could not derive the shard form of the index");
	return def;
}

static bool
ddl_index(PlannedStmt *pstmt, IndexStmt *orig, const char *queryString,
		  ProcessUtilityContext context, ParamListInfo params,
		  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Oid			relid;
	TableInfo	info;
	IndexStmt  *stmt;
	char	   *before;

	relid = RangeVarGetRelid(orig->relation, NoLock, true);
	info = table_info(relid);
	if (info.kind == 0)
		return false;
	check_owner(relid);
	if (orig->if_not_exists && orig->idxname &&
		OidIsValid(get_relname_relid(orig->idxname, get_rel_namespace(relid))))
		return false;			/* PostgreSQL says "already exists, skipping" */
	stmt = copyObject(orig);
	if (info.kind == 'd' && (stmt->unique || stmt->primary))
		stmt->relation->inh = false;	/* foreign partitions cannot hold it */
	if (stmt->concurrent)
	{
		char	   *form;
		const char *args[2];

		PreventInTransactionBlock(context == PROCESS_UTILITY_TOPLEVEL,
								  "CREATE INDEX CONCURRENTLY");
		ddl_depth++;
		PG_TRY();
		{
			form = index_trial(stmt, pstmt, queryString, relid, params, queryEnv);
			args[0] = oid_text(relid);
			args[1] = form;
			/* Every shard, concurrently (autocommit on the workers). */
			spi_call("SELECT pgmesh._ddl_create_index_concurrently($1::oid::regclass, $2::jsonb)", 2, args);
			if (info.kind == 'r')
			{
				/* A plain table: PostgreSQL builds its own index concurrently. */
				run_stmt((Node *) copyObject(orig), pstmt, queryString, context, params,
						 queryEnv, dest, qc);
			}
			else
			{
				/* The shards have it; the parent's is instant (no rows). */
				before = snapshot_of(relid);
				stmt->concurrent = false;
				run_stmt((Node *) stmt, pstmt, queryString, context, params, queryEnv, dest, qc);
				propagate_ex(relid, before, true);
			}
		}
		PG_FINALLY();
		{
			ddl_depth--;
		}
		PG_END_TRY();
		return true;
	}
	LockRelationOid(relid, ShareLock);
	before = snapshot_of(relid);
	ddl_depth++;
	PG_TRY();
	{
		run_stmt((Node *) stmt, pstmt, queryString, context, params, queryEnv, dest, qc);
		propagate(relid, before);
	}
	PG_FINALLY();
	{
		ddl_depth--;
	}
	PG_END_TRY();
	return true;
}

/* ---------- DROP TABLE / DROP INDEX ---------- */

static bool
ddl_drop(PlannedStmt *pstmt, DropStmt *orig, const char *queryString,
		 ProcessUtilityContext context, ParamListInfo params,
		 QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	List	   *tables = NIL;
	List	   *befores = NIL;
	bool		distributed = false;
	ListCell   *lc;
	DropStmt   *stmt;

	if (orig->removeType != OBJECT_TABLE && orig->removeType != OBJECT_INDEX)
		return false;
	foreach(lc, orig->objects)
	{
		RangeVar   *rv = makeRangeVarFromNameList(lfirst(lc));
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);
		TableInfo	info;

		if (!OidIsValid(relid))
			continue;
		if (orig->removeType == OBJECT_INDEX)
		{
			if (get_rel_relkind(relid) != RELKIND_INDEX &&
				get_rel_relkind(relid) != RELKIND_PARTITIONED_INDEX)
				continue;
			relid = IndexGetRelation(relid, true);
		}
		info = table_info(relid);
		if (info.kind == 0)
			continue;
		if (info.kind == 'd')
			distributed = true;
		if (!list_member_oid(tables, relid))
			tables = lappend_oid(tables, relid);
	}
	if (tables == NIL)
		return false;
	stmt = copyObject(orig);
	ddl_depth++;
	PG_TRY();
	{
		if (orig->removeType == OBJECT_TABLE)
		{
			foreach(lc, tables)
			{
				const char *args[2] = {oid_text(lfirst_oid(lc)),
				orig->behavior == DROP_CASCADE ? "true" : "false"};

				check_owner(lfirst_oid(lc));
				spi_call("SELECT pgmesh._ddl_drop_table($1::oid::regclass, $2::boolean)", 2, args);
			}
			run_stmt((Node *) stmt, pstmt, queryString, context, params, queryEnv, dest, qc);
		}
		else
		{
			ListCell   *bc;

			if (stmt->concurrent && distributed)
			{
				/* A partitioned index cannot be dropped concurrently; it has no rows. */
				PreventInTransactionBlock(context == PROCESS_UTILITY_TOPLEVEL,
										  "DROP INDEX CONCURRENTLY");
				stmt->concurrent = false;
			}
			foreach(lc, tables)
				befores = lappend(befores, snapshot_of(lfirst_oid(lc)));
			run_stmt((Node *) stmt, pstmt, queryString, context, params, queryEnv, dest, qc);
			forboth(lc, tables, bc, befores)
				propagate(lfirst_oid(lc), lfirst(bc));
		}
	}
	PG_FINALLY();
	{
		ddl_depth--;
	}
	PG_END_TRY();
	return true;
}

/* ---------- the hook ---------- */

void
pgmesh_ddl_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		done = false;

	if (pgmesh_propagate_ddl && ddl_depth == 0 && !RecoveryInProgress() &&
		IsTransactionState() && OidIsValid(engine_owner()))
	{
		switch (nodeTag(parsetree))
		{
			case T_AlterTableStmt:
				done = ddl_alter_table(pstmt, (AlterTableStmt *) parsetree, queryString,
									   context, params, queryEnv, dest, qc);
				break;
			case T_RenameStmt:
				done = ddl_rename(pstmt, (RenameStmt *) parsetree, queryString, context,
								  params, queryEnv, dest, qc);
				break;
			case T_IndexStmt:
				done = ddl_index(pstmt, (IndexStmt *) parsetree, queryString, context,
								 params, queryEnv, dest, qc);
				break;
			case T_DropStmt:
				done = ddl_drop(pstmt, (DropStmt *) parsetree, queryString, context,
								params, queryEnv, dest, qc);
				break;
			default:
				break;
		}
	}
	if (!done)
		pgmesh_next_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv,
							dest, qc);
}
