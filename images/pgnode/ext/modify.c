/*
 * pgmesh: UPDATEs that assign a table's distribution column.
 *
 * A distributed table's partitions are postgres_fdw foreign tables, and PostgreSQL
 * moves a row to another partition (delete + insert) only for local partitions: a
 * foreign partition's UPDATE is sent to the shard as is, so a changed key would leave
 * the row in its old shard (found by a full scan only, its primary key duplicated
 * across shards). So, before planning:
 *
 *  - an UPDATE whose key is fixed by its WHERE clause and whose new key is a value
 *    hashing to the same partition is left alone (routing sends it to that shard);
 *  - any other key-assigning UPDATE of a distributed parent is rewritten into
 *        WITH pgmesh_moved AS (DELETE FROM parent <same FROM/WHERE>
 *                              RETURNING <every column, with the SET values>)
 *        INSERT INTO parent SELECT * FROM pgmesh_moved [RETURNING <same list>]
 *    so every row leaves its shard and is routed to the one its new key hashes to,
 *    in the same statement and transaction (two-phase commit when the rows cross
 *    worker groups). The new key passes through pgmesh.key_not_null(), which raises
 *    a not-null error before anything commits. The command tag is INSERT's;
 *  - what the rewrite cannot carry (WITH on the UPDATE, WHERE CURRENT OF, RETURNING
 *    that names another table) is refused before anything runs.
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"

#include "pgmesh.h"

static TargetEntry *
assigned_entry(Query *q, AttrNumber attno)
{
	ListCell   *lc;

	foreach(lc, q->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (!tle->resjunk && tle->resno == attno)
			return tle;
	}
	return NULL;
}

bool
pgmesh_key_update_stays(Query *q, Relation rel, Datum value, ParamListInfo params)
{
	PartitionKey key = RelationGetPartitionKey(rel);
	TargetEntry *tle = assigned_entry(q, key->partattrs[0]);
	Oid			type;
	Datum		newvalue;
	bool		isnull;

	if (tle == NULL)
		return true;
	if (!pgmesh_fixed_value((Node *) tle->expr, params, &type, &newvalue, &isnull) || isnull ||
		type != key->parttypid[0])
		return false;
	return pgmesh_partition_for_value(rel, newvalue) == pgmesh_partition_for_value(rel, value);
}

static void
refuse(Relation rel, const char *why)
{
	PartitionKey key = RelationGetPartitionKey(rel);

	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("pgmesh: UPDATE of distribution column \"%s\" of \"%s\" is not supported %s",
					get_attname(RelationGetRelid(rel), key->partattrs[0], false),
					RelationGetRelationName(rel), why),
			 errdetail("Rows would have to move between shards; nothing was changed."),
			 errhint("DELETE the rows and INSERT them with the new key in one transaction.")));
}

/* Does expr reference any range-table entry other than rti (at this level)? */
static bool
only_references(Node *expr, int rti)
{
	Bitmapset  *varnos = pull_varnos(NULL, expr);
	int			x = -1;

	while ((x = bms_next_member(varnos, x)) >= 0)
	{
		if (x != rti)
			return false;
	}
	return true;
}

static Node *
key_not_null(Node *expr, Relation rel, AttrNumber attno)
{
	Oid			argtypes[2] = {ANYELEMENTOID, TEXTOID};
	Oid			fn = LookupFuncName(list_make2(makeString("pgmesh"), makeString("key_not_null")),
									2, argtypes, true);
	Oid			type = exprType(expr);
	char	   *what;
	FuncExpr   *f;

	if (!OidIsValid(fn))
		refuse(rel, "(pgmesh.key_not_null() is missing: install the engine again)");
	what = psprintf("%s.%s", RelationGetRelationName(rel),
					get_attname(RelationGetRelid(rel), attno, false));
	f = makeFuncExpr(fn, type,
					 list_make2(expr, makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
												CStringGetTextDatum(what), false, false)),
					 InvalidOid, exprCollation(expr), COERCE_EXPLICIT_CALL);
	return (Node *) f;
}

