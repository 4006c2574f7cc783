/* Unit tests for `mags setup-claude` (src/mags/skill.c) in a temporary
 * HOME: install, no-op when current, keep an edited copy (SKILL.md.new),
 * replace it with force (SKILL.md.bak). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/util.h"
#include "mags/skill.h"

static char home[64];
static char file[160];

static int setup(void **state)
{
	snprintf(home, sizeof(home), "/tmp/mags-skill-XXXXXX");
	assert_non_null(mkdtemp(home));
	snprintf(file, sizeof(file), "%s/.claude/skills/mags/SKILL.md", home);
	return 0;
}

static int teardown(void **state)
{
	rm_rf(home);
	return 0;
}

static char *slurp(const char *path)
{
	char *text = NULL;

	if (read_file(path, 1 << 20, &text) < 0)
		return NULL;
	return text;
}

static void spew(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void installs_into_the_skills_folder(void **state)
{
	struct mags_err err = { 0 };
	char *path = NULL, *text;

	assert_int_equal(skill_install(home, false, &path, &err), SKILL_INSTALLED);
	assert_string_equal(path, file);
	text = slurp(file);
	assert_string_equal(text, skill_text);
	assert_int_equal(strncmp(text, "---\nname: mags\ndescription: ", 28), 0);
	assert_non_null(strstr(text, "mags exec <name> '<command>'"));
	free(text);
	free(path);
	/* Again: nothing to do. */
	assert_int_equal(skill_install(home, false, &path, &err), SKILL_CURRENT);
	assert_null(path);
}

static void an_edited_copy_is_kept(void **state)
{
	struct mags_err err = { 0 };
	char *path = NULL, *text, alt[200];

	assert_int_equal(skill_install(home, false, &path, &err), SKILL_INSTALLED);
	free(path);
	spew(file, "my own notes\n");
	assert_int_equal(skill_install(home, false, &path, &err), SKILL_KEPT);
	snprintf(alt, sizeof(alt), "%s.new", file);
	assert_string_equal(path, alt);
	free(path);
	text = slurp(file);
	assert_string_equal(text, "my own notes\n");
	free(text);
	text = slurp(alt);
	assert_string_equal(text, skill_text);
	free(text);
}

static void force_replaces_and_keeps_a_backup(void **state)
{
	struct mags_err err = { 0 };
	char *path = NULL, *text, bak[200];
	char dir[160];

	snprintf(dir, sizeof(dir), "%s/.claude/skills/mags", home);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	spew(file, "edited\n");
	assert_int_equal(skill_install(home, true, &path, &err), SKILL_REPLACED);
	free(path);
	text = slurp(file);
	assert_string_equal(text, skill_text);
	free(text);
	snprintf(bak, sizeof(bak), "%s.bak", file);
	text = slurp(bak);
	assert_string_equal(text, "edited\n");
	free(text);
}

static void an_unwritable_home_is_an_error(void **state)
{
	struct mags_err err = { 0 };
	char *path = NULL;

	assert_true(skill_install("/proc/nonexistent-home", false, &path, &err) < 0);
	assert_null(path);
	assert_true(err.msg[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(installs_into_the_skills_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(an_edited_copy_is_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(force_replaces_and_keeps_a_backup, setup, teardown),
		cmocka_unit_test(an_unwritable_home_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
