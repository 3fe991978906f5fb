/*
 * pgmesh: the coordinator-side planner hook of the pgmesh sharding engine.
 *
 * 1. Routing. A distributed table is a hash-partitioned parent whose partitions are
 *    postgres_fdw foreign tables. When a query (at any level: subqueries, CTEs,
 *    sublinks) has a top-level WHERE conjunct `dist_col = <const or bound parameter>`
 *    on such a parent, the parent's range-table entry is swapped for the one foreign
 *    partition the value hashes to, before the standard planner runs. The planner then
 *    treats the shard as a plain foreign table, so postgres_fdw ships ORDER BY ... LIMIT,
 *    aggregates and UPDATE/DELETE as one remote statement. The parent keeps its own
 *    permission entry (an extra, unreferenced range-table entry), so privileges are
 *    checked on the parent as without routing, and the plan depends on the parent so
 *    a shard move (detach/attach) invalidates cached plans.
 *
 * 2. Top-k fan-out. `SELECT ... FROM parent [WHERE ...] ORDER BY ... LIMIT k` (one
 *    distributed table, nothing else in FROM, no grouping) becomes
 *    `SELECT ... FROM (p_0 ORDER BY ... LIMIT k UNION ALL p_1 ... ) ORDER BY ... LIMIT k`
 *    built from per-partition copies of the query, so each shard returns at most k rows
 *    and the Append runs the foreign scans asynchronously (async_capable).
 *
 * 3. Direct reads (direct.c). A top-level read-only SELECT outside a transaction block
 *    reads each shard in one pipelined round trip instead of postgres_fdw's remote
 *    transaction and cursor.
 *
 * 4. Cross-group writes (xact.c). At the end of every statement, the foreign servers
 *    whose tables the statement opened for writing are noted for the transaction; a
 *    transaction writing two or more groups commits with two-phase commit
 *    (pgmesh.cross_group_writes = 'two_phase', the default) or is refused ('refuse').
 *
 * 5. Distribution-key UPDATE (modify.c): rewritten into a move, or refused.
 *
 * Hooks and GUCs are registered in init.c; this file exposes the functions they call.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "nodes/pathnodes.h"
#include "optimizer/planner.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "access/stratnum.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "pgmesh.h"

#define PGMESH_ROUTER_VERSION "0.1.0"

typedef struct RouteContext
{
	ParamListInfo params;
	List	   *parents;		/* OIDs of routed parents, for plan invalidation */
} RouteContext;

/*
 * Is relid a pgmesh distributed parent: hash-partitioned on one plain column, every
 * partition a foreign table with the parent's exact column layout?
 */
bool
pgmesh_distributed_parent(Relation rel)
{
	PartitionKey key;
	PartitionDesc pd;

	if (rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		return false;
	key = RelationGetPartitionKey(rel);
	if (key->strategy != PARTITION_STRATEGY_HASH || key->partnatts != 1 ||
		key->partattrs[0] == 0)
		return false;
	pd = RelationGetPartitionDesc(rel, true);
	if (pd->nparts == 0 || pd->boundinfo == NULL)
		return false;
	for (int i = 0; i < pd->nparts; i++)
	{
		if (get_rel_relkind(pd->oids[i]) != RELKIND_FOREIGN_TABLE)
			return false;
	}
	return true;
}

static bool
same_layout(Relation parent, Relation part)
{
	TupleDesc	a = RelationGetDescr(parent);
	TupleDesc	b = RelationGetDescr(part);

	if (a->natts != b->natts)
		return false;
	for (int i = 0; i < a->natts; i++)
	{
		Form_pg_attribute x = TupleDescAttr(a, i);
		Form_pg_attribute y = TupleDescAttr(b, i);

		/*
		 * Dropped columns are fine where both have them at the same position (a DROP
		 * COLUMN propagated to every partition): the swapped range-table entry keeps
		 * the parent's attribute numbers.
		 */
		if (x->attisdropped != y->attisdropped)
			return false;
		if (x->attisdropped)
			continue;
		if (x->atttypid != y->atttypid ||
			strcmp(NameStr(x->attname), NameStr(y->attname)) != 0)
			return false;
	}
	return true;
}

/* The value an expression has at plan time: a Const, or an external parameter. */
bool
pgmesh_fixed_value(Node *node, ParamListInfo params, Oid *type, Datum *value, bool *isnull)
{
	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	if (node == NULL)
		return false;
	if (IsA(node, Const))
	{
		Const	   *c = (Const *) node;

		*type = c->consttype;
		*value = c->constvalue;
		*isnull = c->constisnull;
		return true;
	}
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXTERN && params != NULL)
	{
		Param	   *p = (Param *) node;
		ParamExternData *prm;
		ParamExternData prmdata;

		if (p->paramid <= 0 || p->paramid > params->numParams)
			return false;
		if (params->paramFetch != NULL)
			prm = params->paramFetch(params, p->paramid, false, &prmdata);
		else
			prm = &params->params[p->paramid - 1];
		if (!OidIsValid(prm->ptype) || prm->ptype != p->paramtype)
			return false;
		*type = prm->ptype;
		*value = prm->value;
		*isnull = prm->isnull;
		return true;
	}
	return false;
}

