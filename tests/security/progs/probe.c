/*
 * probe.c - attack probes for the hostile-input suite (tests/security).
 *
 * Built by the tests with `cc -static` and placed in the sandbox image at
 * /opt/sec/probe. Each probe tries one thing an attacker would try and
 * prints one line:
 *
 *   RESULT <name> OK                  the attempt worked
 *   RESULT <name> ERR <errno> <text>  the kernel (or the filter) refused
 *   RESULT <name> SIG <signo>         the process was killed (SIGSYS: seccomp)
 *
 * `probe all` runs every probe of the batch list, each in its own forked
 * child (so a probe killed by seccomp does not end the batch). The same
 * binary runs on the host as root for the positive controls: there the
 * probes must reach the kernel (OK, or an errno other than the filter's).
 *
 * Probes never do anything harmful when they succeed on the host: invalid
 * arguments are used where a valid call would change host state (clocks,
 * kexec, reboot), and the *_host variants are chosen for that.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#ifndef __NR_open_tree
#define __NR_open_tree 428
#define __NR_move_mount 429
#define __NR_fsopen 430
#define __NR_fsconfig 431
#define __NR_fsmount 432
#define __NR_fspick 433
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#ifndef __NR_memfd_secret
#define __NR_memfd_secret 447
#endif
#define NR_statmount 457
#define NR_listmount 458
#define NR_open_tree_attr 467

static const char *cur;
static int host; /* run as the positive control on the host */

static int ok(void)
{
	printf("RESULT %s OK\n", cur);
	return 0;
}

static int bad(int e)
{
	printf("RESULT %s ERR %d %s\n", cur, e, strerror(e));
	return 1;
}

/* r < 0 is a failure with errno, anything else success. */
static int rep(long r)
{
	return r < 0 ? bad(errno) : ok();
}

/* Run fn in a forked child and report what the child reports, or the
 * signal that killed it. Used for probes that change the process (new
 * namespaces, chroot, personality). */
static int in_child(int (*fn)(void))
{
	pid_t p;
	int st;

	fflush(stdout);
	p = fork();
	if (p < 0)
		return bad(errno);
	if (p == 0) {
		fn();
		fflush(stdout);
		_exit(0);
	}
	while (waitpid(p, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st))
		printf("RESULT %s SIG %d\n", cur, WTERMSIG(st));
	return 0;
}

/* ---- mounts and namespaces ---------------------------------------------- */

static int p_mount(void)
{
	mkdir("/tmp/secmnt", 0755);
	return rep(mount("none", "/tmp/secmnt", "tmpfs", 0, NULL));
}

static int p_mount_bind(void)
{
	mkdir("/tmp/secmnt2", 0755);
	return rep(mount("/", "/tmp/secmnt2", NULL, MS_BIND | MS_REC, NULL));
}

static int p_mount_cgroup(void)
{
	/* CVE-2022-0492: mount a v1 cgroup hierarchy, write release_agent. */
	mkdir("/tmp/seccg", 0755);
	return rep(mount("cgroup", "/tmp/seccg", "cgroup", 0, "rdma"));
}

static int p_umount(void)
{
	/* Unmounting a mask reveals what it covers (Docker denies umount2). */
	if (host) {
		mkdir("/tmp/secumnt", 0755);
		if (mount("none", "/tmp/secumnt", "tmpfs", 0, NULL) < 0)
			return bad(errno);
		return rep(umount2("/tmp/secumnt", MNT_DETACH));
	}
	return rep(umount2("/proc/kcore", MNT_DETACH));
}

static int p_pivot_root(void)
{
	if (host) /* EINVAL: not a mount point; reached the kernel */
		return rep(syscall(SYS_pivot_root, "/nonexistent-sec", "/nonexistent-sec"));
	return rep(syscall(SYS_pivot_root, "/tmp", "/tmp"));
}

static int p_setns(void)
{
	int fd = open("/proc/self/ns/uts", O_RDONLY);
	if (fd < 0)
		return bad(errno);
	return rep(setns(fd, CLONE_NEWUTS));
}

