/*
 * pgmesh direct reads: one round trip per shard for a read-only statement.
 *
 * postgres_fdw reads a foreign table through a remote transaction and a cursor:
 * START TRANSACTION, DECLARE, FETCH, CLOSE, COMMIT, each a synchronous round trip
 * (for a fan-out, START, DECLARE and CLOSE are also sequential over the shards). On a
 * busy box every round trip costs a wake-up of two processes, which is most of the
 * price of a routed top-10 (measured: docs/engine.md, "Hot-path performance").
 *
 * For a top-level, read-only SELECT outside a transaction block, this module swaps
 * each postgres_fdw ForeignScan of the plan at executor start for a CustomScan that
 * sends the same remote SQL (postgres_fdw's deparsed statement, unchanged) as one
 * autocommit query on a connection of its own, pipelined: every scan's query is sent
 * when the plan starts, so all shards work at once, and results are read in send
 * order. The plan (as planned, cached and shown by EXPLAIN) is not changed; EXPLAIN
 * ANALYZE and auto_explain with timing run the postgres_fdw path.
 *
 * Why the semantics are the same: a single statement outside a transaction block sees
 * one snapshot per shard either way (postgres_fdw gives no cross-shard snapshot
 * either), and nothing earlier in the transaction can have written through postgres_fdw
 * (checked: pgmesh_wrote_in_xact). Not used when: in a transaction block (a remote
 * transaction may hold the block's writes or snapshot), isolation above READ
 * COMMITTED, nested statements (functions, triggers), row locks, data-modifying
 * CTEs, parameterized scans, system columns, scans estimated above
 * pgmesh.direct_read_max_rows (the result is buffered), users that postgres_fdw would
 * refuse without a password.
 *
 * Hooks and GUCs are registered in init.c.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "libpq-fe.h"
#include "libpq/libpq-be-fe-helpers.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/plannodes.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/wait_event.h"

#include "pgmesh.h"


typedef struct ConnKey
{
	Oid			serverid;
	Oid			userid;
} ConnKey;

typedef struct ConnEntry
{
	ConnKey		key;
	PGconn	   *conn;
	bool		invalid;		/* server or user mapping changed */
	List	   *queue;			/* DirectScanState *, in send order (TopMemoryContext list) */
} ConnEntry;

typedef struct DirectScanState
{
	CustomScanState css;
	char	   *sql;
	List	   *retrieved_attrs;
	Oid			serverid;
	Oid			userid;
	ConnEntry  *entry;
	bool		sent;
	bool		received;
	PGresult   *res;
	int			next_row;
	FmgrInfo   *infuncs;		/* by attribute number - 1 */
	Oid		   *ioparams;
	MemoryContext rowcxt;
} DirectScanState;

static HTAB *conn_hash = NULL;

static Node *direct_create_state(CustomScan *cscan);
static void direct_begin(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *direct_exec(CustomScanState *node);
static void direct_end(CustomScanState *node);
static void direct_rescan(CustomScanState *node);
static void direct_explain(CustomScanState *node, List *ancestors, ExplainState *es);

static const CustomScanMethods direct_scan_methods = {
	.CustomName = "pgmesh direct read",
	.CreateCustomScanState = direct_create_state,
};

static const CustomExecMethods direct_exec_methods = {
	.CustomName = "pgmesh direct read",
	.BeginCustomScan = direct_begin,
	.ExecCustomScan = direct_exec,
	.EndCustomScan = direct_end,
	.ReScanCustomScan = direct_rescan,
	.ExplainCustomScan = direct_explain,
};

/* ---------- connections ---------- */

static void
conn_drop(ConnEntry *e)
{
	if (e->conn)
		libpqsrv_disconnect(e->conn);
	e->conn = NULL;
	list_free(e->queue);
	e->queue = NIL;
}

static void
conn_inval_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS scan;
	ConnEntry  *e;

	if (conn_hash == NULL)
		return;
	hash_seq_init(&scan, conn_hash);
	while ((e = hash_seq_search(&scan)) != NULL)
		e->invalid = true;
}

/*
 * A statement that failed mid-way leaves results in flight: drop those connections.
 * Connections whose server or user mapping changed (or was dropped) close here too.
 */
static void
direct_xact_callback(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS scan;
	ConnEntry  *e;

	if (conn_hash == NULL)
		return;
	if (event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_PREPARE)
		return;
	hash_seq_init(&scan, conn_hash);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		if (e->queue != NIL || (e->invalid && e->conn != NULL))
			conn_drop(e);
	}
}