static bool
is_key_var(Node *node, int varno, AttrNumber attno)
{
	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node && IsA(node, Var) && ((Var *) node)->varno == varno &&
		((Var *) node)->varattno == attno && ((Var *) node)->varlevelsup == 0;
}

/* Finds `key = value` among the top-level AND conjuncts of quals. */
bool
pgmesh_find_key_value(Node *quals, int varno, PartitionKey key, ParamListInfo params,
			   Datum *value)
{
	List	   *conjuncts = make_ands_implicit((Expr *) quals);
	ListCell   *lc;

	foreach(lc, conjuncts)
	{
		Node	   *n = lfirst(lc);
		OpExpr	   *op;
		Node	   *l,
				   *r,
				   *other;
		Oid			type;
		bool		isnull;

		if (!IsA(n, OpExpr))
			continue;
		op = (OpExpr *) n;
		if (list_length(op->args) != 2)
			continue;
		l = linitial(op->args);
		r = lsecond(op->args);
		if (is_key_var(l, varno, key->partattrs[0]))
			other = r;
		else if (is_key_var(r, varno, key->partattrs[0]))
			other = l;
		else
			continue;
		if (!op_in_opfamily(op->opno, key->partopfamily[0]) ||
			get_op_opfamily_strategy(op->opno, key->partopfamily[0]) != HTEqualStrategyNumber)
			continue;
		if (!pgmesh_fixed_value(other, params, &type, value, &isnull) || isnull)
			continue;
		if (type != key->parttypid[0])
			continue;
		return true;
	}
	return false;
}

/*
 * Points rte (index rti of q) at partoid, keeping the parent's permission entry on a
 * new unreferenced range-table entry and giving the partition a permission entry that
 * requires nothing.
 */
static void
swap_to_partition(Query *q, RangeTblEntry *rte, Oid partoid)
{
	RangeTblEntry *parent_rte = copyObject(rte);
	RTEPermissionInfo *perm;
	RTEPermissionInfo *partperm;

	LockRelationOid(partoid, rte->rellockmode);
	parent_rte->inh = false;
	q->rtable = lappend(q->rtable, parent_rte);

	if (rte->perminfoindex != 0)
	{
		perm = list_nth_node(RTEPermissionInfo, q->rteperminfos, rte->perminfoindex - 1);
		partperm = copyObject(perm);
		partperm->relid = partoid;
		partperm->requiredPerms = 0;
		partperm->checkAsUser = InvalidOid;
		q->rteperminfos = lappend(q->rteperminfos, partperm);
		rte->perminfoindex = list_length(q->rteperminfos);
	}
	rte->relid = partoid;
	rte->relkind = RELKIND_FOREIGN_TABLE;
	rte->inh = false;
}

Oid
pgmesh_partition_for_value(Relation rel, Datum value)
{
	PartitionKey key = RelationGetPartitionKey(rel);
	PartitionDesc pd = RelationGetPartitionDesc(rel, true);
	Datum		values[1];
	bool		isnull[1] = {false};
	uint64		h;
	int			idx;

	values[0] = value;
	h = compute_partition_hash_value(1, key->partsupfunc, key->partcollation, values, isnull);
	idx = pd->boundinfo->indexes[h % (uint64) pd->boundinfo->nindexes];
	if (idx < 0)
		return InvalidOid;
	return pd->oids[idx];
}

/* UPDATE that assigns the distribution column would move rows between shards. */
static bool
assigns_column(Query *q, AttrNumber attno)
{
	ListCell   *lc;

	foreach(lc, q->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (!tle->resjunk && tle->resno == attno)
			return true;
	}
	return false;
}

