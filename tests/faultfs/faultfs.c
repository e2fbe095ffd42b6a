/*
 * An I/O-error injector for the zone fault tests (tests/zone_faults.rs), loaded into `kmipd serve` with
 * LD_PRELOAD. While the file named by FAULTFS_TRIGGER exists, every read, write or fsync (as FAULTFS_OPS lists:
 * "read", "write", "fsync", comma-separated) on a file whose path contains FAULTFS_PATH fails with EIO, as a
 * failing disk answers, or with the error FAULTFS_ERRNO names ("EROFS": a file system the kernel remounted
 * read-only after an error, which a test cannot do to a mount whose files are open for writing; "ENOSPC").
 * Without the trigger file every call goes straight to the C library.
 *
 * Built by the test with `cc -shared -fPIC -o libfaultfs.so faultfs.c -ldl`.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum op { OP_READ, OP_WRITE, OP_FSYNC };

static int fault_errno(void) {
    const char *name = getenv("FAULTFS_ERRNO");
    if (name && strcmp(name, "EROFS") == 0) return EROFS;
    if (name && strcmp(name, "ENOSPC") == 0) return ENOSPC;
    return EIO;
}

static int fault_on(int fd, enum op op) {
    const char *trigger = getenv("FAULTFS_TRIGGER");
    const char *match = getenv("FAULTFS_PATH");
    const char *ops = getenv("FAULTFS_OPS");
    if (!trigger || !match || !ops || !*match) return 0;
    static const char *names[] = {"read", "write", "fsync"};
    if (!strstr(ops, names[op])) return 0;
    if (access(trigger, F_OK) != 0) return 0;
    char link[64];
    char path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = '\0';
    return strstr(path, match) != NULL;
}

#define REAL(name, ret, ...)                                  \
    static ret (*real_##name)(__VA_ARGS__);                   \
    if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name);

ssize_t read(int fd, void *buf, size_t count) {
    REAL(read, ssize_t, int, void *, size_t);
    if (fault_on(fd, OP_READ)) { errno = fault_errno(); return -1; }
    return real_read(fd, buf, count);
}

ssize_t pread(int fd, void *buf, size_t count, off_t offset) {
    REAL(pread, ssize_t, int, void *, size_t, off_t);
    if (fault_on(fd, OP_READ)) { errno = fault_errno(); return -1; }
    return real_pread(fd, buf, count, offset);
}

ssize_t pread64(int fd, void *buf, size_t count, off_t offset) {
    REAL(pread64, ssize_t, int, void *, size_t, off_t);
    if (fault_on(fd, OP_READ)) { errno = fault_errno(); return -1; }
    return real_pread64(fd, buf, count, offset);
}

ssize_t write(int fd, const void *buf, size_t count) {
    REAL(write, ssize_t, int, const void *, size_t);
    if (fault_on(fd, OP_WRITE)) { errno = fault_errno(); return -1; }
    return real_write(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    REAL(pwrite, ssize_t, int, const void *, size_t, off_t);
    if (fault_on(fd, OP_WRITE)) { errno = fault_errno(); return -1; }
    return real_pwrite(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
    REAL(pwrite64, ssize_t, int, const void *, size_t, off_t);
    if (fault_on(fd, OP_WRITE)) { errno = fault_errno(); return -1; }
    return real_pwrite64(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    REAL(writev, ssize_t, int, const struct iovec *, int);
    if (fault_on(fd, OP_WRITE)) { errno = fault_errno(); return -1; }
    return real_writev(fd, iov, iovcnt);
}

int fsync(int fd) {
    REAL(fsync, int, int);
    if (fault_on(fd, OP_FSYNC)) { errno = fault_errno(); return -1; }
    return real_fsync(fd);
}

int fdatasync(int fd) {
    REAL(fdatasync, int, int);
    if (fault_on(fd, OP_FSYNC)) { errno = fault_errno(); return -1; }
    return real_fdatasync(fd);
}