bool
pgmesh_is_libpq_option(const char *name)
{
	static PQconninfoOption *defs = NULL;

	if (defs == NULL)
	{
		defs = PQconndefaults();
		if (defs == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	if (strcmp(name, "client_encoding") == 0 || strcmp(name, "replication") == 0 ||
		strcmp(name, "fallback_application_name") == 0)
		return false;
	for (PQconninfoOption *o = defs; o->keyword; o++)
	{
		if (strcmp(o->keyword, name) == 0)
			return strchr(o->dispchar, 'D') == NULL;
	}
	return false;
}

static bool
option_is(List *options, const char *name, const char *value)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, name) == 0)
			return value == NULL || strcmp(defGetString(d), value) == 0;
	}
	return false;
}

/*
 * postgres_fdw's rule: a non-superuser must authenticate with a password from the user
 * mapping (so it cannot borrow the coordinator's trust or peer access), unless a
 * superuser set password_required 'false' on the mapping.
 */
static bool
password_needed(Oid userid, UserMapping *um)
{
	return !superuser_arg(userid) && !option_is(um->options, "password_required", "false");
}

static PGconn *
conn_open(ForeignServer *server, UserMapping *um, bool pipeline)
{
	int			n = list_length(server->options) + list_length(um->options) + 3;
	const char **kw = palloc0(n * sizeof(char *));
	const char **val = palloc0(n * sizeof(char *));
	int			i = 0;
	ListCell   *lc;
	PGconn	   *conn;
	PGresult   *res;

	foreach(lc, list_concat_copy(server->options, um->options))
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (pgmesh_is_libpq_option(d->defname))
		{
			kw[i] = d->defname;
			val[i] = defGetString(d);
			i++;
		}
	}
	kw[i] = "fallback_application_name";
	val[i++] = "pgmesh";
	kw[i] = "client_encoding";
	val[i++] = GetDatabaseEncodingName();
	kw[i] = NULL;
	val[i] = NULL;

	conn = libpqsrv_connect_params(kw, val, false, PG_WAIT_EXTENSION);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		char	   *msg = pchomp(conn ? PQerrorMessage(conn) : "out of memory");

		libpqsrv_disconnect(conn);
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("pgmesh: could not connect to server \"%s\"", server->servername),
				 errdetail_internal("%s", msg)));
	}
	if (password_needed(um->userid, um) && !PQconnectionUsedPassword(conn))
	{
		libpqsrv_disconnect(conn);
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("password or GSSAPI delegated credentials required"),
				 errdetail("Non-superuser cannot connect if the server does not request a password or use GSSAPI with delegated credentials.")));
	}
	/* The session postgres_fdw's deparsed SQL and text conversion rely on. */
	res = libpqsrv_exec(conn,
						"SET search_path = pg_catalog; SET timezone = 'UTC'; "
						"SET datestyle = ISO; SET intervalstyle = postgres; "
						"SET extra_float_digits = 3",
						PG_WAIT_EXTENSION);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK ||
		(pipeline && !PQenterPipelineMode(conn)))
	{
		char	   *msg = pchomp(PQerrorMessage(conn));

		PQclear(res);
		libpqsrv_disconnect(conn);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("pgmesh: could not set up the session on server \"%s\"", server->servername),
				 errdetail_internal("%s", msg)));
	}
	PQclear(res);
	return conn;
}

static ConnEntry *
conn_get(Oid serverid, Oid userid)
{
	ConnKey		key = {serverid, userid};
	ConnEntry  *e;
	bool		found;

	if (conn_hash == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(ConnKey);
		ctl.entrysize = sizeof(ConnEntry);
		conn_hash = hash_create("pgmesh direct connections", 8, &ctl, HASH_ELEM | HASH_BLOBS);
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, conn_inval_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID, conn_inval_callback, (Datum) 0);
		RegisterXactCallback(direct_xact_callback, NULL);
	}
	e = hash_search(conn_hash, &key, HASH_ENTER, &found);
	if (!found)
	{
		e->conn = NULL;
		e->invalid = false;
		e->queue = NIL;
	}
	if (e->queue == NIL && e->conn != NULL)
	{
		/*
		 * An idle cached connection: drop it if its server changed, or if the peer has
		 * closed it (a restarted or failed-over worker); reading here sees the EOF.
		 */
		if (e->invalid || PQstatus(e->conn) != CONNECTION_OK ||
			!PQconsumeInput(e->conn) || PQstatus(e->conn) != CONNECTION_OK ||
			PQisBusy(e->conn))
			conn_drop(e);
	}
	if (e->conn == NULL)
	{
		ForeignServer *server = GetForeignServer(serverid);
		UserMapping *um = GetUserMapping(userid, serverid);

		e->invalid = false;
		e->conn = conn_open(server, um, true);
	}
	return e;
}

