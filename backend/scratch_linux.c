//go:build cgo

// Reuse of the large blocks that XLA's CPU runtime allocates on every run of
// an executable (its scratch memory): see scratch_linux.go.
//
// The program defines posix_memalign and free, which the dynamic linker then
// binds for every library, the PJRT plugin included (glibc supports this
// interposition of its allocator). Both forward to the C library's own,
// found with dlsym(RTLD_NEXT), except for blocks of at least
// DDPM_SCRATCH_MIN bytes from posix_memalign: those are recorded, and when
// freed are kept (at most DDPM_SCRATCH_KEEP of them, the least recently
// freed handed back first) for a later request of the same size, up to an
// eighth smaller. A kept block goes back to the C library only through
// ddpm_release_scratch or when pushed out by a newer one.

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// glibc serves requests of more than 32 MiB (its largest mmap threshold)
// with a fresh mmap, and unmaps them when freed.
#define DDPM_SCRATCH_MIN ((size_t)32 << 20)
#define DDPM_SCRATCH_SLOTS 8
#define DDPM_SCRATCH_KEEP 2

static int (*libc_posix_memalign)(void **, size_t, size_t);
static void (*libc_free)(void *);
static int disabled; // DDPM_REUSE_SCRATCH=0

// slot_ptr[i] is a recorded block (NULL: free slot); the rest is under mu.
static _Atomic(void *) slot_ptr[DDPM_SCRATCH_SLOTS];
static size_t slot_size[DDPM_SCRATCH_SLOTS];
static int slot_idle[DDPM_SCRATCH_SLOTS];
static unsigned long slot_freed_at[DDPM_SCRATCH_SLOTS], freed_count;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static __thread int resolving;

static int resolve(void) {
	if (libc_free != NULL && libc_posix_memalign != NULL) {
		return 1;
	}
	if (resolving) { // dlsym itself allocating or freeing.
		return 0;
	}
	resolving = 1;
	void *f = dlsym(RTLD_NEXT, "free");
	void *m = dlsym(RTLD_NEXT, "posix_memalign");
	resolving = 0;
	if (f == NULL || m == NULL) {
		return 0;
	}
	libc_posix_memalign = (int (*)(void **, size_t, size_t))m;
	libc_free = (void (*)(void *))f;
	return 1;
}

// A fork while another thread holds mu would leave the child's mu locked
// forever; as glibc does for its own locks, mu is held across fork.
static void lock(void) { pthread_mutex_lock(&mu); }
static void unlock(void) { pthread_mutex_unlock(&mu); }

__attribute__((constructor)) static void ddpm_scratch_init(void) {
	const char *v = getenv("DDPM_REUSE_SCRATCH");
	disabled = v != NULL && strcmp(v, "0") == 0;
	resolve();
	pthread_atfork(lock, unlock, unlock);
}

// keep marks recorded block i idle and returns the block to hand back to
// the C library if more than DDPM_SCRATCH_KEEP are now idle. Holds mu.
static void *keep(int i) {
	slot_idle[i] = 1;
	slot_freed_at[i] = ++freed_count;
	int idle = 0, oldest = -1;
	for (int j = 0; j < DDPM_SCRATCH_SLOTS; j++) {
		if (atomic_load(&slot_ptr[j]) != NULL && slot_idle[j]) {
			idle++;
			if (oldest < 0 || slot_freed_at[j] < slot_freed_at[oldest]) {
				oldest = j;
			}
		}
	}
	if (idle <= DDPM_SCRATCH_KEEP) {
		return NULL;
	}
	void *drop = atomic_load(&slot_ptr[oldest]);
	atomic_store(&slot_ptr[oldest], NULL);
	return drop;
}

void free(void *p) {
	if (p == NULL) {
		return;
	}
	for (int i = 0; i < DDPM_SCRATCH_SLOTS; i++) {
		if (atomic_load_explicit(&slot_ptr[i], memory_order_acquire) != p) {
			continue;
		}
		pthread_mutex_lock(&mu);
		void *drop = NULL;
		int found = atomic_load(&slot_ptr[i]) == p;
		if (found) {
			drop = keep(i);
		}
		pthread_mutex_unlock(&mu);
		if (found) {
			if (drop != NULL) {
				libc_free(drop);
			}
			return;
		}
	}
	if (resolve()) {
		libc_free(p);
	} // Else only a free from within dlsym, before there is a free to call: leaked.
}

int posix_memalign(void **out, size_t align, size_t size) {
	if (!resolve()) {
		return ENOMEM;
	}
	if (disabled || size < DDPM_SCRATCH_MIN) {
		return libc_posix_memalign(out, align, size);
	}
	pthread_mutex_lock(&mu);
	for (int i = 0; i < DDPM_SCRATCH_SLOTS; i++) {
		void *p = atomic_load(&slot_ptr[i]);
		if (p != NULL && slot_idle[i] && slot_size[i] >= size && slot_size[i] - size <= size / 8 &&
		    (uintptr_t)p % align == 0) {
			slot_idle[i] = 0;
			pthread_mutex_unlock(&mu);
			*out = p;
			return 0;
		}
	}
	pthread_mutex_unlock(&mu);
	int err = libc_posix_memalign(out, align, size);
	if (err != 0) {
		return err;
	}
	pthread_mutex_lock(&mu);
	for (int i = 0; i < DDPM_SCRATCH_SLOTS; i++) { // No free slot: not recorded, freed as usual.
		if (atomic_load(&slot_ptr[i]) == NULL) {
			slot_size[i] = size;
			slot_idle[i] = 0;
			atomic_store(&slot_ptr[i], *out);
			break;
		}
	}
	pthread_mutex_unlock(&mu);
	return 0;
}

// ddpm_release_scratch hands every idle kept block back to the C library
// and returns how many bytes that was.
size_t ddpm_release_scratch(void) {
	void *drop[DDPM_SCRATCH_SLOTS];
	size_t n = 0, bytes = 0;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < DDPM_SCRATCH_SLOTS; i++) {
		void *p = atomic_load(&slot_ptr[i]);
		if (p != NULL && slot_idle[i]) {
			drop[n++] = p;
			bytes += slot_size[i];
			atomic_store(&slot_ptr[i], NULL);
		}
	}
	pthread_mutex_unlock(&mu);
	for (size_t i = 0; i < n; i++) {
		libc_free(drop[i]);
	}
	return bytes;
}

// ddpm_scratch_on tells whether large blocks are kept for reuse.
int ddpm_scratch_on(void) { return !disabled && resolve(); }

// ddpm_scratch_idle returns how many kept blocks are idle, and their bytes
// in *bytes.
int ddpm_scratch_idle(size_t *bytes) {
	int n = 0;
	*bytes = 0;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < DDPM_SCRATCH_SLOTS; i++) {
		if (atomic_load(&slot_ptr[i]) != NULL && slot_idle[i]) {
			n++;
			*bytes += slot_size[i];
		}
	}
	pthread_mutex_unlock(&mu);
	return n;
}

// ddpm_scratch_probe allocates a block of the given size with posix_memalign
// and returns it as an integer, for the tests; 0 on failure.
uintptr_t ddpm_scratch_probe(size_t size) {
	void *p;
	if (posix_memalign(&p, 64, size) != 0) {
		return 0;
	}
	return (uintptr_t)p;
}

void ddpm_scratch_free(uintptr_t p) { free((void *)p); }
