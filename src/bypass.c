/*-------------------------------------------------------------------------
 *
 * bypass.c
 *		migguard.allow and migguard.allow_role: who may accept a rule's
 *		violation, and for how long.
 *
 * A bypass lasts at most the transaction that set it, and is judged for
 * the role that set it.  The check hook of migguard.allow records both in
 * the setting's *extra*: the role that ran SET (the current user at that
 * moment) and the local transaction id it ran in.  PostgreSQL saves and
 * restores a setting's extra together with its value (at the end of a SET
 * LOCAL's transaction, when a function's SET clause ends, on RESET), which
 * a global written by an assign hook would not be.
 *
 * At use time the bypass is honoured only when it was set in the current
 * transaction, and only when the role that set it is a superuser or a
 * member of migguard.allow_role.  So:
 *	 - a session-level SET (or ALTER ROLE ... SET, PGOPTIONS, the
 *	   configuration file) is ignored in every later transaction, with a
 *	   WARNING that says to use SET LOCAL: behind a transaction-pooling
 *	   PgBouncer the next client on the same server connection inherits
 *	   nothing;
 *	 - a SECURITY DEFINER function never turns its caller's bypass into its
 *	   owner's: the caller's SET LOCAL recorded the caller, and a SET clause
 *	   of the function itself records the owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "rules_int.h"

#include "access/xact.h"
#include "commands/user.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/varlena.h"

/* What a value of migguard.allow means, and who set it when. */
typedef struct AllowExtra
{
	Oid			role;			/* current user at SET time, or InvalidOid */
	LocalTransactionId lxid;	/* transaction it was set in, or invalid */
	int			nallowed;		/* rules named */
	bool		allowed[FLEXIBLE_ARRAY_MEMBER]; /* rules_count() entries */
} AllowExtra;

static char *allow_string = NULL;
static char *allow_role_string = NULL;
static AllowExtra *allow_in_force = NULL;

/* "index_not_concurrent, alter_type_rewrite" */
static bool
check_allow(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *items;
	ListCell   *lc;
	AllowExtra *allow;
	Oid			userid = InvalidOid;
	int			sec_context;

	if (!SplitIdentifierString(raw, ',', &items))
	{
		GUC_check_errdetail("List syntax is invalid.");
		return false;
	}
	allow = (AllowExtra *) mg_guc_malloc(offsetof(AllowExtra, allowed) +
										 rules_count() * sizeof(bool));
	if (allow == NULL)
		return false;
	memset(allow, 0, offsetof(AllowExtra, allowed) + rules_count() * sizeof(bool));
	foreach(lc, items)
	{
		int			i = rules_index((char *) lfirst(lc));

		if (i < 0)
		{
			GUC_check_errdetail("Unknown rule \"%s\".", (char *) lfirst(lc));
			GUC_check_errhint("SELECT name FROM migguard.rules() lists the rules.");
			mg_guc_free(allow);
			return false;
		}
		allow->allowed[i] = true;
		allow->nallowed++;
	}

	/*
	 * Outside a transaction (the configuration file, the startup packet) no
	 * transaction owns the value: it will never be honoured.  GetUserId()
	 * asserts a valid user, which the postmaster has not.
	 */
	GetUserIdAndSecContext(&userid, &sec_context);
	allow->role = userid;
	allow->lxid = (MyProc != NULL && IsTransactionState()) ?
		mg_my_lxid() : InvalidLocalTransactionId;
	*extra = allow;
	return true;
}

static void
assign_allow(const char *newval, void *extra)
{
	allow_in_force = (AllowExtra *) extra;
}

void
bypass_define_settings(void)
{
	DefineCustomStringVariable("migguard.allow",
							   "Rules whose violations the current transaction accepts.",
							   "Honoured only in the transaction that set it (use "
							   "SET LOCAL), and only when the role that set it is "
							   "a superuser or a member of the role named by "
							   "migguard.allow_role; anyone else who breaks an "
							   "allowed rule gets a permission error.",
							   &allow_string,
							   "",
							   PGC_USERSET,
							   GUC_LIST_INPUT,
							   check_allow, assign_allow, NULL);

	DefineCustomStringVariable("migguard.allow_role",
							   "Role whose members may bypass rules with migguard.allow.",
							   "Empty: only superusers may.",
							   &allow_role_string,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
}

/*
 * May this transaction bypass "rule"?  Returns false when the rule is not
 * in migguard.allow, or when migguard.allow was set in an earlier
 * transaction (with a WARNING); raises a permission error when the role
 * that set it may not bypass rules.
 */
bool
rules_bypassed(const char *rule)
{
	int			i = rules_index(rule);
	Oid			allow_role;
	Oid			role;
	char	   *rolename;

	if (i < 0 || allow_in_force == NULL || !allow_in_force->allowed[i])
		return false;

	if (allow_in_force->lxid == InvalidLocalTransactionId ||
		allow_in_force->lxid != mg_my_lxid())
	{
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("%s is ignored because it was not set in the current transaction",
						"migguard.allow"),
				 errdetail("A bypass lasts only for the transaction that sets it, so that a pooled server connection cannot pass it on to the next client."),
				 errhint("Use SET LOCAL %s = '%s' inside the transaction that runs the statement.",
						 "migguard.allow", rule)));
		return false;
	}

	role = allow_in_force->role;
	if (OidIsValid(role) && superuser_arg(role))
		return true;
	allow_role = (allow_role_string && allow_role_string[0]) ?
		get_role_oid(allow_role_string, true) : InvalidOid;
	if (OidIsValid(role) && OidIsValid(allow_role) &&
		is_member_of_role(role, allow_role))
		return true;

	rolename = OidIsValid(role) ? GetUserNameFromId(role, true) : NULL;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to bypass migguard rule \"%s\"", rule),
			 errdetail("%s was set by role \"%s\", which is neither a superuser nor a member of the role named by %s.",
					   "migguard.allow",
					   rolename ? rolename : "?",
					   "migguard.allow_role"),
			 errhint("Ask an administrator to run the statement, or to grant you membership in the role named by %s.",
					 "migguard.allow_role")));
	return false;				/* keep compiler quiet */
}