static void
route_one_query(Query *q, RouteContext *ctx)
{
	int			rti = 0;
	ListCell   *lc;

	if (q->commandType != CMD_SELECT && q->commandType != CMD_UPDATE &&
		q->commandType != CMD_DELETE)
		return;
	if (q->jointree == NULL || q->jointree->quals == NULL)
		return;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		Relation	rel;
		Datum		value;
		Oid			partoid = InvalidOid;
		bool		ok = false;

		rti++;
		if (rte->rtekind != RTE_RELATION || !rte->inh ||
			rte->relkind != RELKIND_PARTITIONED_TABLE)
			continue;
		rel = table_open(rte->relid, NoLock);
		if (pgmesh_distributed_parent(rel))
		{
			PartitionKey key = RelationGetPartitionKey(rel);

			if (pgmesh_find_key_value(q->jointree->quals, rti, key, ctx->params, &value) &&
				!(q->commandType == CMD_UPDATE && q->resultRelation == rti &&
				  assigns_column(q, key->partattrs[0]) &&
				  !pgmesh_key_update_stays(q, rel, value, ctx->params)))
			{
				partoid = pgmesh_partition_for_value(rel, value);
				if (OidIsValid(partoid))
				{
					Relation	part = table_open(partoid, rte->rellockmode);

					ok = same_layout(rel, part);
					table_close(part, NoLock);
				}
			}
		}
		table_close(rel, NoLock);
		if (ok)
		{
			ctx->parents = lappend_oid(ctx->parents, rte->relid);
			swap_to_partition(q, rte, partoid);
		}
	}
}

static bool
route_walker(Node *node, RouteContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;

		route_one_query(q, ctx);
		return query_tree_walker(q, route_walker, ctx, 0);
	}
	return expression_tree_walker(node, route_walker, ctx);
}

/* ---------- top-k fan-out ---------- */

static bool
has_volatile_or_sublink(Node *node)
{
	return node != NULL && (contain_volatile_functions(node) || checkExprHasSubLink(node));
}

/*
 * Candidate: SELECT over exactly one distributed parent, ORDER BY with a constant
 * LIMIT, nothing that makes per-shard LIMIT wrong (grouping, aggregates, DISTINCT,
 * window functions, set operations, row locks, SRFs, volatile expressions).
 */
static bool
topk_candidate(Query *q, Oid *parentoid)
{
	RangeTblEntry *rte;
	RangeTblRef *rtr;
	Const	   *lim;

	if (q->commandType != CMD_SELECT || q->utilityStmt != NULL ||
		q->sortClause == NIL || q->limitCount == NULL || q->limitOption != LIMIT_OPTION_COUNT ||
		q->groupClause != NIL || q->groupingSets != NIL || q->hasAggs ||
		q->hasWindowFuncs || q->hasTargetSRFs || q->hasSubLinks || q->distinctClause != NIL ||
		q->setOperations != NULL || q->rowMarks != NIL || q->hasForUpdate ||
		q->cteList != NIL || q->havingQual != NULL || q->hasRecursive ||
		q->hasModifyingCTE || list_length(q->rtable) != 1 ||
		list_length(q->jointree->fromlist) != 1)
		return false;
	rtr = linitial(q->jointree->fromlist);
	if (!IsA(rtr, RangeTblRef) || rtr->rtindex != 1)
		return false;
	rte = linitial_node(RangeTblEntry, q->rtable);
	if (rte->rtekind != RTE_RELATION || !rte->inh || rte->relkind != RELKIND_PARTITIONED_TABLE ||
		rte->tablesample != NULL)
		return false;
	if (!IsA(q->limitCount, Const) || ((Const *) q->limitCount)->constisnull)
		return false;
	lim = (Const *) q->limitCount;
	if (lim->consttype != INT8OID || DatumGetInt64(lim->constvalue) <= 0 ||
		DatumGetInt64(lim->constvalue) > 10000)
		return false;
	if (q->limitOffset != NULL &&
		(!IsA(q->limitOffset, Const) || ((Const *) q->limitOffset)->consttype != INT8OID ||
		 ((Const *) q->limitOffset)->constisnull))
		return false;
	if (has_volatile_or_sublink((Node *) q->targetList) ||
		has_volatile_or_sublink(q->jointree->quals))
		return false;
	*parentoid = rte->relid;
	return true;
}

