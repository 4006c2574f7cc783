/*
 * skill.c - the mags skill for Claude Code (see skill.h).
 *
 * Claude Code loads skills from ~/.claude/skills/<name>/SKILL.md: YAML
 * front matter (name, description) and instructions. The text follows the
 * hosted service's mags.md (seeds/000: "always use the CLI", "quote the
 * script in single quotes", `mags new` then `mags ssh`, `mags exec` on a
 * running sandbox) for this self-hosted CLI. Every text we ever shipped
 * stays in skill_versions so an untouched old copy is upgraded in place,
 * while a copy someone edited is left alone.
 */
#include "mags/skill.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

const char skill_text[] =
	"---\n"
	"name: mags\n"
	"description: Run scripts and commands in secure, isolated Linux sandboxes with the mags CLI (self-hosted). Use when the user says /mags, asks to run code in a sandbox or VM, needs a throwaway Linux environment, a persistent workspace, a public URL for a server, or a scheduled (cron) job.\n"
	"---\n"
	"\n"
	"# Mags sandboxes\n"
	"\n"
	"Run scripts on the user's mags server (self-hosted secure Linux sandboxes)\n"
	"with the `mags` CLI. Each sandbox is a Debian system with bash, python3 + pip,\n"
	"nodejs + npm, git, curl, jq, gcc and make; you are root in /root.\n"
	"\n"
	"## Rules\n"
	"\n"
	"1. ALWAYS use the `mags` CLI - never curl or direct API calls.\n"
	"2. ALWAYS quote the script argument in single quotes.\n"
	"3. The CLI handles job submission, waiting and output: `mags run` prints the\n"
	"   script's output and exits with its exit code.\n"
	"4. For multi-line scripts, chain commands with `;` or `&&`, or put them in a\n"
	"   local file and run `mags run ./script.sh`.\n"
	"5. If the user wants a VM to work in, use `mags new <name>` then\n"
	"   `mags ssh <name>`.\n"
	"6. To run a command on an already-running sandbox use\n"
	"   `mags exec <name> '<command>'` instead of starting a new run.\n"
	"7. Credentials come from `mags login` (~/.mags/config.json) or MAGS_API_TOKEN.\n"
	"   If a command says \"not logged in\", ask the user to run `mags login`; never\n"
	"   put tokens in commands.\n"
	"\n"
	"## Commands\n"
	"\n"
	"```bash\n"
	"mags run '<script>'                        # fresh sandbox, output, exit code\n"
	"mags run -e '<script>'                     # ephemeral: no workspace (fastest)\n"
	"mags run -w <ws> '<script>'                # named workspace, kept on the server for a while\n"
	"mags run -w <ws> -p '<script>'             # persistent workspace, sandbox stays up\n"
	"mags run --base <ws> '<script>'            # start from a workspace, changes discarded\n"
	"mags run -f data.csv 'python3 /root/data.csv'   # upload files to /root (repeatable, <= 100 MiB)\n"
	"mags run -w web -p --url --port 8080 'python3 -m http.server 8080'   # public URL\n"
	"mags new <name> [-p]                       # sandbox that stays up for ssh/exec\n"
	"mags exec <name> '<command>'               # run a command in it\n"
	"mags ssh <name>                            # interactive shell (starts it if needed)\n"
	"mags list                                  # recent jobs\n"
	"mags status <name|id>\n"
	"mags logs <name|id> [-f]\n"
	"mags stop <name|id>\n"
	"mags sync <name>                           # save a persistent workspace now\n"
	"mags url <name> [port]                     # public URL for a running sandbox\n"
	"mags set <name> --no-sleep | --sleep       # always-on or auto-sleep\n"
	"mags workspace list | delete <ws>\n"
	"mags cron add --name <n> --schedule '0 * * * *' '<script>'\n"
	"mags cron list | remove <id> | enable <id> | disable <id>\n"
	"```\n"
	"\n"
	"## Choosing a mode\n"
	"\n"
	"- One-off computation: `mags run '...'` (nothing is kept).\n"
	"- Iterating on a project: `mags run -w <project> -p '...'` so files and\n"
	"  installed packages persist; later runs with the same `-w` see them.\n"
	"- A golden image: `mags run -w golden -p 'pip install ...'`, `mags sync golden`,\n"
	"  then `mags run --base golden '...'` for each task.\n"
	"- A long-lived server: `mags run -w app -p --no-sleep --url --port 8080 '...'`.\n"
	"\n"
	"When the user says `/mags <description>`, turn the description into a script\n"
	"and run it with `mags run`, then report the output.\n";

/* Every skill text we shipped, oldest first; the last is skill_text. */
static const char *const skill_versions[] = {
	skill_text,
};

static bool is_shipped(const char *text)
{
	for (size_t i = 0; i < sizeof(skill_versions) / sizeof(skill_versions[0]); i++)
		if (strcmp(text, skill_versions[i]) == 0)
			return true;
	return false;
}

/* Write text to path through path.tmp and a rename. */
static int write_atomic(const char *path, const char *text, struct mags_err *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int r;

	if (fd < 0)
		return err_sys(err, errno, "create '%s'", tmp);
	r = write_full(fd, text, strlen(text));
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return err_sys(err, -r, "write '%s'", tmp);
	}
	if (rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		return err_sys(err, -r, "rename '%s'", tmp);
	}
	return 0;
}

int skill_install(const char *home, bool force, char **path,
		  struct mags_err *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/.claude/skills/mags", home);
	char *file = xasprintf("%s/SKILL.md", dir);
	_cleanup_free_ char *old = NULL;
	ssize_t n;
	int r, outcome;

	*path = NULL;
	r = mkdir_p(dir, 0755);
	if (r < 0) {
		free(file);
		return err_sys(err, -r, "create '%s'", dir);
	}
	n = read_file(file, 1 << 20, &old);
	if (n < 0 && n != -ENOENT) {
		r = err_sys(err, (int)-n, "read '%s'", file);
		free(file);
		return r;
	}
	if (n < 0) {
		outcome = SKILL_INSTALLED;
	} else if (strcmp(old, skill_text) == 0) {
		free(file);
		return SKILL_CURRENT;
	} else if (is_shipped(old)) {
		outcome = SKILL_UPDATED;
	} else if (!force) {
		char *alt = xasprintf("%s.new", file);

		free(file);
		r = write_atomic(alt, skill_text, err);
		if (r < 0) {
			free(alt);
			return r;
		}
		*path = alt;
		return SKILL_KEPT;
	} else {
		_cleanup_free_ char *bak = xasprintf("%s.bak", file);

		r = write_atomic(bak, old, err);
		if (r < 0) {
			free(file);
			return r;
		}
		outcome = SKILL_REPLACED;
	}
	r = write_atomic(file, skill_text, err);
	if (r < 0) {
		free(file);
		return r;
	}
	*path = file;
	return outcome;
}