/*
 * A plain (not pipelined) connection to a server as postgres_fdw would open it for
 * userid, for xact.c's COMMIT/ROLLBACK PREPARED; the caller owns it.
 */
PGconn *
pgmesh_connect(Oid serverid, Oid userid)
{
	return conn_open(GetForeignServer(serverid), GetUserMapping(userid, serverid), false);
}

/* ---------- results ---------- */

static void
report_remote_error(PGresult *res, PGconn *conn, const char *sql)
{
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	const char *context = res ? PQresultErrorField(res, PG_DIAG_CONTEXT) : NULL;
	int			code = ERRCODE_CONNECTION_FAILURE;
	char	   *p = NULL,
			   *d = NULL,
			   *h = NULL,
			   *c = NULL;

	if (sqlstate && strlen(sqlstate) == 5)
		code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2], sqlstate[3], sqlstate[4]);
	p = primary ? pstrdup(primary) : pchomp(PQerrorMessage(conn));
	d = detail ? pstrdup(detail) : NULL;
	h = hint ? pstrdup(hint) : NULL;
	c = context ? pstrdup(context) : NULL;
	PQclear(res);
	ereport(ERROR,
			(errcode(code),
			 errmsg_internal("%s", p),
			 d ? errdetail_internal("%s", d) : 0,
			 h ? errhint("%s", h) : 0,
			 c ? errcontext("%s", c) : 0,
			 errcontext("remote SQL command: %s", sql)));
}

/* Reads the whole result of the oldest query in flight on e into its scan state. */
static void
receive_head(ConnEntry *e)
{
	DirectScanState *head = linitial(e->queue);
	PGresult   *res;
	PGresult   *next;

	res = libpqsrv_get_result(e->conn, PG_WAIT_EXTENSION);
	if (res == NULL || PQstatus(e->conn) == CONNECTION_BAD)
		report_remote_error(res, e->conn, head->sql);	/* xact abort drops e */
	/* The query's end (NULL), then its sync point. */
	while ((next = libpqsrv_get_result(e->conn, PG_WAIT_EXTENSION)) != NULL)
	{
		PQclear(next);
		if (PQstatus(e->conn) == CONNECTION_BAD)
			report_remote_error(res, e->conn, head->sql);
	}
	next = libpqsrv_get_result(e->conn, PG_WAIT_EXTENSION);
	if (next == NULL || PQresultStatus(next) != PGRES_PIPELINE_SYNC)
	{
		PQclear(next);
		report_remote_error(res, e->conn, head->sql);
	}
	PQclear(next);
	e->queue = list_delete_first(e->queue);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		report_remote_error(res, e->conn, head->sql);
	head->res = res;
	head->received = true;
}

static void
receive_until(DirectScanState *ds)
{
	while (!ds->received)
	{
		if (ds->entry->queue == NIL || ds->entry->conn == NULL)
			elog(ERROR, "pgmesh: direct read lost its connection state");
		receive_head(ds->entry);
	}
}

static void
direct_result_cleanup(void *arg)
{
	DirectScanState *ds = arg;

	PQclear(ds->res);
	ds->res = NULL;
}

/* ---------- executor ---------- */

static Node *
direct_create_state(CustomScan *cscan)
{
	DirectScanState *ds = palloc0(sizeof(DirectScanState));
	List	   *ids = lthird(cscan->custom_private);

	NodeSetTag(ds, T_CustomScanState);
	ds->css.methods = &direct_exec_methods;
	ds->sql = strVal(linitial(cscan->custom_private));
	ds->retrieved_attrs = lsecond(cscan->custom_private);
	ds->serverid = linitial_oid(ids);
	ds->userid = lsecond_oid(ids);
	return (Node *) ds;
}