static int c_unshare_user(void) { return rep(unshare(CLONE_NEWUSER)); }
static int c_unshare_mnt(void) { return rep(unshare(CLONE_NEWUSER | CLONE_NEWNS)); }
static int p_unshare_user(void) { return in_child(c_unshare_user); }
static int p_unshare_mnt(void) { return in_child(c_unshare_mnt); }

static int p_clone_newuser(void)
{
	long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
	if (r == 0)
		_exit(0);
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	return rep(r);
}

static int p_clone3(void)
{
	struct { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal,
		 stack, stack_size, tls; } a;
	long r;

	memset(&a, 0, sizeof(a));
	a.flags = CLONE_NEWUSER;
	a.exit_signal = SIGCHLD;
	r = syscall(__NR_clone3, &a, sizeof(a));
	if (r == 0)
		_exit(0);
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	return rep(r);
}

static int p_fsopen(void) { return rep(syscall(__NR_fsopen, "tmpfs", 0)); }

static int p_fspick(void) { return rep(syscall(__NR_fspick, AT_FDCWD, "/", 0)); }

static int p_open_tree(void)
{
	return rep(syscall(__NR_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC));
}

static int p_open_tree_attr(void)
{
	/* Added in 6.15, after the filter's list: must meet the ENOSYS
	 * catch-all for unknown system calls. */
	return rep(syscall(NR_open_tree_attr, AT_FDCWD, "/", 1 | O_CLOEXEC, NULL, 0));
}

static int p_listmount(void)
{
	/* 6.8: lists every mount id of a namespace. */
	uint64_t req[4] = { 24, 0xffffffffffffffffULL /* LSMT_ROOT */, 0, 0 };
	uint64_t ids[16];
	return rep(syscall(NR_listmount, req, ids, 16, 0));
}

static int p_move_mount(void)
{
	/* With a fd that is not a detached tree: EBADF/EINVAL if it
	 * reaches the kernel, EPERM from the filter. */
	return rep(syscall(__NR_move_mount, -1, "", AT_FDCWD, "/tmp", 4 /* F_EMPTY_PATH */));
}

static int p_mount_setattr(void)
{
	struct { uint64_t set, clr, prop, userns; } a = { 0x1 /* RDONLY */, 0, 0, 0 };
	return rep(syscall(__NR_mount_setattr, -1, "", 0x1000 /* AT_EMPTY_PATH */, &a, sizeof(a)));
}

static int c_chroot_escape(void)
{
	/* The classic chroot breakout (CAP_SYS_CHROOT is in the set):
	 * chroot into a subdirectory, keep the cwd outside, climb, chroot
	 * to ".". It must end at the sandbox's own root. */
	const char *want = getenv("PROBE_HOST_PATH");
	mkdir("/tmp/secjail", 0755);
	if (chroot("/tmp/secjail") < 0)
		return bad(errno);
	for (int i = 0; i < 64; i++)
		if (chdir("..") < 0)
			break;
	if (chroot(".") < 0)
		return bad(errno);
	if (want && access(want, F_OK) == 0)
		return ok();
	if (!want)
		return bad(EINVAL);
	return bad(ENOENT);
}

static int p_chroot_escape(void) { return in_child(c_chroot_escape); }

/* ---- the kernel ------------------------------------------------------- */

static int p_init_module(void)
{
	static char img[64];
	return rep(syscall(SYS_init_module, img, sizeof(img), ""));
}

static int p_finit_module(void)
{
	int fd = open("/dev/null", O_RDONLY);
	return rep(syscall(SYS_finit_module, fd, "", 0));
}

static int p_delete_module(void)
{
	return rep(syscall(SYS_delete_module, "mags_no_such_module", O_NONBLOCK));
}

static int p_kexec_load(void)
{
	/* Invalid flags: EINVAL on the host, EPERM from the filter. */
	return rep(syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xdead0000UL));
}

static int p_kexec_file_load(void)
{
	return rep(syscall(SYS_kexec_file_load, -1, -1, 0UL, "", 0xdead0000UL));
}

