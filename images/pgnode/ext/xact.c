/*
 * pgmesh two-phase commit across worker groups, and the session settings of the
 * coordinator's remote transactions (docs/engine.md, "Transactions").
 *
 * postgres_fdw keeps one remote transaction per connection and commits it in the
 * coordinator's pre-commit; its connections are private to it (GetConnection is not
 * exported by the PostgreSQL 17 packages), so pgmesh cannot send PREPARE TRANSACTION
 * on them. Instead the worker, which loads this same module, turns postgres_fdw's
 * COMMIT into PREPARE TRANSACTION when told so inside the remote transaction:
 *
 *  coordinator, end of a statement that leaves the transaction writing through two or
 *  more connections (worker groups): for each of them, an INSERT into the foreign
 *  table pgmesh_part.intent_<server> (remote: pgmesh_shards.xact_intent, a BEFORE
 *  INSERT trigger that stores nothing) carrying gid pgmesh_<coordinator xid>_<umid>;
 *  the trigger calls pgmesh_shards.prepare_on_commit(gid) on the worker, which notes
 *  the gid in backend memory (not undone by a rolled-back savepoint).
 *
 *  worker, ProcessUtility: COMMIT in a transaction with a noted gid runs as
 *  PREPARE TRANSACTION gid.
 *
 *  coordinator pre-commit: postgres_fdw's COMMITs prepare every group; pgmesh inserts
 *  the commit record (pgmesh.xact_commits, xid) and forces synchronous_commit = on for
 *  this commit, so the record is durable (and on the synchronous replica) before any
 *  group commits. Coordinator commit: COMMIT PREPARED on every group, over pgmesh's own
 *  connections (opened when the intents were sent, so no catalog access is needed
 *  after the commit). Abort: ROLLBACK PREPARED on every group that may have prepared.
 *
 *  Anything left prepared (a crash, a lost connection) is resolved by
 *  pgmesh.recover_prepared_xacts(): a commit record means COMMIT PREPARED; no record
 *  and a coordinator transaction no longer in progress means ROLLBACK PREPARED.
 *
 * Isolation: postgres_fdw opens its remote transactions at REPEATABLE READ unless the
 * local one is SERIALIZABLE. A worker session opened by the coordinator (server option
 * `-c pgmesh.fdw_session=on`) starts them at READ COMMITTED instead, so a coordinator
 * READ COMMITTED transaction behaves like READ COMMITTED on the shards (a concurrent
 * UPDATE waits, then proceeds on the new row version). A coordinator REPEATABLE READ
 * transaction is shown to postgres_fdw as SERIALIZABLE while its statements start and
 * run, so its shards run at SERIALIZABLE (stronger than asked, never weaker). The same
 * worker sessions get pgmesh.fdw_lock_timeout as lock_timeout, which bounds a deadlock
 * between groups (no detector sees both halves).
 */
#include "postgres.h"

#include <signal.h>

#include "access/twophase.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "pgmesh.h"

/* ---------- coordinator: connections written in the current transaction ---------- */

#define MAX_WRITTEN 64

typedef struct Written
{
	Oid			serverid;
	Oid			userid;
	Oid			umid;			/* postgres_fdw keeps one connection per user mapping */
	bool		intent;			/* intent sent: this group will PREPARE at commit */
	char		gid[64];
} Written;

static Written written[MAX_WRITTEN];
static int	n_written = 0;
static LocalTransactionId tracked_lxid = InvalidLocalTransactionId;
static FullTransactionId xact_fxid;
static bool inserting_intent = false;
static bool record_written = false;

/* pgmesh's own connections for COMMIT/ROLLBACK PREPARED, kept across transactions. */
typedef struct ResolveConn
{
	Oid			umid;
	PGconn	   *conn;
} ResolveConn;

static ResolveConn resolve_conns[MAX_WRITTEN];
static int	n_resolve_conns = 0;

/* ---------- worker: the gid postgres_fdw's COMMIT turns into ---------- */

static char pending_gid[GIDSIZE];

static void
reset_tracking(void)
{
	n_written = 0;
	tracked_lxid = InvalidLocalTransactionId;
	record_written = false;
}

