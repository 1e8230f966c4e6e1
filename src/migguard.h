/*-------------------------------------------------------------------------
 *
 * migguard.h
 *		Declarations shared between migguard's source files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGGUARD_H
#define MIGGUARD_H

#include "compat.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "storage/latch.h"
#include "storage/lockdefs.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#define MIGGUARD_VERSION "0.2"

/* SQLSTATE of every rejection by a rule: class 55, "object not in prerequisite state" */
#define ERRCODE_MIGGUARD_REJECTED MAKE_SQLSTATE('5','5','M','G','1')

/* ---- settings (migguard.c) ---- */

typedef enum MigguardMode
{
	MIGGUARD_MODE_OFF,
	MIGGUARD_MODE_LOG,
	MIGGUARD_MODE_WARN,
	MIGGUARD_MODE_ENFORCE
} MigguardMode;

extern int	migguard_mode;
extern int	migguard_large_table_size_kb;
extern int	migguard_event_ring_size;

/* true once _PG_init ran from shared_preload_libraries */
extern bool migguard_preloaded;

/* Raise an error unless the library was preloaded. */
extern void migguard_require_preload(void);

/* ---- the ProcessUtility hook (ddl_hook.c) ---- */

extern void ddl_hook_install(void);
extern char *migguard_statement_text(const char *queryString, int location, int len);
extern void migguard_next_utility(MG_PROCESS_UTILITY_ARGS);

/* ---- relation facts (relfacts.c) ---- */

typedef struct RelFacts
{
	Oid			relid;
	char		relkind;
	char	   *nspname;
	char	   *relname;
	int64		size_bytes;		/* heap + TOAST; partitioned: sum of leaves */
	double		est_rows;		/* from reltuples; -1 when never analyzed */
	bool		created_in_xact;	/* created by the current transaction */
	bool		is_temp;		/* private to this session */
	bool		is_large;		/* size_bytes >= migguard.large_table_size */
} RelFacts;

extern bool relfacts_get(Oid relid, RelFacts *facts);
extern bool relfacts_identify(Oid relid, RelFacts *facts);
extern void relfacts_remember(void);
extern void relfacts_forget(void);
extern char *relfacts_format_size(int64 bytes);
extern char *relfacts_relation_name(Oid relid);
extern bool relfacts_private(Oid relid);
extern bool relfacts_relation_name_into(Oid relid, char *buf, Size size);
extern void relfacts_new_statement(void);
extern Oid	relfacts_rangevar_relid(RangeVar *rv);
extern bool relfacts_exempt(const RelFacts *facts);
extern void relfacts_tree(Oid relid, int64 *bytes, double *rows);
extern List *relfacts_indexes(Oid relid);
extern Oid	relfacts_am(Oid relid);

/* ---- the rule catalog (rules.c) ---- */

typedef enum RuleLevel
{
	RULE_LEVEL_OFF,
	RULE_LEVEL_LOG,
	RULE_LEVEL_WARNING,
	RULE_LEVEL_ERROR
} RuleLevel;

typedef struct RuleViolation
{
	const char *rule;
	RuleLevel	level;			/* the level in force for this rule */
	char	   *relation;		/* qualified name, or NULL */
	char	   *message;
	char	   *detail;
	char	   *hint;
} RuleViolation;

struct StmtPlan;
extern void rules_define_settings(void);
extern List *rules_check_plan(struct StmtPlan *plan);
extern List *rules_check_statement(Node *parsetree, const char *stmt_text);
extern RuleViolation *rules_violation_for(const char *rule, const RelFacts *facts,
										  char *message, char *detail,
										  const char *safe_way);
extern const char *rule_level_name(RuleLevel level);
extern bool rules_bypassed(const char *rule);
extern int	rules_count(void);
extern void rules_describe(int i, const char **name, RuleLevel *level,
						   RuleLevel *default_level, const char **catches,
						   const char **alternative);

/* ---- shared memory (registry.c) ---- */

