/*-------------------------------------------------------------------------
 *
 * watcher_cic.c
 *		The watcher's look at concurrent index builds: cancel one that has
 *		spent longer than migguard.cic_wait_timeout in one of its wait
 *		phases.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "migguard.h"

#include "commands/progress.h"
#include "storage/lock.h"

/* When each build in flight entered its current phase. */
typedef struct CicPhase
{
	int			pid;
	TimestampTz started;		/* identifies the statement */
	int			phase;
	TimestampTz since;
} CicPhase;

#define MAX_WATCHED_BUILDS 64
static CicPhase cic_phases[MAX_WATCHED_BUILDS];
static int	ncic_phases = 0;

static const char *
wait_phase_name(int phase)
{
	switch (phase)
	{
		case PROGRESS_CREATEIDX_PHASE_WAIT_1:
			return "waiting for writers before build";
		case PROGRESS_CREATEIDX_PHASE_WAIT_2:
			return "waiting for writers before validation";
		case PROGRESS_CREATEIDX_PHASE_WAIT_3:
			return "waiting for old snapshots";
		case PROGRESS_CREATEIDX_PHASE_WAIT_4:
			return "waiting for readers before marking dead";
		case PROGRESS_CREATEIDX_PHASE_WAIT_5:
			return "waiting for readers before dropping";
		default:
			return NULL;		/* not a wait phase */
	}
}

/* How long the build in slot has been in its current phase, tracked here. */
static long
phase_age_ms(const GuardSlot *slot, int phase, TimestampTz now)
{
	int			i;

	for (i = 0; i < ncic_phases; i++)
	{
		CicPhase   *p = &cic_phases[i];

		if (p->pid != slot->pid || p->started != slot->started)
			continue;
		if (p->phase != phase)
		{
			p->phase = phase;
			p->since = now;
		}
		return TimestampDifferenceMilliseconds(p->since, now);
	}
	if (ncic_phases < MAX_WATCHED_BUILDS)
	{
		cic_phases[ncic_phases].pid = slot->pid;
		cic_phases[ncic_phases].started = slot->started;
		cic_phases[ncic_phases].phase = phase;
		cic_phases[ncic_phases].since = now;
		ncic_phases++;
	}
	return 0;
}

/* Forget builds no longer in flight. */
void
watcher_forget_finished_builds(const GuardSlot *slots, int nslots)
{
	int			i = 0;

	while (i < ncic_phases)
	{
		bool		alive = false;
		int			j;

		for (j = 0; j < nslots; j++)
			if (slots[j].pid == cic_phases[i].pid &&
				slots[j].started == cic_phases[i].started)
				alive = true;
		if (alive)
			i++;
		else
			cic_phases[i] = cic_phases[--ncic_phases];
	}
}

/*
 * Cancel a concurrent index build that has spent longer than
 * migguard.cic_wait_timeout in one of its wait phases.
 */
void
watcher_watch_index_build(const GuardSlot *slot, LockData *locks, TimestampTz now)
{
	int			phase = sessions_index_build_phase(slot->pid);
	const char *phase_name = wait_phase_name(phase);
	long		age = phase_age_ms(slot, phase, now);
	int			blockers[MG_MAX_BLOCKERS];
	int			nblockers;
	StringInfoData reason;

	if (phase_name == NULL || age <= migguard_cic_wait_timeout_ms)
		return;

	nblockers = lockstate_wait_blockers(locks, slot->pid, blockers, MG_MAX_BLOCKERS);
	watcher_begin_lookup();
	initStringInfo(&reason);
	appendStringInfo(&reason,
					 "It spent %ld ms in phase \"%s\" (migguard.cic_wait_timeout is %d ms)",
					 age, phase_name, migguard_cic_wait_timeout_ms);
	if (nblockers > 0)
	{
		appendStringInfoString(&reason, ", waiting for ");
		watcher_append_sessions(&reason, blockers, nblockers, slot->userid, "; ");
	}
	appendStringInfoChar(&reason, '.');
	watcher_end_lookup();

	watcher_cancel_slot(slot, reason.data,
				"its concurrent index build waited too long");
}

