// Linked into the prebuilds only (scripts/prebuild-all.sh), never into a local node-gyp build:
// keeps them loadable on glibc 2.28 although they are built against a newer glibc. The script
// links with --wrap=<symbol> for each symbol below, so every reference to it, including those
// inside the static libstdc++ and libgcc, binds to the __wrap_ version here instead.
// test/prebuild-abi.test.ts checks that no libc symbol newer than GLIBC_2.28 is left.
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// The version each architecture's glibc started with: symbols that moved from libpthread into
// libc in 2.34 still answer to it (in libpthread.so.0 on older hosts, which Node loads).
#if defined(__x86_64__)
#define IPTS_GLIBC_BASE "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define IPTS_GLIBC_BASE "GLIBC_2.17"
#else
#error "no prebuild for this architecture: add its first glibc symbol version"
#endif

#define IPTS_VISIBLE_WRAP extern "C" __attribute__((visibility("hidden")))

extern "C" int ipts_pthread_once_base(pthread_once_t*, void (*)(void));
extern "C" int ipts_pthread_key_create_base(pthread_key_t*, void (*)(void*));
extern "C" int ipts_pthread_create_base(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
extern "C" int ipts_pthread_attr_setstacksize_base(pthread_attr_t*, size_t);
__asm__(".symver ipts_pthread_once_base, pthread_once@" IPTS_GLIBC_BASE);
__asm__(".symver ipts_pthread_key_create_base, __pthread_key_create@" IPTS_GLIBC_BASE);
__asm__(".symver ipts_pthread_create_base, pthread_create@" IPTS_GLIBC_BASE);
__asm__(".symver ipts_pthread_attr_setstacksize_base, pthread_attr_setstacksize@" IPTS_GLIBC_BASE);

// libstdc++'s headers read glibc 2.32's __libc_single_threaded to skip atomic reference counts
// in single-threaded processes. 0 means "may be multi-threaded": always atomic, always correct.
extern "C" {
__attribute__((visibility("hidden"))) char __wrap___libc_single_threaded = 0;
}

// pthread_once / __pthread_key_create (GLIBC_2.34): the same functions at their first version.
IPTS_VISIBLE_WRAP int __wrap_pthread_once(pthread_once_t* once, void (*init)(void)) {
  return ipts_pthread_once_base(once, init);
}
IPTS_VISIBLE_WRAP int __wrap___pthread_key_create(pthread_key_t* key, void (*destructor)(void*)) {
  return ipts_pthread_key_create_base(key, destructor);
}
// pthread_create / pthread_attr_setstacksize (GLIBC_2.34): the spawn binding's thread per child.
IPTS_VISIBLE_WRAP int __wrap_pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
  return ipts_pthread_create_base(thread, attr, start, arg);
}
IPTS_VISIBLE_WRAP int __wrap_pthread_attr_setstacksize(pthread_attr_t* attr, size_t size) {
  return ipts_pthread_attr_setstacksize_base(attr, size);
}

// fstat (GLIBC_2.33; before it a header wrapper around __fxstat): the system call. glibc's
// struct stat is the kernel's on x86-64 and on arm64.
IPTS_VISIBLE_WRAP int __wrap_fstat(int fd, struct stat* st) {
  return static_cast<int>(syscall(SYS_fstat, fd, st));
}

// _dl_find_object (GLIBC_2.35), used by libgcc's unwinder to find a frame's unwind table.
// "Not found" makes a C++ throw inside the addon end in std::terminate, which is what the
// addon's -fno-exceptions build does with one anyway.
IPTS_VISIBLE_WRAP int __wrap__dl_find_object(void*, void*) { return -1; }

// arc4random (GLIBC_2.36), reachable only through std::random_device, which the addon does not
// use: getentropy (GLIBC_2.25) gives the same kind of bytes.
IPTS_VISIBLE_WRAP uint32_t __wrap_arc4random() {
  uint32_t value;
  if (getentropy(&value, sizeof(value)) != 0) abort();
  return value;
}
