/*-------------------------------------------------------------------------
 *
 * sessions.c
 *		Describe another session the way a DBA wants it in an error message:
 *		pid, user, application, state, transaction age and query.
 *
 * The facts come from the backend status array, as pg_stat_activity reads
 * them, and are shown as pg_stat_activity would show them to the viewer the
 * caller names: a viewer who may not see the session (neither a member of
 * its role nor of pg_read_all_stats, HAS_PGSTAT_PERMISSIONS) gets its pid
 * and user only.  User names need catalog access, so callers must be inside
 * a transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "catalog/pg_authid.h"
#include "commands/progress.h"
#include "mb/pg_wchar.h"
#include "utils/acl.h"
#include "utils/timestamp.h"

/* how much of a query an error message or event shows */
#define QUERY_SHOWN_LEN 60

/* Forget the cached status snapshot so the next lookup reads fresh state. */
void
sessions_refresh(void)
{
	mg_clear_backend_status_snapshot();
}

static const char *
state_name(BackendState state)
{
	switch (state)
	{
		case STATE_IDLE:
			return "idle";
		case STATE_RUNNING:
			return "active";
		case STATE_IDLEINTRANSACTION:
			return "idle in transaction";
		case STATE_FASTPATH:
			return "fastpath function call";
		case STATE_IDLEINTRANSACTION_ABORTED:
			return "idle in transaction (aborted)";
		case STATE_DISABLED:
			return "disabled";
		default:
			return "unknown";
	}
}

static void
append_age(StringInfo buf, TimestampTz since, TimestampTz now)
{
	long		secs;
	int			usecs;

	TimestampDifference(since, now, &secs, &usecs);
	if (secs >= 3600)
		appendStringInfo(buf, "%ld h %ld min", secs / 3600, (secs % 3600) / 60);
	else if (secs >= 60)
		appendStringInfo(buf, "%ld min %ld s", secs / 60, secs % 60);
	else
		appendStringInfo(buf, "%ld.%01d s", secs, usecs / 100000);
}

static PgBackendStatus *
find_session(int pid)
{
	int			n = pgstat_fetch_stat_numbackends();
	int			i;

	for (i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = mg_local_beentry(i);

		if (local != NULL && local->backendStatus.st_procpid == pid)
			return &local->backendStatus;
	}
	return NULL;
}

/*
 * May viewer see the details of this session in pg_stat_activity?  The
 * InvalidOid viewer is the server itself: text for the server log, or for a
 * record only members of pg_read_all_stats may read.
 */
static bool
may_see(const PgBackendStatus *be, Oid viewer)
{
	return !OidIsValid(viewer) ||
		migguard_may_see_session_of(viewer, be->st_userid);
}

/*
 * Append a description of the session with this pid to buf, as
 * pg_stat_activity would show it to "viewer": its state, idle time,
 * transaction age and query only if viewer may see them, else its pid and
 * user only.  A message or event meant for a user must name that user as
 * the viewer (for an event: the user whose statement it is about).
 * Returns false, appending nothing, when no such session exists any more.
 */
bool
sessions_describe(int pid, Oid viewer, StringInfo buf)
{
	PgBackendStatus *be = find_session(pid);
	TimestampTz now = GetCurrentTimestamp();
	char	   *user;
	char	   *query;

	if (be == NULL)
		return false;

	user = OidIsValid(be->st_userid) ?
		GetUserNameFromId(be->st_userid, true) : NULL;
	if (!may_see(be, viewer))
	{
		appendStringInfo(buf, "pid %d (user %s)", pid, user ? user : "?");
		return true;
	}
	appendStringInfo(buf, "pid %d (user %s, application \"%s\", %s",
					 pid, user ? user : "?", be->st_appname,
					 state_name(be->st_state));
	if (be->st_state == STATE_IDLEINTRANSACTION ||
		be->st_state == STATE_IDLEINTRANSACTION_ABORTED)
	{
		appendStringInfoString(buf, " for ");
		append_age(buf, be->st_state_start_timestamp, now);
	}
	if (be->st_xact_start_timestamp != 0)
	{
		appendStringInfoString(buf, ", transaction age ");
		append_age(buf, be->st_xact_start_timestamp, now);
	}
	query = sessions_query(pid, viewer);
	if (query != NULL)
		appendStringInfo(buf, ", query: %s", query);
	appendStringInfoChar(buf, ')');
	return true;
}

/*
 * Is pid a client session of database dbid, idle in a transaction for at
 * least min_age_ms?
 */
bool
sessions_idle_in_transaction(int pid, Oid dbid, int min_age_ms)
{
	PgBackendStatus *be = find_session(pid);

	if (be == NULL || be->st_backendType != B_BACKEND ||
		be->st_databaseid != dbid)
		return false;
	if (be->st_state != STATE_IDLEINTRANSACTION &&
		be->st_state != STATE_IDLEINTRANSACTION_ABORTED)
		return false;
	return TimestampDifferenceExceeds(be->st_state_start_timestamp,
									  GetCurrentTimestamp(), min_age_ms);
}

/*
 * The phase pg_stat_progress_create_index shows for pid's index build, or
 * -1 when it is not building an index.
 */
int
sessions_index_build_phase(int pid)
{
	PgBackendStatus *be = find_session(pid);

	if (be == NULL || be->st_progress_command != PROGRESS_COMMAND_CREATE_INDEX)
		return -1;
	return (int) be->st_progress_param[PROGRESS_CREATEIDX_PHASE];
}

/*
 * The query pid runs or last ran, clipped, if "viewer" may see it as
 * pg_stat_activity would show it (InvalidOid: the server); NULL otherwise.
 */
char *
sessions_query(int pid, Oid viewer)
{
	PgBackendStatus *be = find_session(pid);
	char	   *query;
	int			len;

	if (be == NULL || be->st_activity_raw[0] == '\0' || !may_see(be, viewer))
		return NULL;
	query = pgstat_clip_activity(be->st_activity_raw);
	len = strlen(query);
	if (len > QUERY_SHOWN_LEN)
	{
		/* the watcher has no database encoding: most are UTF-8 */
		int			encoding = OidIsValid(MyDatabaseId) ?
			GetDatabaseEncoding() : PG_UTF8;

		return psprintf("%.*s...",
						pg_encoding_mbcliplen(encoding, query, len, QUERY_SHOWN_LEN),
						query);
	}
	return query;
}

/*
 * What pid is doing, for decisions rather than messages: its state, since
 * when, and how old its transaction is.  Returns false when no such session
 * exists.
 */
bool
sessions_activity(int pid, SessionActivity *activity)
{
	PgBackendStatus *be = find_session(pid);

	memset(activity, 0, sizeof(SessionActivity));
	if (be == NULL)
		return false;
	switch (be->st_state)
	{
		case STATE_IDLE:
			activity->state = MG_SESSION_IDLE;
			break;
		case STATE_RUNNING:
		case STATE_FASTPATH:
			activity->state = MG_SESSION_RUNNING;
			break;
		case STATE_IDLEINTRANSACTION:
			activity->state = MG_SESSION_IDLE_IN_XACT;
			break;
		case STATE_IDLEINTRANSACTION_ABORTED:
			activity->state = MG_SESSION_IDLE_IN_XACT_ABORTED;
			break;
		default:
			activity->state = MG_SESSION_UNKNOWN;
			break;
	}
	activity->state_start = be->st_state_start_timestamp;
	activity->xact_start = be->st_xact_start_timestamp;
	activity->userid = be->st_userid;
	activity->is_autovacuum = (be->st_backendType == B_AUTOVAC_WORKER);
	return true;
}