static void
direct_begin(CustomScanState *node, EState *estate, int eflags)
{
	DirectScanState *ds = (DirectScanState *) node;
	TupleDesc	tupdesc = node->ss.ss_ScanTupleSlot->tts_tupleDescriptor;
	MemoryContextCallback *cb;
	MemoryContext old;
	ListCell   *lc;

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	ds->infuncs = palloc0(tupdesc->natts * sizeof(FmgrInfo));
	ds->ioparams = palloc0(tupdesc->natts * sizeof(Oid));
	foreach(lc, ds->retrieved_attrs)
	{
		int			a = lfirst_int(lc);
		Oid			infunc;

		getTypeInputInfo(TupleDescAttr(tupdesc, a - 1)->atttypid, &infunc, &ds->ioparams[a - 1]);
		fmgr_info(infunc, &ds->infuncs[a - 1]);
	}
	ds->rowcxt = AllocSetContextCreate(estate->es_query_cxt, "pgmesh direct read row",
									   ALLOCSET_SMALL_SIZES);
	cb = MemoryContextAlloc(estate->es_query_cxt, sizeof(MemoryContextCallback));
	cb->func = direct_result_cleanup;
	cb->arg = ds;
	MemoryContextRegisterResetCallback(estate->es_query_cxt, cb);

	ds->entry = conn_get(ds->serverid, ds->userid);
	if (!PQsendQueryParams(ds->entry->conn, ds->sql, 0, NULL, NULL, NULL, NULL, 0) ||
		!PQpipelineSync(ds->entry->conn))
	{
		char	   *msg = pchomp(PQerrorMessage(ds->entry->conn));

		conn_drop(ds->entry);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("pgmesh: could not send a query to server \"%s\"",
						GetForeignServer(ds->serverid)->servername),
				 errdetail_internal("%s", msg)));
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	ds->entry->queue = lappend(ds->entry->queue, ds);
	MemoryContextSwitchTo(old);
	ds->sent = true;
}