/*
 * Builds:  SELECT <orig visible tlist, junk sort keys> FROM (
 *            SELECT <all tlist entries as columns> FROM p_i WHERE ... ORDER BY ... LIMIT k+off
 *            UNION ALL ...) s ORDER BY <same keys> LIMIT k OFFSET off
 */
static Query *
topk_rewrite(Query *q, Relation rel, RouteContext *ctx)
{
	PartitionDesc pd = RelationGetPartitionDesc(rel, true);
	int64		limit = DatumGetInt64(((Const *) q->limitCount)->constvalue);
	int64		offset = q->limitOffset ? DatumGetInt64(((Const *) q->limitOffset)->constvalue) : 0;
	Query	   *unionq = makeNode(Query);
	Query	   *outer;
	List	   *colTypes = NIL,
			   *colTypmods = NIL,
			   *colCollations = NIL;
	List	   *unionTlist = NIL;
	Node	   *setop = NULL;
	ListCell   *lc;
	int			ncols = 0;
	RangeTblEntry *unionrte;
	List	   *outerTlist = NIL;

	foreach(lc, q->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Node	   *e = (Node *) tle->expr;

		colTypes = lappend_oid(colTypes, exprType(e));
		colTypmods = lappend_int(colTypmods, exprTypmod(e));
		colCollations = lappend_oid(colCollations, exprCollation(e));
		ncols++;
	}

	/* One branch per partition: the original query with its parent swapped. */
	for (int i = 0; i < pd->nparts; i++)
	{
		Query	   *branch = copyObject(q);
		RangeTblEntry *brte = linitial_node(RangeTblEntry, branch->rtable);
		RangeTblEntry *subrte;
		RangeTblRef *ref;
		Relation	part = table_open(pd->oids[i], brte->rellockmode);
		bool		ok = same_layout(rel, part);

		table_close(part, NoLock);
		if (!ok)
			return NULL;
		swap_to_partition(branch, brte, pd->oids[i]);
		branch->limitOffset = NULL;
		branch->limitCount = (Node *) makeConst(INT8OID, -1, InvalidOid, 8,
												Int64GetDatum(limit + offset), false, true);
		/* Every tlist entry becomes a visible output column of the branch. */
		foreach(lc, branch->targetList)
		{
			TargetEntry *tle = lfirst_node(TargetEntry, lc);

			tle->resjunk = false;
			if (tle->resname == NULL)
				tle->resname = psprintf("c%d", tle->resno);
		}
		subrte = makeNode(RangeTblEntry);
		subrte->rtekind = RTE_SUBQUERY;
		subrte->subquery = branch;
		subrte->eref = makeAlias(psprintf("pgmesh_shard_%d", i), NIL);
		foreach(lc, branch->targetList)
		{
			TargetEntry *tle = lfirst_node(TargetEntry, lc);

			subrte->eref->colnames = lappend(subrte->eref->colnames, makeString(pstrdup(tle->resname)));
		}
		subrte->inFromCl = true;
		unionq->rtable = lappend(unionq->rtable, subrte);
		ref = makeNode(RangeTblRef);
		ref->rtindex = list_length(unionq->rtable);
		if (setop == NULL)
			setop = (Node *) ref;
		else
		{
			SetOperationStmt *s = makeNode(SetOperationStmt);

			s->op = SETOP_UNION;
			s->all = true;
			s->larg = setop;
			s->rarg = (Node *) ref;
			s->colTypes = colTypes;
			s->colTypmods = colTypmods;
			s->colCollations = colCollations;
			s->groupClauses = NIL;
			setop = (Node *) s;
		}
	}
	if (!IsA(setop, SetOperationStmt))
		return NULL;			/* a single partition: routing is enough */

	unionq->commandType = CMD_SELECT;
	unionq->querySource = QSRC_ORIGINAL;
	unionq->canSetTag = true;
	unionq->setOperations = setop;
	unionq->jointree = makeFromExpr(NIL, NULL);
	{
		int			resno = 0;

		foreach(lc, q->targetList)
		{
			TargetEntry *tle = lfirst_node(TargetEntry, lc);
			Node	   *e = (Node *) tle->expr;
			Var		   *v;

			resno++;
			v = makeVar(1, resno, exprType(e), exprTypmod(e), exprCollation(e), 0);
			unionTlist = lappend(unionTlist,
								 makeTargetEntry((Expr *) v, resno,
												 pstrdup(tle->resname ? tle->resname : psprintf("c%d", resno)),
												 false));
		}
	}
	unionq->targetList = unionTlist;
	/*
	 * A LIMIT that can never cut (each branch returns at most limit+offset rows) keeps
	 * the planner from flattening the union into the outer query, where it would become
	 * a Merge Append (synchronous). Kept as a set operation it is an Append, whose
	 * foreign scans run asynchronously, one round trip per shard in parallel.
	 */
	unionq->limitOption = LIMIT_OPTION_COUNT;
	unionq->limitCount = (Node *) makeConst(INT8OID, -1, InvalidOid, 8,
											Int64GetDatum((limit + offset) * pd->nparts),
											false, true);

	/* The outer query: same sort and limit over the union's columns. */
	outer = makeNode(Query);
	outer->commandType = CMD_SELECT;
	outer->querySource = q->querySource;
	outer->queryId = q->queryId;
	outer->canSetTag = q->canSetTag;
	outer->stmt_location = q->stmt_location;
	outer->stmt_len = q->stmt_len;
	unionrte = makeNode(RangeTblEntry);
	unionrte->rtekind = RTE_SUBQUERY;
	unionrte->subquery = unionq;
	unionrte->eref = makeAlias("pgmesh_topk", NIL);
	foreach(lc, unionTlist)
		unionrte->eref->colnames = lappend(unionrte->eref->colnames,
										   makeString(pstrdup(lfirst_node(TargetEntry, lc)->resname)));
	unionrte->inFromCl = true;
	outer->rtable = list_make1(unionrte);
	{
		RangeTblRef *ref = makeNode(RangeTblRef);

		ref->rtindex = 1;
		outer->jointree = makeFromExpr(list_make1(ref), NULL);
	}
	foreach(lc, q->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Node	   *e = (Node *) tle->expr;
		Var		   *v = makeVar(1, tle->resno, exprType(e), exprTypmod(e), exprCollation(e), 0);
		TargetEntry *ntle = makeTargetEntry((Expr *) v, tle->resno,
											tle->resname ? pstrdup(tle->resname) : NULL,
											tle->resjunk);

		ntle->ressortgroupref = tle->ressortgroupref;
		outerTlist = lappend(outerTlist, ntle);
	}
	outer->targetList = outerTlist;
	outer->sortClause = copyObject(q->sortClause);
	outer->limitCount = copyObject(q->limitCount);
	outer->limitOffset = copyObject(q->limitOffset);
	outer->limitOption = q->limitOption;
	ctx->parents = lappend_oid(ctx->parents, RelationGetRelid(rel));
	return outer;
}

