/*
 * cmd_setup_claude.c - `mags setup-claude`: install the mags skill for
 * Claude Code into ~/.claude/skills/mags/SKILL.md (skill.c has the text
 * and the rules for an existing copy).
 */
#include "mags/cli.h"

#include <stdlib.h>
#include <string.h>

#include "mags/skill.h"
#include "common/banned.h"

const char cmd_setup_claude_usage[] =
	"Usage: mags setup-claude [--force] [--print]\n"
	"\n"
	"Install the Mags skill for Claude Code (~/.claude/skills/mags/SKILL.md).\n"
	"Then use '/mags <description>' in Claude Code to run scripts in sandboxes.\n"
	"A copy you edited is kept: ours is written beside it as SKILL.md.new.\n"
	"\n"
	"Options:\n"
	"  --force    Replace an edited copy (saved first as SKILL.md.bak)\n"
	"  --print    Print the skill instead of installing it\n";

int cmd_setup_claude(int argc, char **argv)
{
	struct mags_err err = { 0 };
	const char *home = getenv("HOME");
	bool force = false;
	char *path = NULL;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0) {
			force = true;
		} else if (strcmp(argv[i], "--print") == 0) {
			fputs(skill_text, stdout);
			return 0;
		} else {
			return cli_usage_error("setup-claude", "unexpected argument '%s'", argv[i]);
		}
	}
	if (!home || !*home)
		return cli_error("HOME is not set: cannot find ~/.claude");
	r = skill_install(home, force, &path, &err);
	if (r < 0)
		return cli_fail(&err);
	switch (r) {
	case SKILL_INSTALLED:
		cli_ok(stdout, "Mags skill installed: %s", path);
		break;
	case SKILL_UPDATED:
		cli_ok(stdout, "Mags skill updated: %s", path);
		break;
	case SKILL_CURRENT:
		cli_ok(stdout, "Mags skill is already up to date: %s/.claude/skills/mags/SKILL.md",
		       home);
		break;
	case SKILL_KEPT:
		cli_error("%s/.claude/skills/mags/SKILL.md was edited: kept it", home);
		cli_hint(stderr, "The current skill is in %s; merge it, or run 'mags setup-claude --force'.",
			 path);
		free(path);
		return CLI_EXIT_FAIL;
	case SKILL_REPLACED:
		cli_ok(stdout, "Mags skill installed: %s", path);
		cli_hint(stdout, "Your edited copy was saved as %s.bak", path);
		break;
	}
	free(path);
	cli_hint(stdout, "In Claude Code, use '/mags <description>' to run scripts in sandboxes.");
	cli_hint(stdout, "Log in first if you have not: mags login");
	return 0;
}