typedef enum MigguardCounter
{
	MG_COUNTER_CHECKED,
	MG_COUNTER_REJECTED,
	MG_COUNTER_WARNED,
	MG_COUNTER_BYPASSED,
	MG_COUNTER_CANCELLED,
	MG_COUNTER_RETRIED,
	MG_COUNTER_CIC_WAITS,
	MG_COUNTER_CLEANUPS,
	MG_COUNTER_TERMINATIONS,
	MG_COUNTER_OUTSIDE_QUEUE_WAITS,
	MG_COUNTER_XACT_CANCELLED,
	MG_COUNTER_XACT_TERMINATED,
	MG_COUNTER_AUTOVACUUM_CANCELLED,
	MG_NUM_COUNTERS
} MigguardCounter;

#define MG_EVENT_ACTION_LEN		32
#define MG_EVENT_RULE_LEN		NAMEDATALEN
#define MG_EVENT_RELATION_LEN	(2 * NAMEDATALEN + 2)
#define MG_STATEMENT_LEN		256
#define MG_DETAIL_LEN			1024

typedef struct MigguardEvent
{
	TimestampTz time;
	int			pid;
	Oid			dbid;
	Oid			userid;
	char		action[MG_EVENT_ACTION_LEN];
	char		rule[MG_EVENT_RULE_LEN];
	char		relation[MG_EVENT_RELATION_LEN];
	char		statement[MG_STATEMENT_LEN];
	char		detail[MG_DETAIL_LEN];
} MigguardEvent;

extern void registry_request_shmem(void);
extern void registry_startup_shmem(void);
extern bool registry_attached(void);

extern void registry_set_watcher(int pid, Latch *latch);
extern void registry_watcher_reloaded(void);
extern void registry_get_watcher(int *pid, TimestampTz *started,
								 TimestampTz *reloaded);
extern void registry_wake_watcher(void);
extern void registry_wake_watcher_from_handler(void);

extern void registry_count(MigguardCounter counter);
extern uint64 registry_counter_value(MigguardCounter counter);

/*
 * A guarded DDL in flight: one slot per backend, owned by that backend, so a
 * slot can never leak beyond its backend's life.
 */
#define MG_MAX_GUARD_RELS 16

typedef enum GuardKind
{
	MG_GUARD_DDL,				/* a guarded statement runs */
	MG_GUARD_XACT,				/* its transaction keeps strong locks */
	MG_GUARD_CIC				/* a concurrent index build runs */
} GuardKind;

typedef enum GuardPhase
{
	MG_PHASE_RUNNING,			/* a guarded statement runs */
	MG_PHASE_BESIDE_QUEUE,		/* it waits beside the lock queue, not in it */
	MG_PHASE_BETWEEN			/* no guarded statement runs: the transaction
								 * does other work or is idle */
} GuardPhase;

typedef struct GuardSlot
{
	int			pid;			/* 0 when the slot is free */
	Oid			dbid;
	Oid			userid;
	int			encoding;		/* of the texts below */
	GuardKind	kind;
	GuardPhase	phase;
	bool		observe_only;	/* log mode: the watcher only reports */
	bool		owner_checked;	/* see GuardTarget */
	LOCKMODE	lockmode;		/* the strongest lock registered */
	int			nrels;
	Oid			relids[MG_MAX_GUARD_RELS];
	char		relnames[MG_MAX_GUARD_RELS][MG_EVENT_RELATION_LEN];
	TimestampTz registered;		/* identifies the registration */
	TimestampTz started;		/* the current guarded statement's start */
	char		relation[MG_EVENT_RELATION_LEN];	/* the first relation's name */
	char		statement[MG_STATEMENT_LEN];
	bool		cancel_requested;	/* set by the watcher before it signals */
	TimestampTz cancel_sent;
	char		cancel_reason[MG_DETAIL_LEN];
	bool		terminate_requested;	/* likewise, for SIGTERM */
	bool		reported;		/* the watcher logged what it would do */
} GuardSlot;

extern void registry_guard_begin(GuardKind kind, const Oid *relids,
								 char (*relnames)[MG_EVENT_RELATION_LEN],
								 int nrels, LOCKMODE lockmode,
								 bool observe_only, bool owner_checked,
								 const char *relation, const char *statement);
extern bool registry_guard_end(char *cancel_reason, Size len);
extern bool registry_guard_registered(void);
extern void registry_guard_set_phase(GuardPhase phase);
extern bool registry_guard_keep(const Oid *relids, int nrels, LOCKMODE lockmode,
								char (*relnames)[MG_EVENT_RELATION_LEN],
								char *cancel_reason, Size len);
