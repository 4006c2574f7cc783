/*
 * abi.c - system calls through the other x86 entry points (tests/security).
 *
 *   abi int80   getpid through `int $0x80` (the i386 compat table)
 *   abi x32     getpid with __X32_SYSCALL_BIT (the x32 table)
 *   abi native  getpid through `syscall` (the benign control)
 *
 * Prints "RESULT <mode> OK <ret>" when the call returned a pid, or
 * "RESULT <mode> ERR <errno>"; a seccomp kill shows as the shell's 159
 * (128 + SIGSYS). A filter that only checks native numbers would let the
 * compat tables through: Docker's profile and libseccomp handle the audit
 * arch for exactly this (cf. CVE-2009-0835, the i386-on-x86_64 seccomp
 * bypass, and the x32 bypass notes in libseccomp).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static long native_getpid(void)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(39L) : "rcx", "r11", "memory");
	return r;
}

static long int80_getpid(void)
{
	long r;
	/* i386 __NR_getpid = 20 */
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
	return r;
}

static long x32_getpid(void)
{
	long r;
	/* x32 numbers are the x86_64 ones with bit 30 set. */
	__asm__ volatile("syscall" : "=a"(r) : "a"(0x40000000L | 39L) : "rcx", "r11", "memory");
	return r;
}

int main(int argc, char **argv)
{
	long r;
	const char *m = argc > 1 ? argv[1] : "native";

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(m, "int80"))
		r = int80_getpid();
	else if (!strcmp(m, "x32"))
		r = x32_getpid();
	else
		r = native_getpid();
	if (r < 0 && r > -4096)
		printf("RESULT %s ERR %ld %s\n", m, -r, strerror((int)-r));
	else
		printf("RESULT %s OK %ld\n", m, r);
	return 0;
}