bool
pgmesh_wrote_in_xact(void)
{
	return n_written > 0 && MyProc->vxid.lxid == tracked_lxid;
}

static PGconn *
resolve_conn_lookup(Oid umid)
{
	for (int i = 0; i < n_resolve_conns; i++)
	{
		if (resolve_conns[i].umid == umid)
			return resolve_conns[i].conn;
	}
	return NULL;
}

/* Opens (or checks) pgmesh's connection for w; may raise an error. */
static void
resolve_conn_open(Written *w)
{
	ResolveConn *rc = NULL;

	for (int i = 0; i < n_resolve_conns; i++)
	{
		if (resolve_conns[i].umid == w->umid)
			rc = &resolve_conns[i];
	}
	if (rc != NULL && rc->conn != NULL &&
		(PQstatus(rc->conn) != CONNECTION_OK || !PQconsumeInput(rc->conn) ||
		 PQstatus(rc->conn) != CONNECTION_OK || PQisBusy(rc->conn)))
	{
		PQfinish(rc->conn);
		rc->conn = NULL;
	}
	if (rc != NULL && rc->conn != NULL)
		return;
	if (rc == NULL)
	{
		if (n_resolve_conns >= MAX_WRITTEN)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("pgmesh: more than %d worker connections in one session", MAX_WRITTEN)));
		rc = &resolve_conns[n_resolve_conns++];
		rc->umid = w->umid;
		rc->conn = NULL;
	}
	rc->conn = pgmesh_connect(w->serverid, w->userid);
}

static void
note_written(ResultRelInfo *rri, EState *estate)
{
	Relation	rel = rri->ri_RelationDesc;
	Oid			server;
	Oid			userid;
	UserMapping *um;
	const char *nsp;

	if (rel == NULL || rel->rd_rel->relkind != RELKIND_FOREIGN_TABLE)
		return;
	nsp = get_namespace_name(RelationGetNamespace(rel));
	/*
	 * The engine's remote-statement tables (pgmesh_part.pgmesh_remote_<group>,
	 * sql/engine/007_ddl.sql) carry DDL and reference-table copies to every group on
	 * purpose; they are not a transaction's cross-group writes.
	 */
	if (nsp && strcmp(nsp, "pgmesh_part") == 0 &&
		strncmp(RelationGetRelationName(rel), "pgmesh_remote_", 14) == 0)
		return;
	if (nsp && strcmp(nsp, "pgmesh_part") == 0 &&
		strncmp(RelationGetRelationName(rel), "intent_", 7) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("pgmesh: %s.%s is written by pgmesh's two-phase commit only", nsp,
						RelationGetRelationName(rel))));
	server = GetForeignTable(RelationGetRelid(rel))->serverid;
	userid = ExecGetResultRelCheckAsUser(rri, estate);
	um = GetUserMapping(userid, server);
	if (MyProc->vxid.lxid != tracked_lxid)
	{
		reset_tracking();
		tracked_lxid = MyProc->vxid.lxid;
	}
	for (int i = 0; i < n_written; i++)
	{
		if (written[i].umid == um->umid)
			return;
	}
	if (n_written >= MAX_WRITTEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("pgmesh: a transaction may write through at most %d worker connections", MAX_WRITTEN)));
	if (n_written > 0 && pgmesh_cross_group_writes == PGMESH_CGW_REFUSE)
	{
		for (int i = 0; i < n_written; i++)
		{
			if (written[i].serverid != server)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("pgmesh: transaction writes to more than one worker group (servers \"%s\" and \"%s\")",
								GetForeignServer(written[i].serverid)->servername,
								GetForeignServer(server)->servername),
						 errdetail("pgmesh.cross_group_writes is 'refuse'; nothing of this transaction is committed."),
						 errhint("Write the rows of each worker group in its own transaction, or SET pgmesh.cross_group_writes = 'two_phase' (the default) for an atomic commit across groups.")));
		}
	}
	written[n_written].serverid = server;
	written[n_written].userid = userid;
	written[n_written].umid = um->umid;
	written[n_written].intent = false;
	written[n_written].gid[0] = '\0';
	n_written++;
}