extern bool registry_guard_take_signal(char *reason, Size len,
									   bool *terminate);
extern int	registry_copy_guards(GuardSlot **slots);
extern bool registry_request_cancel(int pid, TimestampTz registered,
									const char *reason);
extern bool registry_request_terminate(int pid, TimestampTz registered,
									   const char *reason);
extern bool registry_mark_reported(int pid, TimestampTz registered);
extern void registry_absorb_cancel(void);
extern void registry_clip(char *dst, const char *src, Size size, int encoding);

extern void registry_add_event(const char *action, const char *rule,
							   const char *relation, const char *statement,
							   const char *detail);
extern void registry_add_event_for(int pid, Oid dbid, Oid userid,
								   const char *action, const char *rule,
								   const char *relation, const char *statement,
								   const char *detail);
extern void registry_add_event_in(int encoding, int pid, Oid dbid, Oid userid,
								  const char *action, const char *rule,
								  const char *relation, const char *statement,
								  const char *detail);
extern int	registry_copy_events(MigguardEvent **events);

/* ---- guarded DDL: lock_timeout cap, registration, retries (guard.c) ---- */

extern int	migguard_lock_timeout_ms;
extern int	migguard_lock_retries;
extern int	migguard_retry_delay_ms;
extern int	migguard_retry_max_delay_ms;

typedef struct GuardTarget
{
	int			nrels;
	Oid			relids[MG_MAX_GUARD_RELS];
	LOCKMODE	relmodes[MG_MAX_GUARD_RELS];	/* the lock on each relation */
	LOCKMODE	lockmode;		/* the strongest lock the statement takes */
	bool		retryable;		/* may run again in a subtransaction */
	bool		own_transactions;	/* commits transactions of its own */

	/*
	 * The current user owns every relation (or is a superuser), so the
	 * statement will pass PostgreSQL's ownership checks: only then may
	 * migguard lock its relations ahead of it, or terminate others on its
	 * behalf.
	 */
	bool		owner_checked;
} GuardTarget;

extern void guard_define_settings(void);
extern void guard_cap_lock_timeout(GucAction action);
extern void guard_process_utility(const GuardTarget *target,
								  const char *stmt_text,
								  MG_PROCESS_UTILITY_ARGS);

/* ---- waiting beside the lock queue (queue_wait.c) ---- */

extern bool migguard_wait_outside_queue;
extern int	migguard_outside_queue_timeout_ms;
extern int	migguard_old_holder_age_ms;

extern void queue_wait_define_settings(void);
extern bool queue_wait_lock_now(const GuardTarget *target);
extern void queue_wait_beside(const GuardTarget *target, const char *stmt_text,
							  char (*relnames)[MG_EVENT_RELATION_LEN]);

/* ---- the transaction's strong locks, until it ends (xact_guard.c) ---- */

extern bool migguard_guard_transactions;
extern bool migguard_terminate_idle_lock_holders;

extern void xact_guard_define_settings(void);
extern void xact_guard_install(void);
extern void xact_guard_statement_done(const GuardTarget *target,
									  char (*relnames)[MG_EVENT_RELATION_LEN],
									  bool observe_only, bool continues);
extern bool xact_guard_statement_failed(char *cancel_reason, Size len);
extern bool xact_guard_holds_strong_lock(Oid relid);

/* ---- which relations a statement locks, and how (lockmodel.c) ---- */

extern bool statement_option_on(List *options, const char *name);
extern bool guard_classify(Node *parsetree, GuardTarget *target);

/* ---- concurrent index builds (cic.c, cic_cleanup.c) ---- */

extern int	migguard_cic_wait_timeout_ms;
extern bool migguard_cic_cleanup;

extern void cic_define_settings(void);
extern void cic_install_hooks(void);
extern bool cic_classify(Node *parsetree, Oid *tableid, Oid *indexid);
extern void cic_process_utility(Oid tableid, Oid indexid,
								const char *stmt_text,
								MG_PROCESS_UTILITY_ARGS);
extern void cic_cleanup_request_shmem(void);
extern void cic_cleanup_startup_shmem(void);
extern void cic_cleanup_queue(const Oid *indexids, int n, bool only_if_ccold,
							  const char *statement);