static Query *
maybe_topk(Query *q, RouteContext *ctx)
{
	Oid			parentoid;
	Relation	rel;
	Query	   *result = NULL;

	if (q->commandType == CMD_SELECT && (q->limitCount || q->limitOffset))
	{
		/* Fold LIMIT/OFFSET (int4 literals are coerced to int8; bound parameters). */
		PlannerGlobal *glob = makeNode(PlannerGlobal);
		PlannerInfo *root = makeNode(PlannerInfo);

		glob->boundParams = ctx->params;
		root->glob = glob;
		if (q->limitCount && !contain_volatile_functions(q->limitCount))
			q->limitCount = eval_const_expressions(root, q->limitCount);
		if (q->limitOffset && !contain_volatile_functions(q->limitOffset))
			q->limitOffset = eval_const_expressions(root, q->limitOffset);
	}
	if (!topk_candidate(q, &parentoid))
		return q;
	rel = table_open(parentoid, NoLock);
	if (pgmesh_distributed_parent(rel))
		result = topk_rewrite(q, rel, ctx);
	table_close(rel, NoLock);
	return result ? result : q;
}

/*
 * Routing and top-k rewriting of a query about to be planned (planner hook, init.c).
 * Returns the query to plan; *parents gets the OIDs of the routed parents, which the
 * plan must depend on.
 */
Query *
pgmesh_route_query(Query *parse, ParamListInfo boundParams, List **parents)
{
	RouteContext ctx = {boundParams, NIL};

	if (pgmesh_enable_routing && parse->commandType != CMD_UTILITY)
	{
		route_walker((Node *) parse, &ctx);
		if (pgmesh_enable_topk)
			parse = maybe_topk(parse, &ctx);
	}
	*parents = ctx.parents;
	return parse;
}

PG_FUNCTION_INFO_V1(pgmesh_router_version);
Datum
pgmesh_router_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(PGMESH_ROUTER_VERSION));
}