static Query *
rewrite_as_move(Query *q, Relation rel)
{
	int			rti = q->resultRelation;
	RangeTblEntry *target = rt_fetch(rti, q->rtable);
	TupleDesc	td = RelationGetDescr(rel);
	PartitionKey key = RelationGetPartitionKey(rel);
	Query	   *del = copyObject(q);
	Query	   *sel = makeNode(Query);
	Query	   *ins = makeNode(Query);
	CommonTableExpr *cte = makeNode(CommonTableExpr);
	RangeTblEntry *cte_rte = makeNode(RangeTblEntry);
	RangeTblEntry *ins_rte = makeNode(RangeTblEntry);
	RangeTblEntry *sub_rte = makeNode(RangeTblEntry);
	RTEPermissionInfo *perm = makeNode(RTEPermissionInfo);
	List	   *colnames = NIL;
	RangeTblRef *ref;

	/* DELETE ... RETURNING the new row. */
	del->commandType = CMD_DELETE;
	del->canSetTag = false;
	del->targetList = NIL;
	del->returningList = NIL;
	for (int a = 1; a <= td->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(td, a - 1);
		TargetEntry *set = assigned_entry(q, a);
		Node	   *e;

		if (set)
			e = copyObject((Node *) set->expr);
		else
			e = (Node *) makeVar(rti, a, att->atttypid, att->atttypmod, att->attcollation, 0);
		if (a == key->partattrs[0])
			e = key_not_null(e, rel, a);
		del->returningList = lappend(del->returningList,
									 makeTargetEntry((Expr *) e, a, pstrdup(NameStr(att->attname)), false));
		colnames = lappend(colnames, makeString(pstrdup(NameStr(att->attname))));
		cte->ctecoltypes = lappend_oid(cte->ctecoltypes, att->atttypid);
		cte->ctecoltypmods = lappend_int(cte->ctecoltypmods, att->atttypmod);
		cte->ctecolcollations = lappend_oid(cte->ctecolcollations, att->attcollation);
	}
	cte->ctename = "pgmesh_moved";
	cte->ctequery = (Node *) del;
	cte->cterefcount = 1;
	cte->ctecolnames = colnames;
	cte->ctematerialized = CTEMaterializeDefault;
	cte->location = -1;

	/* SELECT * FROM pgmesh_moved (one level below the INSERT that owns the CTE). */
	cte_rte->rtekind = RTE_CTE;
	cte_rte->ctename = cte->ctename;
	cte_rte->ctelevelsup = 1;
	cte_rte->coltypes = cte->ctecoltypes;
	cte_rte->coltypmods = cte->ctecoltypmods;
	cte_rte->colcollations = cte->ctecolcollations;
	cte_rte->eref = makeAlias(cte->ctename, colnames);
	cte_rte->inFromCl = true;
	sel->commandType = CMD_SELECT;
	sel->querySource = QSRC_ORIGINAL;
	sel->rtable = list_make1(cte_rte);
	ref = makeNode(RangeTblRef);
	ref->rtindex = 1;
	sel->jointree = makeFromExpr(list_make1(ref), NULL);
	for (int a = 1; a <= td->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(td, a - 1);

		sel->targetList = lappend(sel->targetList,
								  makeTargetEntry((Expr *) makeVar(1, a, att->atttypid, att->atttypmod,
																   att->attcollation, 0),
												  a, pstrdup(NameStr(att->attname)), false));
	}

	/* INSERT INTO parent SELECT ...: privileges stay the UPDATE's, on the DELETE side. */
	ins_rte->rtekind = RTE_RELATION;
	ins_rte->relid = RelationGetRelid(rel);
	ins_rte->relkind = RELKIND_PARTITIONED_TABLE;
	ins_rte->rellockmode = RowExclusiveLock;
	ins_rte->inh = false;
	ins_rte->eref = copyObject(target->eref);
	ins_rte->alias = target->alias ? copyObject(target->alias) : NULL;
	perm->relid = RelationGetRelid(rel);
	perm->inh = false;
	perm->requiredPerms = 0;
	perm->checkAsUser = InvalidOid;
	for (int a = 1; a <= td->natts; a++)
		perm->insertedCols = bms_add_member(perm->insertedCols,
											a - FirstLowInvalidHeapAttributeNumber);
	ins->rteperminfos = list_make1(perm);
	ins_rte->perminfoindex = 1;
	sub_rte->rtekind = RTE_SUBQUERY;
	sub_rte->subquery = sel;
	sub_rte->eref = makeAlias("*SELECT*", list_copy(colnames));
	sub_rte->inFromCl = true;
	ins->commandType = CMD_INSERT;
	ins->querySource = q->querySource;
	ins->queryId = q->queryId;
	ins->canSetTag = q->canSetTag;
	ins->stmt_location = q->stmt_location;
	ins->stmt_len = q->stmt_len;
	ins->rtable = list_make2(ins_rte, sub_rte);
	ins->resultRelation = 1;
	ref = makeNode(RangeTblRef);
	ref->rtindex = 2;
	ins->jointree = makeFromExpr(list_make1(ref), NULL);
	for (int a = 1; a <= td->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(td, a - 1);

		ins->targetList = lappend(ins->targetList,
								  makeTargetEntry((Expr *) makeVar(2, a, att->atttypid, att->atttypmod,
																   att->attcollation, 0),
												  a, pstrdup(NameStr(att->attname)), false));
	}
	ins->cteList = list_make1(cte);
	ins->hasModifyingCTE = true;
	ins->override = OVERRIDING_NOT_SET;
	if (q->returningList)
	{
		ins->returningList = copyObject(q->returningList);
		ChangeVarNodes((Node *) ins->returningList, rti, 1, 0);
	}
	return ins;
}

