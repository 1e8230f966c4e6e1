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
extern void relfacts_remember(void);
extern void relfacts_forget(void);
extern char *relfacts_format_size(int64 bytes);
extern char *relfacts_relation_name(Oid relid);
extern bool relfacts_exempt(const RelFacts *facts);

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

extern void rules_define_settings(void);
extern List *rules_check_statement(Node *parsetree, const char *stmt_text);
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
	MG_NUM_COUNTERS
} MigguardCounter;

#define MG_EVENT_ACTION_LEN		16
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
	MG_GUARD_DDL,
	MG_GUARD_CIC
} GuardKind;

typedef struct GuardSlot
{
	int			pid;			/* 0 when the slot is free */
	Oid			dbid;
	Oid			userid;
	GuardKind	kind;
	LOCKMODE	lockmode;
	int			nrels;
	Oid			relids[MG_MAX_GUARD_RELS];
	TimestampTz started;
	char		relation[MG_EVENT_RELATION_LEN];	/* the first relation's name */
	char		statement[MG_STATEMENT_LEN];
	bool		cancel_requested;	/* set by the watcher before it signals */
	char		cancel_reason[MG_DETAIL_LEN];
} GuardSlot;

extern void registry_guard_begin(GuardKind kind, const Oid *relids, int nrels,
								 LOCKMODE lockmode, const char *relation,
								 const char *statement);
extern bool registry_guard_end(char *cancel_reason, Size len);
extern int	registry_copy_guards(GuardSlot **slots);
extern bool registry_request_cancel(int pid, TimestampTz started,
									const char *reason);
extern void registry_absorb_cancel(void);

extern void registry_add_event(const char *action, const char *rule,
							   const char *relation, const char *statement,
							   const char *detail);
extern void registry_add_event_for(int pid, Oid dbid, Oid userid,
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
extern void guard_process_utility(const GuardTarget *target,
								  const char *stmt_text,
								  MG_PROCESS_UTILITY_ARGS);

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
PGDLLEXPORT void migguard_cleanup_main(Datum main_arg);

/* ---- other sessions, as pg_stat_activity shows them (sessions.c) ---- */

extern void sessions_refresh(void);
extern bool sessions_describe(int pid, Oid viewer, StringInfo buf);
extern bool sessions_idle_in_transaction(int pid, Oid dbid, int min_age_ms);
extern int	sessions_index_build_phase(int pid);
extern char *sessions_query(int pid, Oid viewer);

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
	int			nblockers;		/* holders it waits for */
	int			blockers[MG_MAX_BLOCKERS];
} QueueFacts;

struct LockData;
extern struct LockData *lockstate_snapshot(void);
extern void lockstate_examine(struct LockData *data, int pid, Oid dbid,
							  const Oid *relids, int nrels, TimestampTz now,
							  QueueFacts *facts);
extern int	lockstate_wait_blockers(struct LockData *data, int pid,
									int *blockers, int max);

/* ---- views (views.c) ---- */

extern bool migguard_may_see_session_of(Oid viewer, Oid owner);
extern Datum migguard_text_or_null(const char *s, bool *isnull);

/* ---- the watcher (watcher.c) ---- */

extern int	migguard_watch_interval_ms;
extern int	migguard_max_queue_wait_ms;
extern int	migguard_max_queue_length;
extern bool migguard_terminate_idle_blockers;
extern int	migguard_idle_blocker_age_ms;

extern void watcher_define_settings(void);
extern void watcher_register(void);
PGDLLEXPORT void migguard_watcher_main(Datum main_arg);

#endif							/* MIGGUARD_H */