static int p_bpf(void)
{
	struct sock_filter dummy;
	struct bpf_insn prog[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr a;

	(void)dummy;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	a.insn_cnt = 2;
	a.insns = (uintptr_t)prog;
	a.license = (uintptr_t)"GPL";
	return rep(syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a)));
}

static int p_perf_event_open(void)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_SOFTWARE;
	a.size = sizeof(a);
	a.config = PERF_COUNT_SW_CPU_CLOCK;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	return rep(syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
}

static int p_userfaultfd(void)
{
	return rep(syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */));
}

static int p_io_uring(void)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	return rep(syscall(425 /* io_uring_setup */, 4, &p));
}

static int p_keyctl(void)
{
	/* Keyrings are not namespaced: the host's session keyring. */
	return rep(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* SESSION */, 0));
}

static int p_add_key(void)
{
	return rep(syscall(SYS_add_key, "user", "mags-sec-probe", "x", 1, -2 /* PROCESS */));
}

static int p_request_key(void)
{
	return rep(syscall(SYS_request_key, "user", "mags-sec-none", NULL, -2));
}

static int p_open_by_handle_at(void)
{
	/* "Shocker" (2014): forge an ext4/overlay handle for inode 2 (the
	 * file system root) and open it, skipping every path check. */
	struct { unsigned int bytes; int type; unsigned char h[8]; } fh;
	int mfd = open("/", O_RDONLY | O_DIRECTORY);

	fh.bytes = 8;
	fh.type = 1; /* FILEID_INO32_GEN */
	memset(fh.h, 0, sizeof(fh.h));
	fh.h[0] = 2;
	return rep(syscall(SYS_open_by_handle_at, mfd, &fh, O_RDONLY));
}

static int p_name_to_handle_at(void)
{
	struct { unsigned int bytes; int type; unsigned char h[128]; } fh;
	int mnt;

	fh.bytes = sizeof(fh.h);
	return rep(syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &fh, &mnt, 0));
}

static int p_syslog(void)
{
	char buf[256];
	return rep(syscall(SYS_syslog, 3 /* READ_ALL */, buf, sizeof(buf)));
}

static int p_iopl(void) { return rep(syscall(SYS_iopl, 3)); }

static int p_ioperm(void) { return rep(syscall(SYS_ioperm, 0x80, 1, 1)); }

static int p_reboot(void)
{
	/* Bad magic: EINVAL when it reaches the kernel. */
	return rep(syscall(SYS_reboot, 0, 0, LINUX_REBOOT_CMD_CAD_OFF, NULL));
}

static int p_swapon(void) { return rep(syscall(SYS_swapon, "/nonexistent-sec", 0)); }

static int p_acct(void) { return rep(syscall(SYS_acct, "/nonexistent-sec")); }

static int p_memfd_secret(void) { return rep(syscall(__NR_memfd_secret, 0)); }

static int p_fanotify(void) { return rep(syscall(SYS_fanotify_init, 0, O_RDONLY)); }

/* ---- clocks ------------------------------------------------------------ */

static int p_settimeofday(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	if (host)
		tv.tv_usec = 2000000; /* EINVAL on the host */
	return rep(settimeofday(&tv, NULL));
}

static int p_clock_settime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (host)
		ts.tv_nsec = 2000000000L;
	return rep(syscall(SYS_clock_settime, CLOCK_REALTIME, &ts));
}

static int p_clock_adjtime(void)
{
	struct timex tx;

	memset(&tx, 0, sizeof(tx)); /* modes 0: a read on the host */
	return rep(syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
}

/* ---- sockets ----------------------------------------------------------- */

static int p_packet(void) { return rep(socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL))); }

static int p_raw(void) { return rep(socket(AF_INET, SOCK_RAW, IPPROTO_RAW)); }

static int p_raw_icmp(void) { return rep(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)); }

static int p_raw6(void) { return rep(socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)); }

static int p_udp(void) { return rep(socket(AF_INET, SOCK_DGRAM, 0)); }

/* ---- processes --------------------------------------------------------- */