/*
 * Tells every written group without an intent yet to PREPARE at commit: an INSERT into
 * its intent foreign table, as the user whose connection wrote (so postgres_fdw picks
 * that connection, inside the same remote transaction).
 */
static void
send_intents(void)
{
	Oid			nspid = get_namespace_oid("pgmesh_part", true);

	if (!FullTransactionIdIsValid(xact_fxid) ||
		!FullTransactionIdEquals(xact_fxid, GetTopFullTransactionIdIfAny()))
		xact_fxid = GetTopFullTransactionId();
	for (int i = 0; i < n_written; i++)
	{
		Written    *w = &written[i];
		const char *srvname;
		char	   *relname;
		StringInfoData sql;
		Oid			save_userid;
		int			save_sec;
		int			rc;

		if (w->intent)
			continue;
		srvname = GetForeignServer(w->serverid)->servername;
		relname = psprintf("intent_%s", srvname);
		if (!OidIsValid(nspid) || !OidIsValid(get_relname_relid(relname, nspid)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pgmesh: worker group server \"%s\" is not set up for two-phase commit (no pgmesh_part.%s)",
							srvname, relname),
					 errhint("Install the engine again (it sets every group up), or SET pgmesh.cross_group_writes = 'refuse'.")));
		snprintf(w->gid, sizeof(w->gid), "pgmesh_" UINT64_FORMAT "_%u",
				 U64FromFullTransactionId(xact_fxid), w->umid);
		/* Open the resolving connection first: an abort after this may need it. */
		resolve_conn_open(w);
		w->intent = true;
		initStringInfo(&sql);
		appendStringInfo(&sql, "INSERT INTO pgmesh_part.%s (gid) VALUES (%s)",
						 quote_identifier(relname), quote_literal_cstr(w->gid));
		GetUserIdAndSecContext(&save_userid, &save_sec);
		SetUserIdAndSecContext(w->userid, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		inserting_intent = true;
		PG_TRY();
		{
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "pgmesh: SPI_connect failed");
			rc = SPI_execute(sql.data, false, 0);
			if (rc != SPI_OK_INSERT)
				elog(ERROR, "pgmesh: intent insert on \"%s\" failed: %d", srvname, rc);
			SPI_finish();
		}
		PG_FINALLY();
		{
			inserting_intent = false;
			SetUserIdAndSecContext(save_userid, save_sec);
		}
		PG_END_TRY();
	}
}

void
pgmesh_note_writes(QueryDesc *queryDesc)
{
	EState	   *estate = queryDesc->estate;
	ListCell   *lc;

	if (inserting_intent || estate == NULL)
		return;
	foreach(lc, estate->es_opened_result_relations)
		note_written(lfirst(lc), estate);
	foreach(lc, estate->es_tuple_routing_result_relations)
		note_written(lfirst(lc), estate);
	if (n_written >= 2 && pgmesh_cross_group_writes == PGMESH_CGW_TWO_PHASE)
		send_intents();
}

static bool
has_intents(void)
{
	for (int i = 0; i < n_written; i++)
	{
		if (written[i].intent)
			return true;
	}
	return false;
}

static void
inject_fault(int point)
{
	if (pgmesh_fault_injection != point)
		return;
	/* A coordinator crash at this point: the postmaster reinitialises every backend. */
	elog(LOG, "pgmesh: fault injection %s, killing backend %d",
		 point == PGMESH_FAULT_AFTER_PREPARE ? "crash_after_prepare" : "crash_after_commit", MyProcPid);
	kill(MyProcPid, SIGKILL);
	pg_usleep(10L * 1000000L);
}