static TupleTableSlot *
direct_next(ScanState *ss)
{
	DirectScanState *ds = (DirectScanState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;
	int			natts = slot->tts_tupleDescriptor->natts;
	int			col = 0;
	ListCell   *lc;
	MemoryContext old;

	receive_until(ds);
	ExecClearTuple(slot);
	if (ds->next_row >= PQntuples(ds->res))
		return slot;
	MemoryContextReset(ds->rowcxt);
	old = MemoryContextSwitchTo(ds->rowcxt);
	for (int a = 0; a < natts; a++)
	{
		slot->tts_values[a] = (Datum) 0;
		slot->tts_isnull[a] = true;
	}
	foreach(lc, ds->retrieved_attrs)
	{
		int			a = lfirst_int(lc) - 1;

		if (!PQgetisnull(ds->res, ds->next_row, col))
		{
			slot->tts_values[a] = InputFunctionCall(&ds->infuncs[a],
													PQgetvalue(ds->res, ds->next_row, col),
													ds->ioparams[a],
													TupleDescAttr(slot->tts_tupleDescriptor, a)->atttypmod);
			slot->tts_isnull[a] = false;
		}
		col++;
	}
	MemoryContextSwitchTo(old);
	ds->next_row++;
	return ExecStoreVirtualTuple(slot);
}

static bool
direct_recheck(ScanState *ss, TupleTableSlot *slot)
{
	return true;
}

static TupleTableSlot *
direct_exec(CustomScanState *node)
{
	return ExecScan(&node->ss, direct_next, direct_recheck);
}

static void
direct_end(CustomScanState *node)
{
	DirectScanState *ds = (DirectScanState *) node;

	/* Keep the connection's queue in order: read what is still owed to this scan. */
	if (ds->sent && !ds->received && ds->entry->conn != NULL && ds->entry->queue != NIL)
		receive_until(ds);
	PQclear(ds->res);
	ds->res = NULL;
}

static void
direct_rescan(CustomScanState *node)
{
	DirectScanState *ds = (DirectScanState *) node;

	ds->next_row = 0;
	ExecScanReScan(&node->ss);
}

static void
direct_explain(CustomScanState *node, List *ancestors, ExplainState *es)
{
	ExplainPropertyText("Remote SQL", ((DirectScanState *) node)->sql, es);
}

/* ---------- swapping ForeignScans at executor start ---------- */

static bool
is_postgres_fdw(Oid serverid)
{
	ForeignServer *server = GetForeignServer(serverid);

	return strcmp(GetForeignDataWrapper(server->fdwid)->fdwname, "postgres_fdw") == 0;
}

/*
 * A CustomScan equivalent to fs (or, with !build, fs itself as a yes), or NULL if fs is
 * not a plain remote SELECT. fdw_recheck_quals are dropped: they serve EvalPlanQual
 * rechecks only, which need row marks or a ModifyTable, and neither is here.
 */
static Plan *
direct_scan_for(ForeignScan *fs, bool build)
{
	List	   *priv = fs->fdw_private;
	List	   *attrs;
	ListCell   *lc;
	Oid			userid;
	UserMapping *um;
	CustomScan *cs;

	if (fs->operation != CMD_SELECT || fs->fdw_exprs != NIL || fs->scan.plan.lefttree != NULL ||
		fs->scan.plan.parallel_aware ||
		fs->scan.plan.plan_rows > pgmesh_direct_read_max_rows ||
		list_length(priv) < 2 || !IsA(linitial(priv), String) ||
		!is_postgres_fdw(fs->fs_server))
		return NULL;
	attrs = lsecond(priv);
	if (attrs != NIL && !IsA(attrs, IntList))
		return NULL;
	foreach(lc, attrs)
	{
		int			a = lfirst_int(lc);

		if (a <= 0 || (fs->scan.scanrelid == 0 && a > list_length(fs->fdw_scan_tlist)))
			return NULL;
	}
	if (fs->scan.scanrelid == 0 && fs->fdw_scan_tlist == NIL)
		return NULL;
	userid = OidIsValid(fs->checkAsUser) ? fs->checkAsUser : GetUserId();
	um = GetUserMapping(userid, fs->fs_server);
	if (password_needed(userid, um) && !option_is(um->options, "password", NULL))
		return NULL;			/* postgres_fdw reports the error */
	if (!build)
		return (Plan *) fs;

	cs = makeNode(CustomScan);
	cs->scan = fs->scan;
	cs->scan.plan.type = T_CustomScan;
	cs->scan.plan.async_capable = false;
	cs->flags = 0;
	cs->custom_plans = NIL;
	cs->custom_exprs = NIL;
	cs->custom_private = list_make3(linitial(priv), attrs, list_make2_oid(fs->fs_server, userid));
	cs->custom_scan_tlist = fs->fdw_scan_tlist;
	cs->custom_relids = fs->fs_relids;
	cs->methods = &direct_scan_methods;
	return (Plan *) cs;
}

/*
 * Walks the node kinds a top-k or routed plan is made of; others are left alone. With
 * !build it only says (*changed) whether there is a scan to swap, touching nothing: the
 * plan may be a cached one.
 */
static Plan *
swap_scans(Plan *plan, bool build, bool *changed)
{
	ListCell   *lc;

	if (plan == NULL)
		return NULL;
	switch (nodeTag(plan))
	{
		case T_ForeignScan:
			{
				Plan	   *cs = direct_scan_for((ForeignScan *) plan, build);

				if (cs)
				{
					*changed = true;
					return build ? cs : plan;
				}
				return plan;
			}
		case T_Append:
			foreach(lc, ((Append *) plan)->appendplans)
				lfirst(lc) = swap_scans(lfirst(lc), build, changed);
			return plan;
		case T_MergeAppend:
			foreach(lc, ((MergeAppend *) plan)->mergeplans)
				lfirst(lc) = swap_scans(lfirst(lc), build, changed);
			return plan;
		case T_SubqueryScan:
			((SubqueryScan *) plan)->subplan = swap_scans(((SubqueryScan *) plan)->subplan, build, changed);
			return plan;
		case T_Limit:
		case T_Sort:
		case T_IncrementalSort:
		case T_Result:
		case T_Material:
		case T_Unique:
		case T_Agg:
		case T_Group:
		case T_WindowAgg:
		case T_NestLoop:
		case T_HashJoin:
		case T_MergeJoin:
		case T_Hash:
			plan->lefttree = swap_scans(plan->lefttree, build, changed);
			plan->righttree = swap_scans(plan->righttree, build, changed);
			return plan;
		default:
			return plan;
	}
}

/*
 * Swaps the postgres_fdw scans of a qualifying plan for direct-read scans; called by
 * the ExecutorStart hook (init.c) before the executor starts.
 */
void
pgmesh_direct_executor_start(QueryDesc *qd, int eflags)
{
	PlannedStmt *ps = qd->plannedstmt;

	if (pgmesh_direct_reads && pgmesh_exec_nesting == 0 && !IsParallelWorker() &&
		!(eflags & (EXEC_FLAG_EXPLAIN_ONLY | EXEC_FLAG_BACKWARD | EXEC_FLAG_MARK)) &&
		qd->instrument_options == 0 && ps->commandType == CMD_SELECT &&
		!ps->hasModifyingCTE && ps->rowMarks == NIL && !IsTransactionBlock() &&
		XactIsoLevel == XACT_READ_COMMITTED && !pgmesh_wrote_in_xact())
	{
		bool		found = false;

		swap_scans(ps->planTree, false, &found);
		if (found)
		{
			PlannedStmt *copy = palloc(sizeof(PlannedStmt));
			bool		changed = false;

			memcpy(copy, ps, sizeof(PlannedStmt));
			copy->planTree = swap_scans(copyObject(ps->planTree), true, &changed);
			qd->plannedstmt = copy;
		}
	}
}

void
pgmesh_direct_register(void)
{
	RegisterCustomScanMethods(&direct_scan_methods);
}