static int p_ptrace_init(void) { return rep(ptrace(PTRACE_ATTACH, 1, NULL, NULL)); }

static int p_ptrace_seize_init(void) { return rep(ptrace(PTRACE_SEIZE, 1, NULL, NULL)); }

static int p_ptrace_child(void)
{
	/* Benign variant: ptrace itself works on our own child. */
	pid_t c = fork();
	long r;

	if (c == 0) {
		pause();
		_exit(0);
	}
	r = ptrace(PTRACE_ATTACH, c, NULL, NULL);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	return rep(r);
}

static int p_proc1_mem(void) { return rep(open("/proc/1/mem", O_RDWR)); }

static int p_procself_mem(void) { return rep(open("/proc/self/mem", O_RDWR)); }

static int p_proc1_exe(void)
{
	/* CVE-2019-5736: the runtime's own binary, reachable through the
	 * /proc/<pid>/exe of a runtime process in the sandbox. */
	return rep(open("/proc/1/exe", O_RDONLY));
}

static int p_proc1_exe_path(void) { return rep(open("/proc/1/exe", O_PATH)); }

static int p_proc1_root(void)
{
	char buf[256];
	return rep(readlink("/proc/1/root", buf, sizeof(buf)));
}

static int p_proc1_fd(void)
{
	/* CVE-2024-21626 style: an fd of init (the job log on the host). */
	DIR *d = opendir("/proc/1/fd");
	if (!d)
		return bad(errno);
	closedir(d);
	for (int i = 0; i < 32; i++) {
		char p[64];
		int fd;
		snprintf(p, sizeof(p), "/proc/1/fd/%d", i);
		fd = open(p, O_RDWR | O_APPEND);
		if (fd >= 0)
			return ok();
	}
	return bad(EACCES);
}

static int p_proc1_environ(void)
{
	int fd = open("/proc/1/environ", O_RDONLY);
	char b[16];
	if (fd < 0)
		return bad(errno);
	return rep(read(fd, b, sizeof(b)));
}

static int p_pidfd_getfd(void)
{
	/* pidfd_getfd (5.6) copies another process's fds: init's log fd. */
	long pfd = syscall(__NR_pidfd_open, 1, 0);
	if (pfd < 0)
		return bad(errno);
	for (int i = 0; i < 32; i++)
		if (syscall(__NR_pidfd_getfd, (int)pfd, i, 0) >= 0)
			return ok();
	return bad(errno);
}

static int p_pidfd_getfd_child(void)
{
	/* Benign variant on our own child: proves the probe works. */
	int fds[2];
	pid_t c;
	long pfd, r;

	if (pipe(fds) < 0)
		return bad(errno);
	c = fork();
	if (c == 0) {
		pause();
		_exit(0);
	}
	pfd = syscall(__NR_pidfd_open, c, 0);
	r = pfd < 0 ? -1 : syscall(__NR_pidfd_getfd, (int)pfd, fds[0], 0);
	int e = errno;
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	errno = e;
	return rep(r);
}

static int p_process_vm_readv(void)
{
	char buf[8];
	struct iovec l = { buf, sizeof(buf) }, r = { (void *)0x400000, sizeof(buf) };
	return rep(process_vm_readv(1, &l, 1, &r, 1, 0));
}

static int p_kill_init(void)
{
	/* SIGKILL to pid 1 from inside its namespace is dropped by the
	 * kernel: returns 0 but init lives (checked by the test). */
	if (host) /* never on the host's own init */
		return bad(ENOSYS);
	return rep(kill(1, SIGKILL));
}

/* ---- personality ------------------------------------------------------- */

static int p_pers_noaslr(void) { return rep(personality(ADDR_NO_RANDOMIZE)); }

static int p_pers_rie(void) { return rep(personality(READ_IMPLIES_EXEC)); }

static int p_pers_mmap_page_zero(void) { return rep(personality(MMAP_PAGE_ZERO)); }

static int p_pers_linux(void) { return rep(personality(PER_LINUX)); }

/* ---- devices ----------------------------------------------------------- */

