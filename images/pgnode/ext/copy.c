/*
 * pgmesh: COPY <distributed table> TO. PostgreSQL copies from a partitioned table only
 * through a query ("cannot copy from partitioned table"), so the utility hook turns
 * `COPY parent [(cols)] TO ...` into `COPY (SELECT cols FROM parent) TO ...` with the
 * same options: every shard is read through its foreign partition, as a SELECT would,
 * with the same privilege check (SELECT on the parent).
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "utils/rel.h"

#include "pgmesh.h"

Node *
pgmesh_copy_to_rewrite(Node *parsetree)
{
	CopyStmt   *stmt;
	CopyStmt   *copy;
	SelectStmt *sel;
	Oid			relid;
	Relation	rel;
	bool		distributed;
	ListCell   *lc;

	if (!IsA(parsetree, CopyStmt))
		return NULL;
	stmt = (CopyStmt *) parsetree;
	if (stmt->is_from || stmt->relation == NULL || stmt->query != NULL || stmt->is_program)
		return NULL;
	relid = RangeVarGetRelid(stmt->relation, AccessShareLock, true);
	if (!OidIsValid(relid))
		return NULL;
	rel = table_open(relid, NoLock);
	distributed = pgmesh_distributed_parent(rel);
	table_close(rel, NoLock);
	if (!distributed)
		return NULL;

	sel = makeNode(SelectStmt);
	if (stmt->attlist == NIL)
	{
		ColumnRef  *star = makeNode(ColumnRef);
		ResTarget  *rt = makeNode(ResTarget);

		star->fields = list_make1(makeNode(A_Star));
		star->location = -1;
		rt->val = (Node *) star;
		rt->location = -1;
		sel->targetList = list_make1(rt);
	}
	foreach(lc, stmt->attlist)
	{
		ColumnRef  *cr = makeNode(ColumnRef);
		ResTarget  *rt = makeNode(ResTarget);

		cr->fields = list_make1(makeString(pstrdup(strVal(lfirst(lc)))));
		cr->location = -1;
		rt->val = (Node *) cr;
		rt->location = -1;
		sel->targetList = lappend(sel->targetList, rt);
	}
	sel->fromClause = list_make1(copyObject(stmt->relation));
	copy = copyObject(stmt);
	copy->relation = NULL;
	copy->attlist = NIL;
	copy->query = (Node *) sel;
	return (Node *) copy;
}
