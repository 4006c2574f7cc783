/*
 * skill.h - the Claude Code skill that `mags setup-claude` installs:
 * its text, the versions we shipped before, and the install rules that
 * never silently overwrite a copy someone edited.
 */
#ifndef MAGS_CLI_SKILL_H
#define MAGS_CLI_SKILL_H

#include <stdbool.h>

#include "common/err.h"

/* The current skill (SKILL.md). */
extern const char skill_text[];

enum skill_outcome {
	SKILL_INSTALLED,  /* there was none: written */
	SKILL_UPDATED,    /* an older version we shipped: replaced */
	SKILL_CURRENT,    /* already this version: untouched */
	SKILL_KEPT,       /* an edited copy: kept, ours written as SKILL.md.new */
	SKILL_REPLACED,   /* an edited copy with force: saved as SKILL.md.bak,
			   * then replaced */
};

/*
 * Install the skill as <home>/.claude/skills/mags/SKILL.md (directories
 * made 0755; the file written to a temporary name and renamed). *path gets
 * the path written (malloc'd; SKILL.md.new for SKILL_KEPT), NULL for
 * SKILL_CURRENT. Returns the outcome (>= 0) or -errno with err.
 */
int skill_install(const char *home, bool force, char **path,
		  struct mags_err *err);

#endif