static int dev_node(mode_t type, int maj, int min, const char *path)
{
	unlink(path);
	if (mknod(path, type | 0600, makedev(maj, min)) < 0)
		return bad(errno);
	/* Made: it must at least not open. */
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		int e = errno;
		unlink(path);
		return bad(e);
	}
	char b[1];
	ssize_t n = read(fd, b, 1);
	int e = errno;
	close(fd);
	unlink(path);
	return n < 0 ? bad(e) : ok();
}

static int p_mknod_mem(void) { return dev_node(S_IFCHR, 1, 1, "/tmp/sec-mem"); }

static int p_mknod_kmsg(void) { return dev_node(S_IFCHR, 1, 11, "/tmp/sec-kmsg"); }

static int p_mknod_blk(void)
{
	/* The host's first block device: read its first sector. The host's
	 * positive control may name another (PROBE_BLK=maj:min, a loop device
	 * of its own) where the machine refuses opening its disk even to root. */
	const char *want = getenv("PROBE_BLK");
	FILE *f = want ? NULL : fopen("/proc/partitions", "r");
	int maj = 8, min = 0;
	char line[256];

	if (want && sscanf(want, "%d:%d", &maj, &min) != 2)
		return bad(EINVAL);
	while (f && fgets(line, sizeof(line), f)) {
		int a, b;
		unsigned long long blocks;
		char name[64];
		if (sscanf(line, " %d %d %llu %63s", &a, &b, &blocks, name) == 4) {
			maj = a;
			min = b;
			break;
		}
	}
	if (f)
		fclose(f);
	return dev_node(S_IFBLK, maj, min, "/tmp/sec-blk");
}

static int p_mknod_fifo(void)
{
	unlink("/tmp/sec-fifo");
	return rep(mknod("/tmp/sec-fifo", S_IFIFO | 0600, 0));
}

/* ---- IPC, sockets between sandboxes ----------------------------------- */

#define IPC_KEY 0x4d414753

static int p_ipc_make(void)
{
	int shm = shmget(IPC_KEY, 4096, IPC_CREAT | 0666);
	int msg = msgget(IPC_KEY, IPC_CREAT | 0666);
	int sem = semget(IPC_KEY, 1, IPC_CREAT | 0666);
	if (shm < 0 || msg < 0 || sem < 0)
		return bad(errno);
	return ok();
}

static int p_ipc_shm(void) { return rep(shmget(IPC_KEY, 0, 0)); }
static int p_ipc_msg(void) { return rep(msgget(IPC_KEY, 0)); }
static int p_ipc_sem(void) { return rep(semget(IPC_KEY, 0, 0)); }

static int abstract_addr(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	strncpy(a->sun_path + 1, name, sizeof(a->sun_path) - 2);
	return (int)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
}

/* listen on an abstract unix socket and a loopback port, then sleep */
static int p_listen(int argc, char **argv)
{
	struct sockaddr_un u;
	struct sockaddr_in in = { .sin_family = AF_INET };
	int one = 1, s, t;
	socklen_t ul;

	if (argc < 4)
		return bad(EINVAL);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	ul = (socklen_t)abstract_addr(&u, argv[2]);
	if (s < 0 || bind(s, (struct sockaddr *)&u, ul) < 0 || listen(s, 8) < 0)
		return bad(errno);
	t = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	in.sin_port = htons((uint16_t)atoi(argv[3]));
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (t < 0 || bind(t, (struct sockaddr *)&in, sizeof(in)) < 0 || listen(t, 8) < 0)
		return bad(errno);
	ok();
	fflush(stdout);
	for (;;)
		pause();
}

static int p_conn_abstract(int argc, char **argv)
{
	struct sockaddr_un u;
	socklen_t ul;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	if (argc < 3)
		return bad(EINVAL);
	ul = (socklen_t)abstract_addr(&u, argv[2]);
	return rep(connect(s, (struct sockaddr *)&u, ul));
}