/* The commit record, in this transaction: its commit is the decision. */
static void
write_commit_record(void)
{
	StringInfoData sql;
	Oid			save_userid;
	int			save_sec;
	bool		first = true;

	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO pgmesh.xact_commits (xid, gids) VALUES ('" UINT64_FORMAT "'::xid8, ARRAY[",
					 U64FromFullTransactionId(xact_fxid));
	for (int i = 0; i < n_written; i++)
	{
		if (!written[i].intent)
			continue;
		appendStringInfo(&sql, "%s%s", first ? "" : ",", quote_literal_cstr(written[i].gid));
		first = false;
	}
	appendStringInfoString(&sql, "]::text[])");
	/* Durable, and on the synchronous replica, before any group commits. */
	(void) set_config_option("synchronous_commit", "on", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, ERROR, false);
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	/* Pre-commit runs after the portal is gone: SPI needs a snapshot of its own. */
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pgmesh: SPI_connect failed");
		if (SPI_execute(sql.data, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "pgmesh: could not write the commit record");
		SPI_finish();
	}
	PG_FINALLY();
	{
		PopActiveSnapshot();
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	record_written = true;
}

/* COMMIT/ROLLBACK PREPARED on every group with an intent; never raises an error. */
static void
resolve_all(bool commit)
{
	HOLD_INTERRUPTS();
	for (int i = 0; i < n_written; i++)
	{
		Written    *w = &written[i];
		PGconn	   *conn;
		PGresult   *res;
		char		sql[128];

		if (!w->intent)
			continue;
		conn = resolve_conn_lookup(w->umid);
		snprintf(sql, sizeof(sql), "%s PREPARED '%s'", commit ? "COMMIT" : "ROLLBACK", w->gid);
		if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		{
			if (commit)
				ereport(WARNING,
						(errmsg("pgmesh: no connection for %s; pgmesh.recover_prepared_xacts() will finish it", sql)));
			continue;
		}
		res = PQexec(conn, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			/* 42704: never prepared (the abort came before its PREPARE). */
			if (commit || state == NULL || strcmp(state, "42704") != 0)
				ereport(WARNING,
						(errmsg("pgmesh: %s failed; pgmesh.recover_prepared_xacts() will finish it", sql),
						 errdetail_internal("%s", pchomp(PQerrorMessage(conn)))));
		}
		PQclear(res);
	}
	RESUME_INTERRUPTS();
}

static void
xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (n_written > 0 && tracked_lxid == MyProc->vxid.lxid && has_intents())
			{
				inject_fault(PGMESH_FAULT_AFTER_PREPARE);
				write_commit_record();
			}
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (n_written > 0 && tracked_lxid == MyProc->vxid.lxid)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("pgmesh: PREPARE TRANSACTION is not supported for transactions that wrote to worker groups"),
						 errdetail("pgmesh runs its own two-phase commit across worker groups; COMMIT instead.")));
			break;
		case XACT_EVENT_COMMIT:
			if (record_written)
			{
				inject_fault(PGMESH_FAULT_AFTER_COMMIT);
				resolve_all(true);
			}
			reset_tracking();
			pending_gid[0] = '\0';
			break;
		case XACT_EVENT_ABORT:
			resolve_all(false);
			reset_tracking();
			pending_gid[0] = '\0';
			break;
		case XACT_EVENT_PREPARE:
			pending_gid[0] = '\0';
			break;
		default:
			break;
	}
}

/* ---------- worker side ---------- */

PG_FUNCTION_INFO_V1(pgmesh_prepare_on_commit);
Datum
pgmesh_prepare_on_commit(PG_FUNCTION_ARGS)
{
	char	   *gid = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *p = gid;

	if (strncmp(p, "pgmesh_", 7) != 0 || strlen(gid) >= GIDSIZE)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("pgmesh: malformed two-phase commit id \"%s\"", gid)));
	for (p = gid + 7; *p; p++)
	{
		if (!((*p >= '0' && *p <= '9') || *p == '_'))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("pgmesh: malformed two-phase commit id \"%s\"", gid)));
	}
	if (!IsTransactionBlock())
		ereport(ERROR, (errcode(ERRCODE_NO_ACTIVE_SQL_TRANSACTION),
						errmsg("pgmesh: prepare_on_commit needs a transaction block")));
	if (pending_gid[0] != '\0' && strcmp(pending_gid, gid) != 0)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("pgmesh: transaction already prepares as \"%s\"", pending_gid)));
	strlcpy(pending_gid, gid, sizeof(pending_gid));
	PG_RETURN_VOID();
}