extern long cic_cleanup_kick(void);
PGDLLEXPORT void migguard_cleanup_main(Datum main_arg);
PGDLLEXPORT void migguard_cleanup_launcher_main(Datum main_arg);

/* ---- other sessions, as pg_stat_activity shows them (sessions.c) ---- */

extern void sessions_refresh(void);
extern bool sessions_describe(int pid, Oid viewer, StringInfo buf);
extern bool sessions_idle_in_transaction(int pid, Oid dbid, int min_age_ms);
extern int	sessions_index_build_phase(int pid);
extern char *sessions_query(int pid, Oid viewer);

/* What a session is doing, from the backend status array. */
typedef enum SessionState
{
	MG_SESSION_UNKNOWN,			/* gone, or track_activities is off */
	MG_SESSION_IDLE,
	MG_SESSION_RUNNING,
	MG_SESSION_IDLE_IN_XACT,
	MG_SESSION_IDLE_IN_XACT_ABORTED
} SessionState;

typedef struct SessionActivity
{
	SessionState state;
	TimestampTz state_start;
	TimestampTz xact_start;		/* 0 outside a transaction */
	Oid			userid;
	bool		is_autovacuum;	/* an autovacuum worker */
} SessionActivity;

extern bool sessions_activity(int pid, SessionActivity *activity);

/* ---- preflight (preflight.c) ---- */

extern void preflight_define_settings(void);

/* ---- the lock queue around a relation (lockstate.c) ---- */

#define MG_MAX_BLOCKERS 8

/* What the lock manager shows around one session's locks on relations. */
typedef struct QueueFacts
{
	LOCKMASK	held;			/* modes the session holds */
	LOCKMODE	awaited;		/* mode it waits for, or NoLock */
	int			waiters;		/* sessions queued behind it */
	int			longest_waiter; /* pid of the one waiting longest */
	TimestampTz oldest_wait;	/* when that one began waiting */
	Oid			relid;			/* the relation it waits for */
	LOCKMODE	mode;			/* the session's strongest mode there */
	int			nblockers;		/* holders it waits for, up to the max */
	int			nblockers_total;	/* all of them */
	int			blockers[MG_MAX_BLOCKERS];
} QueueFacts;

struct LockData;
extern struct LockData *lockstate_snapshot(void);
extern void lockstate_examine(struct LockData *data, int pid, Oid dbid,
							  const Oid *relids, int nrels, TimestampTz now,
							  QueueFacts *facts);
extern int	lockstate_wait_blockers(struct LockData *data, int pid,
									int *blockers, int max);
extern int	lockstate_holders(struct LockData *data, int pid, Oid dbid,
							  Oid relid, LOCKMODE mode, int *holders, int max);
extern Oid	lockstate_strong_lock_elsewhere(struct LockData *data, int pid,
											Oid dbid, const Oid *relids,
											int nrels, bool (*skip) (Oid relid),
											LOCKMODE *mode);

/* ---- views (views.c) ---- */

extern bool migguard_may_see_session_of(Oid viewer, Oid owner);
extern bool migguard_may_signal(Oid signaller, Oid target);
extern Datum migguard_text_or_null(const char *s, bool *isnull);

/* ---- the watcher (watcher.c) ---- */

extern int	migguard_watch_interval_ms;
extern int	migguard_max_queue_wait_ms;
extern int	migguard_max_queue_length;
extern bool migguard_terminate_idle_blockers;
extern int	migguard_idle_blocker_age_ms;

extern void watcher_define_settings(void);
extern void watcher_register(void);
extern void watcher_begin_lookup(void);
extern void watcher_end_lookup(void);
extern void watcher_append_sessions(StringInfo buf, const int *pids, int n,
									Oid viewer, const char *separator);
extern void watcher_cancel_slot(const GuardSlot *slot, const char *reason,
								const char *why);

/* ---- the watcher's look at concurrent index builds (watcher_cic.c) ---- */

extern void watcher_watch_index_build(const GuardSlot *slot,
									  struct LockData *locks, TimestampTz now);
extern void watcher_forget_finished_builds(const GuardSlot *slots, int nslots);
PGDLLEXPORT void migguard_watcher_main(Datum main_arg);

#endif							/* MIGGUARD_H */