static int p_conn_tcp(int argc, char **argv)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct timeval tv = { 2, 0 };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (argc < 4)
		return bad(EINVAL);
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	in.sin_port = htons((uint16_t)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &in.sin_addr) != 1)
		return bad(EINVAL);
	return rep(connect(s, (struct sockaddr *)&in, sizeof(in)));
}

/* ---- resources ---------------------------------------------------------- */

static int p_inodes(int argc, char **argv)
{
	/* Empty files until the file system (or the memory limit) says no. */
	long max = argc > 2 ? atol(argv[2]) : 3000000;
	long n = 0;
	char p[64];

	mkdir("/tmp/inodes", 0755);
	for (; n < max; n++) {
		snprintf(p, sizeof(p), "/tmp/inodes/%ld", n);
		int fd = open(p, O_CREAT | O_WRONLY, 0644);
		if (fd < 0) {
			printf("RESULT inodes ERR %d %s after %ld\n", errno, strerror(errno), n);
			return 1;
		}
		close(fd);
		if (n % 50000 == 0)
			printf("FILES %ld\n", n);
	}
	printf("RESULT inodes OK %ld\n", n);
	return 0;
}

static int p_membomb(void)
{
	for (size_t total = 0;; total += 64 << 20) {
		char *p = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return bad(errno);
		memset(p, 1, 64 << 20);
		printf("MB %zu\n", (total >> 20) + 64);
		fflush(stdout);
	}
}

static int p_forkbomb(void)
{
	for (;;)
		fork();
}

static void *spin(void *a)
{
	(void)a;
	for (;;)
		pause();
	return NULL;
}

static int p_threads(int argc, char **argv)
{
	/* Some threads, then sleep: the test checks every thread's status
	 * from the host. */
	int n = argc > 2 ? atoi(argv[2]) : 4;
	for (int i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, spin, NULL) != 0)
			return bad(EAGAIN);
	}
	ok();
	fflush(stdout);
	for (;;)
		pause();
}

/* ---- table -------------------------------------------------------------- */

struct probe {
	const char *name;
	int (*fn)(void);
	int batch; /* part of `probe all` */
};