/* Is this START/BEGIN asking for REPEATABLE READ (postgres_fdw's default)? */
static bool
asks_repeatable_read(TransactionStmt *ts)
{
	ListCell   *lc;

	foreach(lc, ts->options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, "transaction_isolation") == 0 && d->arg && IsA(d->arg, A_Const) &&
			strcmp(strVal(&((A_Const *) d->arg)->val), "repeatable read") == 0)
			return true;
	}
	return false;
}

static TransactionStmt *
read_committed_copy(TransactionStmt *ts)
{
	TransactionStmt *copy = copyObject(ts);
	ListCell   *lc;

	foreach(lc, copy->options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, "transaction_isolation") == 0)
		{
			A_Const    *c = makeNode(A_Const);

			c->val.sval.type = T_String;
			c->val.sval.sval = pstrdup("read committed");
			c->location = -1;
			d->arg = (Node *) c;
		}
	}
	return copy;
}

PlannedStmt *
pgmesh_xact_utility(PlannedStmt *pstmt, bool *after_start)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Node	   *replaced = NULL;

	*after_start = false;
	if (IsA(parsetree, CopyStmt))
		replaced = pgmesh_copy_to_rewrite(parsetree);
	else if (IsA(parsetree, TransactionStmt))
	{
		TransactionStmt *ts = (TransactionStmt *) parsetree;

		if (ts->kind == TRANS_STMT_COMMIT && !ts->chain && pending_gid[0] != '\0' &&
			IsTransactionBlock())
		{
			TransactionStmt *prep = makeNode(TransactionStmt);

			prep->kind = TRANS_STMT_PREPARE;
			prep->gid = pstrdup(pending_gid);
			prep->location = -1;
			replaced = (Node *) prep;
		}
		else if ((ts->kind == TRANS_STMT_START || ts->kind == TRANS_STMT_BEGIN) &&
				 pgmesh_fdw_session)
		{
			if (asks_repeatable_read(ts))
				replaced = (Node *) read_committed_copy(ts);
			*after_start = pgmesh_fdw_lock_timeout > 0;
		}
	}
	if (replaced)
	{
		PlannedStmt *copy = palloc(sizeof(PlannedStmt));

		memcpy(copy, pstmt, sizeof(PlannedStmt));
		copy->utilityStmt = replaced;
		return copy;
	}
	return pstmt;
}

/* After a coordinator session's START: its lock timeout, for this transaction. */
void
pgmesh_xact_after_utility(bool after_start)
{
	char		value[32];

	if (!after_start || !IsTransactionBlock())
		return;
	snprintf(value, sizeof(value), "%d", pgmesh_fdw_lock_timeout);
	(void) set_config_option("lock_timeout", value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, ERROR, false);
}

/* ---------- coordinator: REPEATABLE READ shown to postgres_fdw as SERIALIZABLE ---------- */

static bool
plan_has_foreign(PlannedStmt *ps)
{
	ListCell   *lc;

	foreach(lc, ps->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind == RTE_RELATION &&
			(rte->relkind == RELKIND_FOREIGN_TABLE || rte->relkind == RELKIND_PARTITIONED_TABLE))
			return true;
	}
	return false;
}

/*
 * postgres_fdw opens a remote transaction (START TRANSACTION ISOLATION LEVEL ...) when
 * a statement first uses a connection, while the executor starts or runs the
 * statement; IsolationIsSerializable() picks the level. Showing a REPEATABLE READ
 * transaction as SERIALIZABLE there makes the shards SERIALIZABLE, which the worker
 * keeps (only REPEATABLE READ becomes READ COMMITTED there). Locally nothing changes:
 * the transaction's snapshot is already taken, and serializable predicate locking
 * keys on MySerializableXact, which a REPEATABLE READ transaction does not have.
 */
bool
pgmesh_xact_flip_isolation(QueryDesc *qd)
{
	if (XactIsoLevel != XACT_REPEATABLE_READ || !plan_has_foreign(qd->plannedstmt))
		return false;
	XactIsoLevel = XACT_SERIALIZABLE;
	return true;
}

void
pgmesh_xact_unflip_isolation(bool flipped)
{
	if (flipped)
		XactIsoLevel = XACT_REPEATABLE_READ;
}

void
pgmesh_xact_register(void)
{
	RegisterXactCallback(xact_callback, NULL);
}