Query *
pgmesh_modify_key_update(Query *q, ParamListInfo params)
{
	RangeTblEntry *rte;
	Relation	rel;
	PartitionKey key;
	TargetEntry *set;
	Datum		value;
	Oid			type;
	Datum		newvalue;
	bool		isnull;
	Query	   *result = q;

	if (q->commandType != CMD_UPDATE || q->resultRelation <= 0)
		return q;
	rte = rt_fetch(q->resultRelation, q->rtable);
	if (rte->rtekind != RTE_RELATION || rte->relkind != RELKIND_PARTITIONED_TABLE || !rte->inh)
		return q;
	rel = table_open(rte->relid, NoLock);
	if (!pgmesh_distributed_parent(rel))
	{
		table_close(rel, NoLock);
		return q;
	}
	key = RelationGetPartitionKey(rel);
	set = assigned_entry(q, key->partattrs[0]);
	if (set == NULL)
	{
		table_close(rel, NoLock);
		return q;
	}
	if (pgmesh_fixed_value((Node *) set->expr, params, &type, &newvalue, &isnull) && isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("pgmesh: UPDATE sets distribution column \"%s\" of \"%s\" to NULL",
						get_attname(RelationGetRelid(rel), key->partattrs[0], false),
						RelationGetRelationName(rel)),
				 errdetail("A row needs a distribution key to have a shard; nothing was changed.")));
	/* Fixed by WHERE to one partition and staying there: routing handles it. */
	if (q->jointree && q->jointree->quals &&
		pgmesh_find_key_value(q->jointree->quals, q->resultRelation, key, params, &value) &&
		pgmesh_key_update_stays(q, rel, value, params))
	{
		table_close(rel, NoLock);
		return q;
	}
	if (q->cteList != NIL)
		refuse(rel, "in a statement with WITH");
	if (q->jointree && q->jointree->quals && IsA(q->jointree->quals, CurrentOfExpr))
		refuse(rel, "with WHERE CURRENT OF");
	if (q->returningList && !only_references((Node *) q->returningList, q->resultRelation))
		refuse(rel, "with RETURNING that names another table");
	result = rewrite_as_move(q, rel);
	table_close(rel, NoLock);
	return result;
}

/*
 * pgmesh.key_not_null(value anyelement, what text) -> value: the new key of a moved
 * row; NULL raises not_null_violation (the statement, and its transaction, abort).
 */
PG_FUNCTION_INFO_V1(pgmesh_key_not_null);
Datum
pgmesh_key_not_null(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("pgmesh: UPDATE sets distribution column %s to NULL",
						PG_ARGISNULL(1) ? "?" : text_to_cstring(PG_GETARG_TEXT_PP(1))),
				 errdetail("A row needs a distribution key to have a shard; nothing was changed.")));
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}