static const struct probe probes[] = {
	{ "mount", p_mount, 1 },
	{ "mount_bind", p_mount_bind, 1 },
	{ "mount_cgroup", p_mount_cgroup, 1 },
	{ "umount", p_umount, 1 },
	{ "pivot_root", p_pivot_root, 1 },
	{ "setns", p_setns, 1 },
	{ "unshare_user", p_unshare_user, 1 },
	{ "unshare_mnt", p_unshare_mnt, 1 },
	{ "clone_newuser", p_clone_newuser, 1 },
	{ "clone3", p_clone3, 1 },
	{ "fsopen", p_fsopen, 1 },
	{ "fspick", p_fspick, 1 },
	{ "open_tree", p_open_tree, 1 },
	{ "open_tree_attr", p_open_tree_attr, 1 },
	{ "listmount", p_listmount, 1 },
	{ "move_mount", p_move_mount, 1 },
	{ "mount_setattr", p_mount_setattr, 1 },
	{ "chroot_escape", p_chroot_escape, 1 },
	{ "init_module", p_init_module, 1 },
	{ "finit_module", p_finit_module, 1 },
	{ "delete_module", p_delete_module, 1 },
	{ "kexec_load", p_kexec_load, 1 },
	{ "kexec_file_load", p_kexec_file_load, 1 },
	{ "bpf", p_bpf, 1 },
	{ "perf_event_open", p_perf_event_open, 1 },
	{ "userfaultfd", p_userfaultfd, 1 },
	{ "io_uring_setup", p_io_uring, 1 },
	{ "keyctl", p_keyctl, 1 },
	{ "add_key", p_add_key, 1 },
	{ "request_key", p_request_key, 1 },
	{ "open_by_handle_at", p_open_by_handle_at, 1 },
	{ "name_to_handle_at", p_name_to_handle_at, 1 },
	{ "syslog", p_syslog, 1 },
	{ "iopl", p_iopl, 1 },
	{ "ioperm", p_ioperm, 1 },
	{ "reboot", p_reboot, 1 },
	{ "swapon", p_swapon, 1 },
	{ "acct", p_acct, 1 },
	{ "memfd_secret", p_memfd_secret, 1 },
	{ "fanotify_init", p_fanotify, 1 },
	{ "settimeofday", p_settimeofday, 1 },
	{ "clock_settime", p_clock_settime, 1 },
	{ "clock_adjtime", p_clock_adjtime, 1 },
	{ "packet_socket", p_packet, 1 },
	{ "raw_socket", p_raw, 1 },
	{ "raw_icmp_socket", p_raw_icmp, 1 },
	{ "raw6_socket", p_raw6, 1 },
	{ "udp_socket", p_udp, 1 },
	{ "ptrace_init", p_ptrace_init, 1 },
	{ "ptrace_seize_init", p_ptrace_seize_init, 1 },
	{ "ptrace_child", p_ptrace_child, 1 },
	{ "proc1_mem", p_proc1_mem, 1 },
	{ "procself_mem", p_procself_mem, 1 },
	{ "proc1_exe", p_proc1_exe, 1 },
	{ "proc1_exe_path", p_proc1_exe_path, 1 },
	{ "proc1_root", p_proc1_root, 1 },
	{ "proc1_fd", p_proc1_fd, 1 },
	{ "proc1_environ", p_proc1_environ, 1 },
	{ "pidfd_getfd_init", p_pidfd_getfd, 1 },
	{ "pidfd_getfd_child", p_pidfd_getfd_child, 1 },
	{ "process_vm_readv_init", p_process_vm_readv, 1 },
	{ "kill_init", p_kill_init, 1 },
	{ "personality_no_aslr", p_pers_noaslr, 1 },
	{ "personality_read_implies_exec", p_pers_rie, 1 },
	{ "personality_mmap_page_zero", p_pers_mmap_page_zero, 1 },
	{ "personality_linux", p_pers_linux, 1 },
	{ "mknod_mem", p_mknod_mem, 1 },
	{ "mknod_kmsg", p_mknod_kmsg, 1 },
	{ "mknod_blk", p_mknod_blk, 1 },
	{ "mknod_fifo", p_mknod_fifo, 1 },
	{ "ipc_make", p_ipc_make, 0 },
	{ "ipc_shm", p_ipc_shm, 0 },
	{ "ipc_msg", p_ipc_msg, 0 },
	{ "ipc_sem", p_ipc_sem, 0 },
	{ "membomb", p_membomb, 0 },
	{ "forkbomb", p_forkbomb, 0 },
};

static const struct {
	const char *name;
	int (*fn)(int, char **);
} probes_argv[] = {
	{ "listen", p_listen },
	{ "conn_abstract", p_conn_abstract },
	{ "conn_tcp", p_conn_tcp },
	{ "inodes", p_inodes },
	{ "threads", p_threads },
};

static int run_one(const struct probe *p)
{
	pid_t c;
	int st;

	cur = p->name;
	fflush(stdout);
	c = fork();
	if (c < 0)
		return bad(errno);
	if (c == 0) {
		p->fn();
		fflush(stdout);
		_exit(0);
	}
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st))
		printf("RESULT %s SIG %d\n", p->name, WTERMSIG(st));
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	host = getenv("PROBE_HOST") != NULL;
	if (argc < 2) {
		fprintf(stderr, "usage: probe all|NAME [args]\n");
		return 2;
	}
	if (!strcmp(argv[1], "all")) {
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
			if (probes[i].batch)
				run_one(&probes[i]);
		printf("RESULT done OK\n");
		return 0;
	}
	for (size_t i = 0; i < sizeof(probes_argv) / sizeof(probes_argv[0]); i++)
		if (!strcmp(argv[1], probes_argv[i].name)) {
			cur = probes_argv[i].name;
			return probes_argv[i].fn(argc, argv);
		}
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		if (!strcmp(argv[1], probes[i].name)) {
			cur = probes[i].name;
			return probes[i].fn();
		}
	fprintf(stderr, "probe: unknown %s\n", argv[1]);
	return 2;
}
